"""Whom an event names: the API token, the signed-in user, a command's --user, or the system."""

import base64

import pytest
from django.core.management import call_command
from django.db import transaction
from rest_framework.test import APIClient

from config.commands import ProjectCommand
from config.context import SYSTEM, acting_as, actor_for_user, current_actor
from config.events.models import Event
from config.events.services import event_record
from tests.conftest import make_client
from tests.factories import UserFactory

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.events.urls")]


def test_an_api_token_is_the_actor_and_the_request_id_is_kept():
    client = make_client(username="integrator")
    token = client.user.api_tokens.get()
    response = client.post("/record", {}, format="json", HTTP_X_REQUEST_ID="req-42")
    assert response.status_code == 200, response.content
    assert response.json() == {
        "actor": ["token", str(token.pk), "integrator"],
        "request_id": "req-42",
    }


def test_basic_auth_names_the_user():
    user = UserFactory(username="ada")
    user.set_password("s3cret-pass-phrase")
    user.save()
    client = APIClient()
    credentials = base64.b64encode(b"ada:s3cret-pass-phrase").decode()
    client.credentials(HTTP_AUTHORIZATION=f"Basic {credentials}")
    response = client.post("/record", {}, format="json")
    assert response.json()["actor"] == ["user", str(user.pk), "ada"]
    # a request id is made up when the client sends none
    assert len(response.json()["request_id"]) == 32


def test_a_session_user_is_the_actor_of_a_plain_view(client):
    user = UserFactory(username="backoffice")
    client.force_login(user)
    response = client.get("/plain")
    assert response.json()["actor"] == ["user", str(user.pk), "backoffice"]


def test_an_anonymous_request_records_the_system(client):
    assert client.get("/plain").json()["actor"] == ["system", "", "system"]


def test_the_context_ends_with_the_request(client):
    client.get("/plain")
    assert current_actor() == SYSTEM


class RecordCommand(ProjectCommand):
    def add_arguments(self, parser):
        parser.add_argument("--user")

    def handle(self, *args, **options):
        with transaction.atomic():
            event_record(type="tag.created")


@pytest.mark.parametrize(
    ("args", "expected"),
    [([], ("system", "system")), (["--user", "ops"], ("user", "ops"))],
)
def test_a_command_acts_as_the_system_or_its_user(args, expected):
    ops = UserFactory(username="ops")
    call_command(RecordCommand(), *args)
    event = Event.objects.get()
    kind, username = expected
    assert (event.actor_type, event.actor_username) == (kind, username)
    assert event.actor_id == (str(ops.pk) if kind == "user" else "")


def test_acting_as_nests_and_restores():
    ops = UserFactory(username="ops")
    with acting_as(actor_for_user(ops)):
        assert current_actor().username == "ops"
        with acting_as(SYSTEM):
            assert current_actor() == SYSTEM
        assert current_actor().username == "ops"
    assert current_actor() == SYSTEM


class RecordForCommand(ProjectCommand):
    """Like ``issue_token USER``: the user is whom the command is about, not who acts."""

    def add_arguments(self, parser):
        parser.add_argument("user")

    def handle(self, *args, **options):
        with transaction.atomic():
            event_record(type="tag.created")


def test_a_command_s_user_argument_is_not_its_actor():
    UserFactory(username="ops")
    call_command(RecordForCommand(), "ops")
    assert Event.objects.get().actor_type == "system"


def test_a_command_looks_its_user_up_only_when_it_records_something(django_assert_num_queries):
    UserFactory(username="ops")

    class Quiet(RecordCommand):
        def handle(self, *args, **options):
            pass

    with django_assert_num_queries(0):
        call_command(Quiet(), "--user", "ops")
