"""The API's JSON renderer (orjson) writes what DRF's renderer writes."""

import json
import uuid
from datetime import UTC, datetime
from decimal import Decimal

from django.utils.translation import gettext_lazy
from hypothesis import given
from hypothesis import strategies as st
from rest_framework.exceptions import ErrorDetail
from rest_framework.renderers import JSONRenderer

from config.api.renderers import ApiJSONRenderer

SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()  # beyond 64 bits too
    | st.text()  # U+2028/U+2029 and every other character
    | st.datetimes(timezones=st.just(UTC))
    | st.uuids()
    | st.text().map(lambda t: ErrorDetail(t, "invalid"))
)
DATA = st.recursive(
    SCALARS,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.text(), children, max_size=4)
        | st.dictionaries(st.integers(), children, min_size=1, max_size=2)
    ),
    max_leaves=20,
)


@given(DATA)
def test_the_same_bytes_as_drfs_renderer(data):
    assert ApiJSONRenderer().render(data) == JSONRenderer().render(data)


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_floats_are_the_same_numbers(number):
    assert json.loads(ApiJSONRenderer().render({"x": number})) == {"x": number}


def test_lazy_text_decimals_and_an_indent_are_written_as_drf_writes_them():
    data = {
        "detail": gettext_lazy("Not found."),
        "amount": Decimal("1.10"),
        "at": datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC),
        "id": uuid.UUID(int=1),
        "line": "a\u2028b\u2029c",
    }
    assert ApiJSONRenderer().render(data) == JSONRenderer().render(data)
    assert b"\\u2028" in ApiJSONRenderer().render(data)
    indented = ApiJSONRenderer().render(data, "application/json; indent=2", {})
    assert indented == JSONRenderer().render(data, "application/json; indent=2", {})
    assert ApiJSONRenderer().render(None) == b""
