"""Customers as the API shows them, built from rows: the read path of the customer list.

``CustomerSerializer`` stays the definition of the shape (input, validation, the schema);
this builds the same JSON from ``values()`` rows without a serializer field call per value,
and does no work for what the caller did not include. ``tests/customers/
test_representations.py`` checks, on random data and both databases, that the two agree.
"""

from collections.abc import Iterable
from typing import Any

from config.api.fields import api_datetime, wants_unix_ms
from segments.selectors import active_segments, segments_of_customer
from tags.selectors import current_assignment_rows


def customer_representations(
    rows: Iterable[dict[str, Any]], *, includes: set[str], request
) -> list[dict[str, Any]]:
    """The customers of ``rows`` (``tags.selectors.customer_rows``) as ``CustomerSerializer``
    renders them for this request and these includes, in one query for their tags."""
    rows = list(rows)
    unix_ms = wants_unix_ms({"request": request})
    details = "customer.tag_details" in includes
    segments = active_segments() if "customer.segments" in includes else None
    metadata = "customer.metadata" in includes
    assignments = current_assignment_rows(
        customer_ids=[r["id"] for r in rows], details=details, tag_ids=segments is not None
    )
    result = []
    for row in rows:
        held = assignments.get(row["id"], ())
        label = row["status_label__name"]
        customer = {
            "id": row["id"],
            "reference_id": row["reference_id"],
            "name": row["name"],
            "email": row["email"],
            "mobile": row["mobile"],
            "status": None
            if row["status_label_id"] is None
            else {"status": row["status_label__status__name"], "label": label},
            "tags": [a["tag__name"] for a in held],
        }
        if details:
            customer["tag_details"] = [
                {
                    "tag_id": a["tag_id"],
                    "name": a["tag__name"],
                    "category": a["category"],
                    "source": a["source"],
                    "expires_at": api_datetime(a["expires_at"], unix_ms=unix_ms),
                    "assigned_by": a["assigned_by__username"],
                    "created_at": api_datetime(a["created_at"], unix_ms=unix_ms),
                }
                for a in held
            ]
        if segments is not None:
            customer["segments"] = segments_of_customer(
                tag_names_by_id={a["tag_id"]: a["tag__name"] for a in held},
                label_id=row["status_label_id"],
                segments=segments,
            )
        if metadata:
            value = row["metadata"]
            customer["metadata"] = (
                None if value is None else {str(key): item for key, item in value.items()}
            )
        customer["created_at"] = api_datetime(row["created_at"], unix_ms=unix_ms)
        customer["updated_at"] = api_datetime(row["updated_at"], unix_ms=unix_ms)
        result.append(customer)
    return result
