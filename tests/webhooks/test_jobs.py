"""The webhook jobs on the configured backend: the periodic dispatch fans events out and wakes
their deliveries; a worker sends them."""

import pytest
from standardwebhooks.webhooks import Webhook

from config.edge.tasks import PERIODIC
from config.events.services import EventDraft
from config.fields import new_ulid
from config.jobs import jobs_queued
from config.webhooks import tasks
from config.webhooks.models import WebhookDelivery
from config.webhooks.tasks import webhooks_dispatch
from tests.events.conftest import commit_events
from tests.jobs.conftest import drain
from tests.webhooks.helpers import endpoint_for

pytestmark = [pytest.mark.jobs, pytest.mark.django_db(transaction=True)]


def test_the_dispatch_is_a_periodic_job():
    assert webhooks_dispatch in PERIODIC


def test_a_worker_delivers_what_the_dispatch_woke(backend, receiver):
    # given two endpoints with different filters, and three committed events
    tags, tags_secret = endpoint_for(receiver.url, ["tag.*"])
    customers, customers_secret = endpoint_for(receiver.url + "/c", ["customer.created"])
    commit_events(
        EventDraft(type="tag.created"),
        EventDraft(type="customer.created", customer_id=new_ulid()),
        EventDraft(type="customer.deleted", customer_id=new_ulid()),
    )
    # when the dispatch runs and a worker works the queue
    webhooks_dispatch.enqueue()
    drain()
    # then each endpoint got what its filter names, signed with its own secret
    got = sorted(
        (
            r.path,
            Webhook(tags_secret if r.path == "/hooks" else customers_secret).verify(
                r.body, r.headers
            )["type"],
        )
        for r in receiver.received
    )
    assert got == [("/hooks", "tag.created"), ("/hooks/c", "customer.created")]
    assert set(WebhookDelivery.objects.values_list("state", flat=True)) == {"succeeded"}
    assert {tags.id, customers.id} == set(
        WebhookDelivery.objects.values_list("endpoint", flat=True)
    )


def test_the_dispatch_wakes_one_send_job_per_batch_and_no_more_than_may_wait(
    backend, monkeypatch, settings
):
    # given five deliveries owed, batches of two, and at most two send jobs waiting
    settings.WEBHOOK_BATCH_SIZE = 2
    endpoint_for("http://127.0.0.1:9/")
    commit_events(*(EventDraft(type="tag.created") for _ in range(5)))
    monkeypatch.setattr(tasks, "SEND_JOBS_MAX", 2)
    # when the dispatch runs
    tasks.webhooks_dispatch.call()
    # then two send jobs wait (three batches are due, two may wait)
    assert jobs_queued(tasks.webhook_send_due) == 2
    # and a second run (nothing worked the queue in between) adds none
    tasks.webhooks_dispatch.call()
    assert jobs_queued(tasks.webhook_send_due) == 2
    # with room for more, it adds the third
    monkeypatch.setattr(tasks, "SEND_JOBS_MAX", 4)
    tasks.webhooks_dispatch.call()
    assert jobs_queued(tasks.webhook_send_due) == 3
