"""The retag command: every selection, dry runs, unknown identifiers, resuming, bad input."""

import csv
from collections import Counter

import pytest
from django.core.management import CommandError, call_command

from segments.services import segment_save
from tags.management.commands import retag as retag_command
from tags.models import Tag, TagAssignment
from tags.services import TagChange, customers_retag
from tests.factories import CustomerFactory, TagAssignmentFactory, TagFactory, UserFactory

pytestmark = pytest.mark.django_db

History = TagAssignment.history.model


def retag(*args: str) -> str:
    from io import StringIO

    out = StringIO()
    call_command("retag", *args, stdout=out, stderr=StringIO())
    return out.getvalue()


def tags_of(customer) -> set[str]:
    return set(TagAssignment.objects.filter(customer=customer).values_list("tag__name", flat=True))


def state() -> tuple[set, Counter]:
    """Assignments, and history rows per (customer, tag, type): what two runs must agree on."""
    assignments = set(TagAssignment.objects.values_list("customer_id", "tag__name"))
    history = Counter(
        (h.customer_id, h.tag_id, h.history_type) for h in History.objects.all().iterator()
    )
    return assignments, history


@pytest.fixture
def customers():
    return CustomerFactory.create_batch(6)


def test_all_adds_and_removes_in_one_run_with_history(customers):
    user = UserFactory(username="ops")
    vip = TagFactory(name="vip")
    for customer in customers[:2]:
        TagAssignmentFactory(customer=customer, tag=vip)
    out = retag("--all", "--add", "spring,newsletter", "--remove", "vip", "--reason", "Q2 cleanup",
                "--user", "ops", "--source", "import", "--category", "campaign", "--batch-size", "4")  # fmt: skip
    assert "6 customer(s) matched, 12 assignment(s) added, 2 removed" in out
    for customer in customers:
        assert tags_of(customer) == {"spring", "newsletter"}
    assert set(TagAssignment.objects.values_list("source", "category")) == {("import", "campaign")}
    history = History.objects.exclude(history_change_reason=None).filter(
        tag__name__in=["spring", "newsletter", "vip"]
    )
    assert Counter(history.values_list("history_type", flat=True)) == {"+": 12, "-": 2}
    assert set(history.values_list("history_change_reason", "history_user_id")) == {
        ("Q2 cleanup", user.pk)
    }


def test_file_of_ids_with_unknowns_written_out(customers, tmp_path):
    path = tmp_path / "ids.txt"
    path.write_text(
        f"# customers to tag\n{customers[0].id}\n\n{customers[1].id}\n01j00000000000000000000000\nnot-an-id\n"
    )
    unknown = tmp_path / "unknown.txt"
    out = retag("--customers", str(path), "--add", "vip", "--unknown-out", str(unknown))
    assert "2 customer(s) matched, 2 assignment(s) added" in out
    assert "2 unknown identifier(s)" in out
    assert unknown.read_text().split() == ["01j00000000000000000000000", "not-an-id"]
    assert [c for c in customers if tags_of(c)] == customers[:2]


@pytest.mark.parametrize(
    ("identify_by", "attribute"),
    [("email", "email"), ("mobile", "mobile"), ("reference_id", "reference_id")],
)
def test_csv_column_with_identify_by(customers, tmp_path, identify_by, attribute):
    path = tmp_path / "list.csv"
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["name", "key"])
        for customer in customers[:3]:
            value = getattr(customer, attribute)
            writer.writerow([customer.name, value.upper() if identify_by == "email" else value])
    out = retag("--customers", str(path), "--column", "key", "--identify-by", identify_by,
                "--add", "vip")  # fmt: skip
    assert "3 customer(s) matched, 3 assignment(s) added" in out
    assert [c for c in customers if tags_of(c)] == customers[:3]


