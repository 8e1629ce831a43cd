"""ULIDs as text and as stored UUIDs: the project's own conversions agree with python-ulid."""

import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st
from ulid import ULID

from config.fields import parse_ulid, ulid_to_uuid, uuid_to_ulid

CROCKFORD = "0123456789abcdefghjkmnpqrstvwxyzABCDEFGHJKMNPQRSTVWXYZ"


def reference_parse(value: str) -> str | None:
    try:
        return str(ULID.from_str(value.upper())).lower()
    except ValueError:
        return None


@given(st.integers(min_value=0, max_value=2**128 - 1))
def test_uuid_and_ulid_text_round_trip_as_python_ulid_writes_them(number):
    # given
    stored = uuid.UUID(int=number)
    # when
    text = uuid_to_ulid(stored)
    # then
    assert text == str(ULID.from_uuid(stored)).lower()
    assert ulid_to_uuid(text) == ulid_to_uuid(text.upper()) == stored
    assert parse_ulid(text.upper()) == text


@given(
    st.one_of(
        st.text(alphabet=CROCKFORD, min_size=26, max_size=26),
        st.text(min_size=24, max_size=28),
        st.text(alphabet=CROCKFORD + "ILOUilou -", min_size=25, max_size=27),
    )
)
def test_parse_ulid_accepts_and_refuses_what_python_ulid_does(text):
    assert parse_ulid(text) == reference_parse(text)


@pytest.mark.parametrize("text", ["8" + "0" * 25, "0" * 25 + "u", "0" * 25, ""])
def test_ulid_to_uuid_refuses_what_is_not_a_ulid(text):
    with pytest.raises(ValueError, match="Not a ULID"):
        ulid_to_uuid(text)
