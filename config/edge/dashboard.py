"""The figures on the admin index: totals and bars a person reads at a glance.

Every figure comes from an app's selector in a fixed number of queries, whatever the number
of customers, tags or assignments; segment sizes are counted one query or two per segment, so
only the first ``SEGMENTS_SHOWN`` active segments are counted.
"""

from dataclasses import dataclass
from urllib.parse import urlencode

from django.contrib.auth.models import AbstractBaseUser
from django.urls import reverse

from customers.models import Customer
from segments.models import Segment
from segments.selectors import segment_sizes
from statuses.selectors import status_distribution
from tags.selectors import tag_totals, tags_most_used

TOP_TAGS = 15
SEGMENTS_SHOWN = 10


@dataclass(frozen=True)
class Bar:
    label: str
    value: int
    percent: float  # of the largest bar in its chart
    url: str

    @property
    def figure(self) -> str:
        return f"{self.value:,}"


@dataclass(frozen=True)
class Total:
    label: str
    value: int
    url: str

    @property
    def figure(self) -> str:
        return f"{self.value:,}"


def changelist(model: str, **params) -> str:
    url = reverse(f"admin:{model}_changelist")
    return f"{url}?{urlencode(params)}" if params else url


def bars(rows: list[dict], *, param: str) -> list[Bar]:
    """Rows ``{"id", "name", "customers"}`` as bars linking to the customers they count."""
    largest = max((row["customers"] for row in rows), default=0) or 1
    return [
        Bar(
            label=row["name"],
            value=row["customers"],
            percent=round(100 * row["customers"] / largest, 1),
            url=changelist("customers_customer", **{param: row["id"]}),
        )
        for row in rows
    ]


def dashboard(*, user: AbstractBaseUser) -> dict | None:
    """Totals, the most used tags, segment sizes and the status distribution; None for staff
    who may not see customers (the bars link to them)."""
    if not user.has_perm("customers.view_customer"):
        return None
    tags = tag_totals()
    sizes, active_segments = segment_sizes(limit=SEGMENTS_SHOWN)
    return {
        "totals": [
            Total("Customers", Customer.objects.count(), changelist("customers_customer")),
            Total("Live tags", tags["live"], changelist("tags_tag", is_deleted__exact=0)),
            Total("Deleted tags", tags["deleted"], changelist("tags_tag", is_deleted__exact=1)),
            Total("Segments", Segment.objects.count(), changelist("segments_segment")),
        ],
        "charts": [
            {
                "id": "dashboard-tags",
                "title": "Most used tags",
                "bars": bars(tags_most_used(limit=TOP_TAGS), param="tag"),
                "note": f"The tags on most customers now (up to {TOP_TAGS}).",
                "empty": "No customer has a tag yet.",
            },
            {
                "id": "dashboard-statuses",
                "title": "Customers by status",
                "bars": bars(status_distribution(), param="status_label__status__id__exact"),
                "note": "",
                "empty": "No statuses.",
            },
            {
                "id": "dashboard-segments",
                "title": "Segment sizes",
                "bars": bars(sizes, param="segment"),
                "note": (
                    f"The first {len(sizes)} of {active_segments} active segments by name; "
                    "each segment's page shows its size."
                    if active_segments > len(sizes)
                    else "Active segments."
                ),
                "empty": "No active segments.",
            },
        ],
    }
