"""A back-office day in the admin, in headless Chromium: dashboard, filtering, bulk tagging
with a reason, soft delete and restore of a tag, and the customer's history."""

import re

import pytest

from customers.models import Customer
from tags import services as tag_services
from tags.models import TagAssignment
from tests.browser.conftest import log_in
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db(transaction=True)

CUSTOMERS = "/admin/customers/customer/"


def tag_column(page) -> list[str]:
    """The tag names in each row of the customer list, in row order."""
    return [
        cell.inner_text() for cell in page.locator("#result_list tbody td.field-tag_list").all()
    ]


def loyal_customers(n: int = 3, others: int = 2) -> list:
    """``n`` customers holding the tag "Loyal", and ``others`` without it."""
    loyal = CustomerFactory.create_batch(n)
    CustomerFactory.create_batch(others)
    tag_services.customers_retag(
        batches=[[c.pk for c in loyal]],
        change=tag_services.TagChange(add=["Loyal"], reason="seed"),
        actor=None,
    )
    return loyal


def test_dashboard_bars_show_the_database_counts_and_lead_to_the_customers(
    live_server, browser_page, desk_user
):
    page = browser_page
    loyal_customers(n=4, others=1)
    log_in(page, live_server, desk_user)

    bar = page.locator('#dashboard-tags a.bar[data-label="Loyal"]')
    shown = int(bar.locator(".figure").inner_text().replace(",", ""))
    assert shown == TagAssignment.objects.current().filter(tag__name="Loyal").count() == 4
    total = page.locator('#dashboard a[data-total="Customers"] .figure').inner_text()
    assert int(total) == 5

    bar.click()
    page.wait_for_url(re.compile(r"/admin/customers/customer/\?tag="))
    assert page.locator("#result_list tbody tr").count() == shown
    assert page.locator("#tag-filter-input").input_value() == "Loyal"

    page.go_back()
    active = page.locator('#dashboard-statuses a.bar[data-label="Active"] .figure')
    assert (
        int(active.inner_text())
        == Customer.objects.filter(status_label__status__name="Active").count()
    )


def test_add_tags_to_filtered_customers_and_find_the_reason_in_their_history(
    live_server, browser_page, desk_user
):
    page = browser_page
    loyal_customers()
    log_in(page, live_server, desk_user)

    # filter by a tag typed into the tag filter's box
    page.goto(f"{live_server.url}{CUSTOMERS}")
    page.fill("#tag-filter-input", "loyal")
    page.press("#tag-filter-input", "Enter")
    page.wait_for_url(re.compile(r"\?tag=loyal"))
    rows = page.locator("#result_list tbody tr")
    assert rows.count() == 3

    # select the three and run "Add tags…" through its confirmation page
    for checkbox in page.locator("#result_list tbody input.action-select").all():
        checkbox.check()
    page.select_option("select[name=action]", "add_tags")
    page.click("#changelist-form button[name=index]")
    assert page.locator("#retag-title").inner_text() == "Add tags to 3 customers"
    page.fill("#id_tags", "Spring Promo")
    page.fill("#id_reason", "spring campaign 2025")
    page.click("#retag-preview")
    page.wait_for_selector("#retag-preview-figures")
    page.click("#retag-apply")

    page.wait_for_selector(".messagelist .success")
    assert "Added 3 tag assignments on 3 selected customers (Spring Promo: 3)." in (
        page.locator(".messagelist").inner_text()
    )
    assert all("Spring Promo" in cell for cell in tag_column(page))
    assert len(tag_column(page)) == 3

    # the customer's history names the reason
    page.locator("#result_list tbody th a").first.click()
    page.click("a.historylink")
    page.wait_for_selector("#history-log")
    entry = page.locator("#history-log tr.history-entry", has_text="Spring Promo")
    assert "spring campaign 2025" in entry.locator("td.reason").inner_text()
    assert "desk" in entry.inner_text()


def test_soft_deleted_tag_vanishes_from_customers_and_comes_back_when_restored(
    live_server, browser_page, desk_user
):
    page = browser_page
    loyal = loyal_customers()
    tag_services.customers_retag(
        batches=[[c.pk for c in loyal]],
        change=tag_services.TagChange(add=["Summer"], reason="seed"),
        actor=None,
    )
    log_in(page, live_server, desk_user)
    customers_url = f"{live_server.url}{CUSTOMERS}?tag=loyal"
    page.goto(customers_url)
    assert all("Summer" in cell for cell in tag_column(page))

    # soft-delete "Summer" with the tag list's action
    page.goto(f"{live_server.url}/admin/tags/tag/?q=Summer")
    page.locator("#result_list tbody tr", has_text="Summer").locator("input.action-select").check()
    page.select_option("select[name=action]", "soft_delete")
    page.click("#changelist-form button[name=index]")
    page.wait_for_selector(".messagelist .success")

    page.goto(customers_url)
    assert tag_column(page) == ["Loyal"] * 3

    # restore it from its page's Restore button
    page.goto(f"{live_server.url}/admin/tags/tag/?q=Summer&is_deleted__exact=1")
    page.locator("#result_list tbody th a", has_text="Summer").click()
    page.fill('input[name="reason"]', "deleted by mistake")
    page.click("#restore-tag")
    page.wait_for_selector(".messagelist .success")
    assert "Restored 'Summer'" in page.locator(".messagelist").inner_text()

    page.goto(customers_url)
    assert all("Summer" in cell for cell in tag_column(page))
    assert len(tag_column(page)) == 3
