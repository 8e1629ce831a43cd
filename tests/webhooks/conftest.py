import pytest

# The job tests' fixtures: the configured backend with its queue emptied before and after, and
# a database the test shares with real worker processes.
from tests.jobs.conftest import backend, shared_database
from tests.webhooks.receiver import Receiver

__all__ = ["backend", "shared_database"]


@pytest.fixture
def receiver():
    with Receiver() as running:
        yield running
