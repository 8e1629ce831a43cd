"""Bulk changes as change-sets in the admin, in headless Chromium: the preview before Apply,
a tag run and a status change over CHANGE_SET_SYNC_MAX in the background with the live progress
bar, and the Revert button of a change-set's page."""

import re

import pytest
from playwright.sync_api import expect

from statuses.models import StatusChange, StatusLabel
from tags import services as tag_services
from tags.models import ChangeSet, TagAssignment, default_change_set_counts
from tests.browser.conftest import log_in
from tests.factories import CustomerFactory, TagAssignmentFactory, TagFactory
from tests.jobs.conftest import drain

pytestmark = pytest.mark.django_db(transaction=True)

CUSTOMERS = "/admin/customers/customer/"


def add_tags_to_every_listed_customer(page, live_server, *, tags: str, reason: str) -> None:
    """Tick every customer of the list, choose "Add tags…", fill its form and Preview."""
    page.goto(f"{live_server.url}{CUSTOMERS}")
    for checkbox in page.locator("#result_list tbody input.action-select").all():
        checkbox.check()
    page.select_option("select[name=action]", "add_tags")
    page.click("#changelist-form button[name=index]")
    page.fill("#id_tags", tags)
    page.fill("#id_reason", reason)
    page.click("#retag-preview")
    page.wait_for_selector("#retag-preview-figures")


def figure(page, tag: str) -> int:
    return int(page.locator(f'tr.preview-tag[data-tag="{tag}"] td.figure').inner_text())


def test_preview_shows_the_figures_then_apply_tags(live_server, browser_page, desk_user):
    page = browser_page
    vip = TagFactory(name="VIP")
    customers = CustomerFactory.create_batch(3)
    TagAssignmentFactory(customer=customers[0], tag=vip)
    log_in(page, live_server, desk_user)

    add_tags_to_every_listed_customer(page, live_server, tags="vip, Spring", reason="spring")

    # the preview: per tag, the tag to create, the customers; nothing written yet
    assert (figure(page, "VIP"), figure(page, "Spring")) == (2, 3)
    assert page.locator("#preview-created").inner_text() == "Tags to create: Spring."
    assert "0 customers would go past the limit" in page.locator("#preview-over-limit").inner_text()
    assert page.locator("#preview-customers-title").inner_text() == "The 3 selected customers"
    assert page.locator("#preview-customers tbody tr").count() == 3
    assert TagAssignment.objects.count() == 1
    assert not ChangeSet.objects.exists()

    page.click("#retag-apply")
    page.wait_for_selector(".messagelist .success")
    assert "Added 5 tag assignments on 3 selected customers (Spring: 3, VIP: 2)." in (
        page.locator(".messagelist").inner_text()
    )
    assert TagAssignment.objects.count() == 6


def test_a_background_run_shows_its_progress_and_ends_done(
    live_server, browser_page, desk_user, settings
):
    page = browser_page
    settings.CHANGE_SET_SYNC_MAX = 3
    CustomerFactory.create_batch(5)
    log_in(page, live_server, desk_user)

    add_tags_to_every_listed_customer(page, live_server, tags="Big", reason="big campaign")
    assert "runs in the background" in page.locator("#preview-background").inner_text()
    assert not ChangeSet.objects.exists()  # a preview plans nothing
    page.click("#retag-apply")

    # straight to the change-set's page: planned, with a progress bar and a Cancel button
    page.wait_for_url(re.compile(r"/admin/tags/changeset/[0-9a-z]+/change/$"))
    change_set = ChangeSet.objects.get()
    assert "so it runs in the background" in page.locator(".messagelist .success").inner_text()
    assert page.locator("#change-set-progress").is_visible()
    assert page.locator("#cancel-change-set").is_visible()
    assert not TagAssignment.objects.exists()

    # the bar follows the run: 2 of 5 customers done
    ChangeSet.objects.filter(pk=change_set.pk).update(
        state="running", counts={**change_set.counts, "customers": 2}
    )
    expect(page.locator("#change-set-progress-text")).to_have_text("running: 2 of 5 customers")
    assert float(page.locator("#change-set-progress").get_attribute("value")) == 0.4

    # a worker runs the job; the page reloads by itself once the state is final
    ChangeSet.objects.filter(pk=change_set.pk).update(
        state="planned", counts=default_change_set_counts()
    )
    drain()
    page.wait_for_selector("#change-set-progress", state="detached", timeout=10_000)
    assert page.locator(".field-state .readonly").inner_text() == "Done"
    assert page.locator(".field-progress_shown .readonly").inner_text() == "100%"
    assert TagAssignment.objects.filter(tag__name="Big").count() == 5


def test_the_revert_button_reverts_a_change_set(live_server, browser_page, desk_user):
    page = browser_page
    customers = CustomerFactory.create_batch(2)
    change_set = tag_services.customers_retag(
        batches=[[c.pk for c in customers]],
        change=tag_services.TagChange(add=["Loyal"], reason="seed"),
        actor=None,
        plan=tag_services.ChangeSetPlan(kind="retag", selection={"all": True}),
    ).change_set
    log_in(page, live_server, desk_user)

    page.goto(f"{live_server.url}/admin/tags/changeset/{change_set.pk}/change/")
    page.fill('input[name="reason"]', "wrong list")
    page.click("#revert-change-set")

    page.wait_for_selector(".messagelist .success")
    assert "Reverted: 0 assignment(s) restored, 2 removed, 0 conflict(s)" in (
        page.locator(".messagelist").inner_text()
    )
    revert = ChangeSet.objects.get(kind="revert")
    assert page.url.endswith(f"/admin/tags/changeset/{revert.pk}/change/")
    change_set.refresh_from_db()
    assert change_set.state == "reverted"
    assert not TagAssignment.objects.exists()
    page.goto(f"{live_server.url}/admin/tags/changeset/{change_set.pk}/change/")
    assert page.locator(".field-state .readonly").inner_text() == "Reverted"


def test_a_large_status_change_runs_in_the_background_with_its_progress(
    live_server, browser_page, desk_user, settings
):
    page = browser_page
    settings.CHANGE_SET_SYNC_MAX = 3
    CustomerFactory.create_batch(5)
    log_in(page, live_server, desk_user)

    page.goto(f"{live_server.url}{CUSTOMERS}")
    for checkbox in page.locator("#result_list tbody input.action-select").all():
        checkbox.check()
    page.select_option("select[name=action]", "change_status")
    page.click("#changelist-form button[name=index]")
    assert "runs in the background" in page.locator("#status-background").inner_text()
    page.select_option("#id_label", value=str(StatusLabel.objects.get(name="Inactive").pk))
    page.fill("#id_reason", "moved away")
    page.click("input[type=submit].default")

    # straight to the planned change-set's page, its progress bar and Cancel button
    page.wait_for_url(re.compile(r"/admin/tags/changeset/[0-9a-z]+/change/$"))
    change_set = ChangeSet.objects.get()
    assert (change_set.kind, change_set.state) == ("status", "planned")
    assert page.locator("#change-set-progress").is_visible()
    assert page.locator("#cancel-change-set").is_visible()
    assert not StatusChange.objects.exists()

    # a worker runs it; the page reloads by itself once it is done
    drain()
    page.wait_for_selector("#change-set-progress", state="detached", timeout=10_000)
    assert page.locator(".field-state .readonly").inner_text() == "Done"
    assert page.locator(".field-progress_shown .readonly").inner_text() == "100%"
    assert StatusChange.objects.filter(change_set_id=change_set.pk).count() == 5
    assert page.locator("#revert-change-set").count() == 0  # a status change is not revertible
