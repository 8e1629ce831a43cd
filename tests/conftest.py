import os

import pytest
from rest_framework.test import APIClient

from config.api.services import token_issue
from tests.admin.pages import signed_in
from tests.factories import UserFactory

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # live_server + sync Playwright


@pytest.fixture(autouse=True)
def _no_throttle(settings):
    """The request throttle and the sign-in brake have their own tests (tests/api/test_auth.py,
    tests/security/); elsewhere, e.g. the fuzzer's many invalid credentials, they stay out of
    the way."""
    settings.API_THROTTLE_RATE = None
    settings.AUTH_FAILURES_PER_ADDRESS = settings.AUTH_FAILURES_PER_USERNAME = 1_000_000


@pytest.fixture(autouse=True)
def _fresh_segment_rules(settings):
    """Tests roll back instead of committing, so on-commit invalidation never runs: check the
    segment rules' version on every read instead, from an empty cache."""
    from segments.selectors import active_segments_invalidate

    settings.SEGMENT_RULES_RECHECK_SECONDS = 0
    active_segments_invalidate()


@pytest.fixture(autouse=True)
def _empty_cache():
    """Lists the admin caches briefly (the tag filter's most used tags) start empty."""
    from django.core.cache import cache

    cache.clear()


RUN_STEPS_MAX = 1_000  # far more batches than any test's change-set run takes


@pytest.fixture(autouse=True)
def _runs_end(monkeypatch):
    """A change-set run goes batch by batch until a step says nothing is left: a run whose
    steps never say so fails its test after RUN_STEPS_MAX steps (the run ends failed, or the
    revert in the request raises) instead of hanging the suite."""
    from tags.services import change_sets

    real = change_sets.atomic_with_retries
    taken = 0

    def counted(fn, **kwargs):
        nonlocal taken
        taken += 1
        if taken > RUN_STEPS_MAX:
            raise RuntimeError(f"a change-set run took more than {RUN_STEPS_MAX} steps")
        return real(fn, **kwargs)

    monkeypatch.setattr(change_sets, "atomic_with_retries", counted)


def make_client(*perms: str, username: str | None = None) -> APIClient:
    """An API client whose Bearer token belongs to a user holding exactly ``perms``."""
    user = UserFactory(perms=list(perms), **({"username": username} if username else {}))
    _, raw = token_issue(user=user)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    client.user = user
    client.raw_token = raw
    return client


@pytest.fixture
def client_with():
    return make_client


ALL_CUSTOMER_PERMS = (
    "customers.view_customer",
    "customers.add_customer",
    "customers.change_customer",
    "customers.delete_customer",
)


@pytest.fixture
def api(db):
    """A client allowed to do everything on customers."""
    return make_client(*ALL_CUSTOMER_PERMS)


ALL_TAG_PERMS = (
    "tags.view_tag",
    "tags.add_tag",
    "tags.change_tag",
    "tags.delete_tag",
    "tags.restore_tag",
)


@pytest.fixture
def tag_api(db):
    """A client allowed to do everything on tags through the API."""
    return make_client(*ALL_TAG_PERMS)


@pytest.fixture
def tagger(db):
    """An integrator allowed to read customers and tag them, creating the tags it names and
    seeing the segments the customer lands in."""
    return make_client(
        "customers.view_customer", "customers.tag_customer", "tags.view_tag", "tags.add_tag",
        "segments.view_segment",
    )  # fmt: skip


@pytest.fixture
def boss(db):
    """A staff superuser signed in to the admin (``boss.user``)."""
    return signed_in(username="boss", is_staff=True, is_superuser=True)
