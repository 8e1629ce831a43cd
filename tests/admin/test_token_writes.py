"""The API token admin issues, revokes and deletes through config.api.services."""

import re

import pytest

from config.api.models import ApiToken
from config.api.services import token_authenticate, token_issue
from tests.admin.pages import bulk_delete, deletions_logged, messages_of, url_of
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_adding_a_token_issues_it_through_the_service_and_shows_the_secret_once(boss):
    owner = UserFactory(username="integration")

    response = boss.post(url_of(ApiToken, "add"), {"user": owner.pk, "name": "shop"})

    assert response.status_code == 302
    token = ApiToken.objects.get()
    (level, text), *_ = messages_of(response)
    raw = re.fullmatch(r"Copy this token now, it will not be shown again: (\S+)", text)[1]
    assert level == "warning"
    assert token_authenticate(raw=raw) == token  # the secret shown is the one issued
    assert (token.user, token.name, token.hint) == (owner, "shop", raw[:8])
    assert raw not in {token.digest, token.hint}


def test_an_issued_token_cannot_be_changed(boss):
    token, _ = token_issue(user=UserFactory(), name="shop")
    response = boss.post(url_of(ApiToken, token.pk, "change"), {"name": "renamed"})
    assert response.status_code == 403
    token.refresh_from_db()
    assert token.name == "shop"


def test_deleting_a_token_goes_through_the_service(boss):
    token, raw = token_issue(user=UserFactory())
    response = boss.post(url_of(ApiToken, token.pk, "delete"), {"post": "yes"})
    assert response.status_code == 302
    assert not ApiToken.objects.exists()
    assert token_authenticate(raw=raw) is None
    assert deletions_logged(ApiToken) == {str(token.pk)}


def test_delete_selected_deletes_each_token_through_the_service(boss):
    tokens = [token_issue(user=UserFactory())[0] for _ in range(2)]
    kept, _ = token_issue(user=UserFactory())
    response = bulk_delete(boss, ApiToken, tokens)
    assert list(ApiToken.objects.all()) == [kept]
    assert deletions_logged(ApiToken) == {str(t.pk) for t in tokens}
    assert messages_of(response) == [("success", "Successfully deleted 2 API tokens.")]


def test_revoke_keeps_the_token_for_the_record_but_it_no_longer_signs_in(boss):
    token, raw = token_issue(user=UserFactory())
    response = boss.post(url_of(ApiToken), {"action": "revoke", "_selected_action": [token.pk]})
    assert messages_of(response) == [("success", "Revoked 1 token(s).")]
    token.refresh_from_db()
    assert token.revoked_at is not None
    assert token_authenticate(raw=raw) is None
