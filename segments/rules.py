"""What "customer C is in segment S" means — the one definition, in two forms that agree.

``rule_q`` is a queryset condition for many customers (EXISTS / NOT EXISTS on current
assignments, which PostgreSQL plans as semi/anti joins on the (tag, customer) index);
``rule_matches`` evaluates the same rule for one customer whose current tags are in hand.
"""

from collections.abc import Iterable
from dataclasses import dataclass

from django.db import connection
from django.db.models import Count, Exists, OuterRef, Q
from django.utils import timezone

from customers.models import Customer
from tags.models import Tag, TagAssignment, unexpired_assignment_sql

ASSIGNMENTS = TagAssignment._meta.db_table
CUSTOMERS = Customer._meta.db_table


@dataclass(frozen=True)
class Rule:
    """Tag ids (in the order they were given) and status label ids."""

    all: tuple[str, ...] = ()
    any: tuple[str, ...] = ()
    none: tuple[str, ...] = ()
    status_labels: tuple[str, ...] = ()

    @property
    def is_empty(self) -> bool:
        return not (self.all or self.any or self.none or self.status_labels)


def _has(tag_ids: Iterable[str]) -> Exists:
    # Only live tags reach here (see rule_q), so "current" is "not expired": no join per row.
    return Exists(
        TagAssignment.objects.unexpired().filter(
            customer_id=OuterRef("pk"), tag_id__in=list(tag_ids)
        )
    )


def rule_q(rule: Rule) -> Q:
    """Condition on Customer rows: members of the rule.

    Current assignments are those of live tags that have not expired; the rule's tags are
    checked for deletion once here (one small query), so the EXISTS subqueries only read the
    (tag, customer) index instead of joining the tags table for every row.
    """

    named = {*rule.all, *rule.any, *rule.none}
    live = (
        set(Tag.objects.alive().filter(pk__in=named).values_list("pk", flat=True))
        if named
        else set()
    )
    nobody = Q(pk__in=[])
    if any(t not in live for t in rule.all):
        return nobody  # a deleted tag in "all": no customer currently has it
    any_live = [t for t in rule.any if t in live]
    if rule.any and not any_live:
        return nobody
    none_live = [t for t in rule.none if t in live]
    condition = Q()
    for tag_id in rule.all:
        condition &= Q(_has([tag_id]))
    if any_live:
        condition &= Q(_has(any_live))
    if none_live:
        condition &= ~Q(_has(none_live))
    if rule.status_labels:
        condition &= Q(status_label_id__in=rule.status_labels)
    return condition


def rule_count(rule: Rule) -> int:
    """How many customers the rule selects, counted the fastest way the database knows.

    With tags in ``all``, counting starts from the assignments of those tags (grouped per
    customer) instead of scanning every customer: the same members as ``rule_q``, checked by
    a test, at the speed of the best hand-written SQL.
    """

    if len(rule.all) < 2:
        return Customer.objects.filter(rule_q(rule)).count()
    named = {*rule.all, *rule.any, *rule.none}
    live = set(Tag.objects.alive().filter(pk__in=named).values_list("pk", flat=True))
    if any(t not in live for t in rule.all):
        return 0
    any_live = [t for t in rule.any if t in live]
    if rule.any and not any_live:
        return 0
    none_live = [t for t in rule.none if t in live]

    # Group the assignments of the "all" tags per customer first, then test the few groups
    # that hold them all against "any", "none" and the labels: the plan of the fastest
    # hand-written query (bench/segments.py). The grouped part is the ORM's own SQL.
    grouped = (
        TagAssignment.objects.unexpired()
        .filter(tag_id__in=rule.all)
        .values("customer_id")
        .annotate(held=Count("tag_id"))
        .filter(held=len(rule.all))
        .values("customer_id")
    )
    inner, params = grouped.query.sql_with_params()
    params = list(params)
    conditions = []
    now = timezone.now()
    for tag_ids, negate in ((any_live, False), (none_live, True)):
        if tag_ids:
            # the tags are live (checked above): "current" is "unexpired", as in _has
            unexpired, unexpired_params = unexpired_assignment_sql("a.expires_at", now)
            conditions.append(
                f"{'NOT ' if negate else ''}EXISTS (SELECT 1 FROM {ASSIGNMENTS} a "
                "WHERE a.customer_id = m.customer_id AND a.tag_id IN "
                f"({', '.join(['%s'] * len(tag_ids))}) AND {unexpired})"
            )
            params += [_db(TagAssignment, "tag", t) for t in tag_ids] + unexpired_params
    if rule.status_labels:
        conditions.append(
            f"EXISTS (SELECT 1 FROM {CUSTOMERS} c WHERE c.id = m.customer_id AND c.status_label_id IN "
            f"({', '.join(['%s'] * len(rule.status_labels))}))"
        )
        params += [_db(Customer, "status_label", lb) for lb in rule.status_labels]
    where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM ({inner}) m{where}", params)
        return cursor.fetchone()[0]


def _db(model, field: str, value):
    return model._meta.get_field(field).get_db_prep_value(value, connection, prepared=False)


def rule_matches(rule: Rule, *, tag_ids: set[str], label_id: str) -> bool:
    """The same rule for one customer, given its current tag ids and its label id."""
    return (
        all(t in tag_ids for t in rule.all)
        and (not rule.any or any(t in tag_ids for t in rule.any))
        and not any(t in tag_ids for t in rule.none)
        and (not rule.status_labels or label_id in rule.status_labels)
    )


def matched_by(rule: Rule, *, tag_ids: set[str]) -> list[str]:
    """The customer's tags named in the rule's all/any lists, in rule order."""
    return [t for t in (*rule.all, *rule.any) if t in tag_ids]
