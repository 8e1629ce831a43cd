"""Who is in a rule, pinned customer by customer, in its three forms: the queryset condition
(``rule_q``), the count (``rule_count``, which has its own SQL from two "all" tags on) and the
per-customer evaluation (``rule_matches``).

Eight customers, told apart by live tags a–d, a deleted tag x, assignments that expired
yesterday or expire tomorrow, and their status label. Each rule's members are written out by
hand from the table below.
"""

from datetime import timedelta

import pytest
from django.utils import timezone

from customers.models import Customer
from segments.rules import Rule, matched_by, rule_count, rule_matches, rule_q
from statuses.models import StatusLabel
from tags.models import Tag, TagAssignment
from tests.factories import CustomerFactory, TagFactory

pytestmark = pytest.mark.django_db

# customer: (tags held for good, tags that expired yesterday, tags expiring tomorrow, label)
WORLD = {
    "p": ("a b c", "", "", "Active"),
    "q": ("a b", "d", "", "Suspended"),
    "r": ("a c", "", "b", "Active"),
    "s": ("b c x", "", "", "Active"),
    "t": ("", "a b", "", "Active"),
    "u": ("a b d", "", "", "Suspended"),
    "v": ("x", "", "", "Suspended"),
    "w": ("a b c", "", "d", "Active"),
}
# what each customer currently holds: live tags, not expired
CURRENT = {
    "p": "a b c",
    "q": "a b",
    "r": "a b c",
    "s": "b c",
    "t": "",
    "u": "a b d",
    "v": "",
    "w": "a b c d",
}
EVERYONE = "p q r s t u v w"

# (all, any, none, labels) → members
RULES = [
    # one tag in "all": the EXISTS form
    (("a", "", "", ""), "p q r u w"),
    (("d", "", "", ""), "u w"),
    (("x", "", "", ""), ""),
    (("b", "d", "", ""), "u w"),
    (("a", "c", "", ""), "p r w"),
    (("c", "", "a", ""), "s"),
    (("b", "", "x", ""), "p q r s u w"),
    (("a", "", "", "Suspended"), "q u"),
    (("a", "x", "", ""), ""),
    # two or more tags in "all": the grouped count
    (("a b", "", "", ""), "p q r u w"),
    (("a b c", "", "", ""), "p r w"),
    (("a b c d", "", "", ""), "w"),
    (("a d", "", "", ""), "u w"),
    (("a x", "", "", ""), ""),
    (("a b", "", "c", ""), "q u"),
    (("a b", "", "d", ""), "p q r"),
    (("b c", "", "x", ""), "p r s w"),
    (("a b", "c d", "", ""), "p r u w"),
    (("a b", "d", "", ""), "u w"),
    (("a b", "x", "", ""), ""),
    (("a b", "x c", "", ""), "p r w"),
    (("a b", "", "", "Suspended"), "q u"),
    (("a b", "", "", "Active Suspended"), "p q r u w"),
    (("a b c", "", "d", "Active"), "p r"),
    (("a b", "c", "d", "Active"), "p r"),
    (("a b", "c", "x", "Active"), "p r w"),
    # no "all"
    (("", "c d", "", ""), "p r s u w"),
    (("", "x", "", ""), ""),
    (("", "x d", "", ""), "u w"),
    (("", "", "c", ""), "q t u v"),
    (("", "", "x", ""), EVERYONE),
    (("", "", "", "Suspended"), "q u v"),
    (("", "a", "b", ""), ""),
    (("", "", "", ""), EVERYONE),
]


@pytest.fixture
def world():
    tags = {name: TagFactory(name=name) for name in "abcdx"}
    Tag.objects.filter(name="x").update(is_deleted=True, deleted_at=timezone.now())
    labels = {label.name: label for label in StatusLabel.objects.all()}
    now = timezone.now()
    customers = {}
    for name, (held, expired, expiring, label) in WORLD.items():
        customer = CustomerFactory(name=name)
        Customer.objects.filter(pk=customer.pk).update(status_label=labels[label])
        customer.refresh_from_db()
        customers[name] = customer
        for tags_given, expires_at in (
            (held, None),
            (expired, now - timedelta(days=1)),
            (expiring, now + timedelta(days=1)),
        ):
            TagAssignment.objects.bulk_create(
                [
                    TagAssignment(customer=customer, tag=tags[t], expires_at=expires_at)
                    for t in tags_given.split()
                ]
            )
    return tags, labels, customers


def make_rule(world, all_, any_, none, labels) -> Rule:
    tags, by_label, _ = world
    return Rule(
        all=tuple(tags[t].pk for t in all_.split()),
        any=tuple(tags[t].pk for t in any_.split()),
        none=tuple(tags[t].pk for t in none.split()),
        status_labels=tuple(by_label[lb].pk for lb in labels.split()),
    )


def rule_id(param) -> str:
    (all_, any_, none, labels), _ = param
    return "|".join(f"{k}={v.replace(' ', ',')}" for k, v in zip(
        ("all", "any", "none", "labels"), (all_, any_, none, labels), strict=True
    ) if v) or "empty"  # fmt: skip


@pytest.mark.parametrize(("lists", "members"), RULES, ids=[rule_id(r) for r in RULES])
def test_members_count_and_per_customer_evaluation(world, lists, members):
    tags, _, customers = world
    rule = make_rule(world, *lists)
    expected = {customers[name].pk for name in members.split()}
    # the queryset condition
    assert set(Customer.objects.filter(rule_q(rule)).values_list("pk", flat=True)) == expected
    # the count
    assert rule_count(rule) == len(expected)
    # the evaluation for one customer whose current tags are in hand
    for name, customer in customers.items():
        held = {tags[t].pk for t in CURRENT[name].split()}
        assert rule_matches(rule, tag_ids=held, label_id=customer.status_label_id) is (
            name in members.split()
        ), name


def test_matched_by_lists_the_held_tags_of_all_then_any_in_rule_order(world):
    tags, _, _ = world
    rule = make_rule(world, "c a", "d b", "x", "")
    held = {tags[t].pk for t in "abc"}
    assert matched_by(rule, tag_ids=held) == [tags["c"].pk, tags["a"].pk, tags["b"].pk]