def test_segment_selection(customers):
    gold = TagFactory(name="gold")
    for customer in customers[:3]:
        TagAssignmentFactory(customer=customer, tag=gold)
    segment_save(segment=None, data={"name": "Gold", "rule": {"all": ["gold"]}}, actor=None)
    out = retag("--segment", "gold", "--add", "concierge")
    assert "3 customer(s) matched, 3 assignment(s) added" in out
    assert [c for c in customers if "concierge" in tags_of(c)] == customers[:3]


def test_has_tag_selection_needs_every_tag_and_can_remove_what_it_selects_on(customers):
    a, b = TagFactory(name="a"), TagFactory(name="b")
    for customer in customers[:4]:
        TagAssignmentFactory(customer=customer, tag=a)
    for customer in customers[2:]:
        TagAssignmentFactory(customer=customer, tag=b)
    # customers 2 and 3 hold both; removing 'a' while selecting on it must neither skip nor repeat
    out = retag(
        "--has-tag", "a", "--has-tag", "B", "--remove", "a", "--add", "c", "--batch-size", "1"
    )
    assert "2 customer(s) matched, 2 assignment(s) added, 2 removed" in out
    assert [tags_of(c) for c in customers[2:4]] == [{"b", "c"}, {"b", "c"}]
    assert tags_of(customers[0]) == {"a"}


def test_dry_run_changes_nothing_and_says_what_would(customers, tmp_path):
    vip = TagFactory(name="vip")
    TagAssignmentFactory(customer=customers[0], tag=vip)
    path = tmp_path / "ids.txt"
    path.write_text("\n".join([*(c.id for c in customers[:3]), "ghost@example.com"]))
    before = (TagAssignment.objects.count(), History.objects.count(), Tag.objects.count())
    out = retag("--customers", str(path), "--add", "brand_new", "--remove", "vip", "--dry-run")
    assert (TagAssignment.objects.count(), History.objects.count(), Tag.objects.count()) == before
    assert "Tags would be created: brand_new" in out
    assert "+ brand_new: 3 would be added" in out
    assert "- vip: 1 would be removed" in out
    assert "Unknown identifiers: ghost@example.com" in out
    assert "Dry run: nothing changed. 3 customer(s) matched, 3 assignment(s) would be added" in out


def test_an_interrupted_run_finishes_on_rerun_like_one_clean_run(customers, monkeypatch):
    TagAssignmentFactory(customer=customers[4], tag=TagFactory(name="vip"))
    real = retag_command.Command._progress

    def stop_after_first_batch(self, total):
        def stop(result, size):
            raise KeyboardInterrupt  # as if killed right after the first batch committed

        return stop

    monkeypatch.setattr(retag_command.Command, "_progress", stop_after_first_batch)
    with pytest.raises(KeyboardInterrupt):
        retag("--all", "--add", "spring", "--remove", "vip", "--batch-size", "2")
    assert TagAssignment.objects.filter(tag__name="spring").count() == 2
    monkeypatch.setattr(retag_command.Command, "_progress", real)
    retag("--all", "--add", "spring", "--remove", "vip", "--batch-size", "2")
    interrupted = state()
    # one clean run of the same command on the same starting data, for comparison
    clean_customers = CustomerFactory.create_batch(6)
    TagAssignmentFactory(customer=clean_customers[4], tag=Tag.objects.get(name="vip"))
    ids = {c.id for c in customers}
    retag("--all", "--add", "spring", "--remove", "vip", "--batch-size", "2")
    both = state()

    def only(snapshot, keep):
        assignments, history = snapshot
        return (
            {name for customer, name in assignments if customer in keep},
            sorted(n for (customer, _, kind), n in history.items() if customer in keep),
            len([1 for (customer, _, _), n in history.items() if customer in keep and n > 1]),
        )

    first = only(interrupted, ids)
    second = only(both, {c.id for c in clean_customers})
    assert first == second
    assert first[2] == 0  # no (customer, tag, type) recorded twice
    assert TagAssignment.objects.filter(tag__name="spring").count() == 12


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--all"], "Nothing to do"),
        (["--add", "x"], "exactly one of"),
        (["--all", "--segment", "s", "--add", "x"], "exactly one of"),
        (["--customers", "/nonexistent/file.txt", "--add", "x"], "Cannot open /nonexistent"),
        (["--segment", "no such segment", "--add", "x"], "No segment"),
        (["--has-tag", "nope", "--add", "x"], "Unknown tag(s) in --has-tag: nope"),
        (["--all", "--add", "x", "--user", "ghost"], "No user named 'ghost'"),
        (["--all", "--add", "x", "--expires", "next tuesday"], "--expires"),
        (["--all", "--add", "x", "--expires", "2099-13-45"], "--expires"),
        (["--all", "--add", "x", "--batch-size", "0"], "--batch-size"),
        (["--all", "--add", "bad!name"], "not a valid tag name"),
        (["--all", "--add", "x", "--no-create-missing"], "Unknown tag(s): x"),
        (["--all", "--column", "id", "--add", "x"], "go with --customers"),
    ],
)
def test_bad_input_is_a_clear_error_and_writes_nothing(customers, args, message):
    before = (TagAssignment.objects.count(), History.objects.count(), Tag.objects.count())
    with pytest.raises(CommandError, match=message.replace("(", r"\(").replace(")", r"\)")):
        retag(*args)
    assert (TagAssignment.objects.count(), History.objects.count(), Tag.objects.count()) == before


