"""Bulk tag changes (bulk_tag, retag): the reason on tags they create, the tag limit only for
what they add, and the progress the command shows."""

import io
import sys

import pytest
from django.core.management import call_command

from tags.management.commands import retag as retag_command
from tags.models import Tag, TagAssignment
from tests.factories import CustomerFactory, TagAssignmentFactory, TagFactory

pytestmark = pytest.mark.django_db


def test_bulk_tag_records_its_reason_on_the_tags_it_creates(tagger):
    customers = CustomerFactory.create_batch(2)
    response = tagger.post(
        "/api/v1/customers/bulk_tag",
        {"customer_ids": [c.id for c in customers], "tags_to_add": ["Spring"], "reason": "Q2"},
        format="json",
    )
    assert response.status_code == 200, response.json()
    record = Tag.objects.get(name="Spring").history.get()
    assert (record.history_type, record.history_user, record.history_change_reason) == (
        "+",
        tagger.user,
        "Q2",
    )


def test_retag_records_its_reason_on_the_tags_it_creates():
    CustomerFactory()
    call_command(
        "retag", "--all", "--add", "spring", "--reason", "Q2 cleanup", stdout=io.StringIO()
    )
    record = Tag.objects.get(name="spring").history.get()
    assert (record.history_user, record.history_change_reason) == (None, "Q2 cleanup")


def test_adding_a_tag_already_held_is_not_refused_for_a_customer_over_a_lowered_limit(
    tagger, settings
):
    # given a customer holding three tags, and the limit lowered to two since
    customer = CustomerFactory()
    for name in ("a", "b", "c"):
        TagAssignmentFactory(customer=customer, tag=TagFactory(name=name))
    settings.MAX_TAGS_PER_CUSTOMER = 2
    # when a bulk change adds a tag it already holds (nothing is added)
    response = tagger.post(
        "/api/v1/customers/bulk_tag",
        {"customer_ids": [customer.id], "tags_to_add": ["a"]},
        format="json",
    )
    # then there is nothing to refuse
    assert response.status_code == 200, response.json()
    assert response.json()["tags_added"] == 0
    # while adding a new one is refused
    refused = tagger.post(
        "/api/v1/customers/bulk_tag",
        {"customer_ids": [customer.id], "tags_to_add": ["d"]},
        format="json",
    )
    assert refused.status_code == 400
    assert refused.json()["errors"][0]["code"] == "too_many_tags"
    assert TagAssignment.objects.filter(customer=customer).count() == 3


def test_retag_prints_a_progress_line_per_batch_when_not_on_a_terminal(monkeypatch):
    CustomerFactory.create_batch(3)
    monkeypatch.setattr(retag_command, "PLAIN_PROGRESS_EVERY", 0)
    err = io.StringIO()
    call_command(
        "retag", "--all", "--add", "vip", "--batch-size", "2", stdout=io.StringIO(), stderr=err
    )
    assert err.getvalue().splitlines() == ["... 2 customers, +2 -0", "... 3 customers, +3 -0"]


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_retag_on_a_terminal_shows_a_bar_counting_customers(monkeypatch):
    CustomerFactory.create_batch(3)
    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    call_command("retag", "--all", "--add", "vip", "--batch-size", "2", stdout=io.StringIO())
    assert "3/3" in terminal.getvalue()
    assert TagAssignment.objects.filter(tag__name="vip").count() == 3
