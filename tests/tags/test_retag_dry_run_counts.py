"""retag --dry-run counts what the real run then does, for the selected customers only."""

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone

from tags.models import TagAssignment
from tests.factories import CustomerFactory, TagAssignmentFactory, TagFactory

pytestmark = pytest.mark.django_db


def retag(*args: str) -> str:
    out = StringIO()
    call_command("retag", *args, stdout=out, stderr=StringIO())
    return out.getvalue()


@pytest.fixture
def selection(tmp_path):
    """Three selected customers: one holds 'vip', one held it until yesterday, one never did;
    two customers outside the selection hold 'vip' and 'old'."""
    vip, old = TagFactory(name="vip"), TagFactory(name="old")
    holder, lapsed, fresh, outside, outside2 = CustomerFactory.create_batch(5)
    TagAssignmentFactory(customer=holder, tag=vip)
    TagAssignmentFactory(customer=holder, tag=old)
    TagAssignmentFactory(customer=lapsed, tag=vip, expires_at=timezone.now() - timedelta(days=1))
    for customer in (outside, outside2):
        TagAssignmentFactory(customer=customer, tag=vip)
        TagAssignmentFactory(customer=customer, tag=old)
    path = tmp_path / "ids.txt"
    path.write_text("\n".join(c.id for c in (holder, lapsed, fresh)))
    return str(path), (holder, lapsed, fresh)


def test_dry_run_counts_only_current_holders_among_the_selected(selection):
    path, _ = selection
    before = TagAssignment.objects.count()
    out = retag("--customers", path, "--add", "vip", "--remove", "old", "--dry-run")
    # the lapsed one would get 'vip' again; the outsiders do not count
    assert "  + vip: 2 would be added" in out
    assert "  - old: 1 would be removed" in out
    assert "3 customer(s) matched, 2 assignment(s) would be added, 1 would be removed" in out
    assert TagAssignment.objects.count() == before


def test_the_real_run_does_what_the_dry_run_said(selection):
    path, (holder, lapsed, fresh) = selection
    out = retag("--customers", path, "--add", "vip", "--remove", "old")
    assert "  + vip: 2 added" in out
    assert "  - old: 1 removed" in out
    assert "3 customer(s) matched, 2 assignment(s) added, 1 removed" in out
    current = set(
        TagAssignment.objects.current()
        .filter(tag__name="vip")
        .values_list("customer_id", flat=True)
    )
    assert {holder.id, lapsed.id, fresh.id} <= current
    assert TagAssignment.objects.filter(tag__name="old").count() == 2  # the outsiders keep it