@pytest.mark.parametrize(
    ("content", "column", "message"),
    [
        ("id,name\n{id},x\n", "email", "has no column 'email'"),
        ("id,name\n{id},x\nlonely\n", "name", "line 3: no value in column 'name'"),
        (b"\xff\xfe\x00garbage", None, "is not UTF-8"),
    ],
)
def test_a_malformed_file_is_refused_before_any_write(
    customers, tmp_path, content, column, message
):
    path = tmp_path / "in.csv"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content.format(id=customers[0].id))
    before = (TagAssignment.objects.count(), History.objects.count(), Tag.objects.count())
    args = ["--customers", str(path), "--add", "x", *(["--column", column] if column else [])]
    with pytest.raises(CommandError, match=message):
        retag(*args)
    assert (TagAssignment.objects.count(), History.objects.count(), Tag.objects.count()) == before


def test_expiry_is_set_on_added_assignments(customers):
    retag("--all", "--add", "trial", "--expires", "2099-01-01")
    expiries = set(TagAssignment.objects.values_list("expires_at", flat=True))
    assert [e.isoformat() for e in expiries] == ["2099-01-01T00:00:00+00:00"]


def test_bulk_tag_api_and_retag_write_the_same_history(customers, client_with):
    client = client_with(
        "customers.view_customer", "customers.tag_customer", "tags.view_tag", "tags.add_tag"
    )
    response = client.post(
        "/api/v1/customers/bulk_tag",
        {"customer_ids": [customers[0].id], "tags_to_add": ["vip"], "reason": "api"},
        format="json",
    )
    assert response.status_code == 200, response.content
    retag("--all", "--add", "vip", "--reason", "command")
    reasons = Counter(
        History.objects.filter(tag__name="vip").values_list("history_change_reason", flat=True)
    )
    assert reasons == {"api": 1, "command": 5}


def test_a_refused_tag_creates_no_other_tag(customers):
    TagFactory(name="gone", is_deleted=True)
    with pytest.raises(CommandError, match="deleted"):
        retag("--all", "--add", "brand_new,gone")
    assert not Tag.objects.filter(name="brand_new").exists()


def test_an_empty_batch_is_skipped_and_the_batches_after_it_run():
    first, second = CustomerFactory.create_batch(2)
    result = customers_retag(
        batches=[[first.pk], [], [second.pk]], change=TagChange(add=("vip",)), actor=None
    )
    assert (result.matched, result.batches, dict(result.added)) == (2, 2, {"vip": 2})
    assert set(TagAssignment.objects.values_list("customer_id", flat=True)) == {first.pk, second.pk}
