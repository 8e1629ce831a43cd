"""What "customer C is in segment S" means — the one definition, in two forms that agree.

``rule_q`` is a queryset condition for many customers (EXISTS / NOT EXISTS on current
assignments, which PostgreSQL plans as semi/anti joins on the (tag, customer) index);
``rule_matches`` evaluates the same rule for one customer whose current tags are in hand.
"""

from collections.abc import Iterable
from dataclasses import dataclass

from django.db.models import Exists, OuterRef, Q

from tags.models import TagAssignment


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
    return Exists(
        TagAssignment.objects.current().filter(customer_id=OuterRef("pk"), tag_id__in=list(tag_ids))
    )


def rule_q(rule: Rule) -> Q:
    """Condition on Customer rows: members of the rule."""
    condition = Q()
    for tag_id in rule.all:
        condition &= Q(_has([tag_id]))
    if rule.any:
        condition &= Q(_has(rule.any))
    if rule.none:
        condition &= ~Q(_has(rule.none))
    if rule.status_labels:
        condition &= Q(status_label_id__in=rule.status_labels)
    return condition


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
