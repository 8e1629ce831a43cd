import pytest
from django.contrib import admin


@pytest.fixture(autouse=True)
def _no_request_state_on_the_admins():
    """One instance of each model admin serves every request, in every thread of the server:
    whatever a request leaves on it, another request can read. No admin test may leave any."""
    before = {model: set(vars(ma)) for model, ma in admin.site._registry.items()}
    yield
    after = {model: set(vars(ma)) for model, ma in admin.site._registry.items()}
    assert after == before
