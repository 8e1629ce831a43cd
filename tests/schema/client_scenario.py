"""An integrator's scenario through the client openapi-python-client generates from our schema.

Run by test_generated_client.py with the generated package installed in a throwaway venv, against
a live server (BASE_URL, TOKEN). Only the client is used: every response must parse into the
documented model, with no property the schema does not declare (``additional_properties``).
"""

import datetime
import os

import attrs
from tagdesk_api_client import AuthenticatedClient
from tagdesk_api_client import models as m
from tagdesk_api_client.api.customer_tags import tag_create, tag_delete, tag_restore
from tagdesk_api_client.api.customers import (
    customer_create,
    customer_status_set_by_lookup,
    customer_tags_change,
    customer_tags_list,
    customer_tags_remove,
)
from tagdesk_api_client.api.segments import segment_count, segment_create, segment_members

# Free-form JSON objects: their keys are data, not undeclared properties.
FREE_FORM = {"CustomerMetadata", "TagHistoryEntryChanges"}


def undeclared(value, path: str = "") -> list[str]:
    """Paths of properties the server sent that the schema does not declare."""
    found = []
    if attrs.has(type(value)):
        extra = getattr(value, "additional_properties", {})
        if extra and type(value).__name__ not in FREE_FORM:
            found.append(f"{path or type(value).__name__}: {sorted(extra)}")
        for field in attrs.fields(type(value)):
            if field.name != "additional_properties":
                found += undeclared(getattr(value, field.name), f"{path}.{field.name}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += undeclared(item, f"{path}[{index}]")
    return found


def expect(response, status: int, model):
    assert response.status_code == status, (response.status_code, response.content[:500])
    assert isinstance(response.parsed, model), (model, type(response.parsed), response.content)
    assert not (extra := undeclared(response.parsed)), extra
    return response.parsed


def main() -> None:
    client = AuthenticatedClient(
        base_url=os.environ["BASE_URL"], token=os.environ["TOKEN"], raise_on_unexpected_status=True
    )
    steps = []

    # a customer
    body = m.CustomerRequest(name="Ada", email="ada@example.com", mobile="+44 20 7946 0018")
    customer = expect(
        customer_create.sync_detailed(client=client, body=body), 201, m.CustomerEnvelope
    )
    customer_id = customer.customer.id
    steps.append("customer_create")

    # tags
    vip = expect(
        tag_create.sync_detailed(client=client, body=m.TagRequest(name="vip")), 201, m.TagEnvelope
    ).customer_tag
    expect(
        tag_create.sync_detailed(client=client, body=m.TagRequest(name="prospect")),
        201,
        m.TagEnvelope,
    )
    steps.append("tag_create")

    # add, then add and remove in one call
    first = m.CustomerTagRequest(tags_to_add=["prospect"])
    expect(
        customer_tags_change.sync_detailed(customer_id, client=client, body=first),
        200,
        m.CustomerTagResponse,
    )
    change = m.CustomerTagRequest(
        tags_to_add=["vip", "high_value"],
        tags_to_remove=["prospect"],
        tag_metadata=m.TagMetadataInputRequest(
            category="loyalty", expiry_date=datetime.date(2099, 12, 31)
        ),
    )
    result = expect(
        customer_tags_change.sync_detailed(customer_id, client=client, body=change),
        200,
        m.CustomerTagResponse,
    )
    assert result.tags_added == ["high_value", "vip"], result.tags_added
    assert result.tags_removed == ["prospect"], result.tags_removed
    steps.append("customer_tags_change")

    listed = expect(
        customer_tags_list.sync_detailed(customer_id, client=client), 200, m.CustomerTagsList
    )
    assert [tag.name for tag in listed.tags] == ["high_value", "vip"], listed.tags
    assert listed.tags[0].category == "loyalty"
    steps.append("customer_tags_list")

    removed = expect(
        customer_tags_remove.sync_detailed(
            customer_id, client=client, keys=["high_value", "no_such_tag"]
        ),
        200,
        m.CustomerUntagResponse,
    )
    assert removed.customer.tags == ["vip"], removed.customer.tags
    assert len(removed.warnings) == 1, removed.warnings
    steps.append("customer_tags_remove")

    # soft delete and restore
    deleted = expect(tag_delete.sync_detailed(vip.id, client=client), 200, m.TagEnvelope)
    assert deleted.customer_tag.is_deleted is True
    restored = expect(
        tag_restore.sync_detailed(
            vip.id, client=client, body=m.TagRestoreRequest(reason="deleted by mistake")
        ),
        200,
        m.TagEnvelope,
    )
    assert restored.customer_tag.is_deleted is False
    assert restored.customer_tag.customer_count == 1
    steps.append("tag_delete+tag_restore")

    # a segment, its count and members
    rule = m.SegmentRuleRequest(all_=["vip"])
    segment = expect(
        segment_create.sync_detailed(client=client, body=m.SegmentRequest(name="VIPs", rule=rule)),
        201,
        m.SegmentEnvelope,
    ).segment
    count = expect(segment_count.sync_detailed(segment.id, client=client), 200, m.SegmentCount)
    assert count.customer_count == 1, count
    members = expect(
        segment_members.sync_detailed(segment.id, client=client, limit=10),
        200,
        m.SegmentCustomersPage,
    )
    assert [c.id for c in members.customers] == [customer_id]
    steps.append("segment_create+count+members")

    # status by lookup (Capillary shape)
    created = expect(
        customer_status_set_by_lookup.sync_detailed(
            client=client,
            body=m.StatusChangeRequest(reason="Asked to pause", label="Inactive"),
            source=m.CustomerStatusSetByLookupSource.INSTORE,
            identifier_name=m.CustomerStatusSetByLookupIdentifierName.EMAIL,
            identifier_value="ada@example.com",
        ),
        200,
        m.StatusChangeCreated,
    )
    assert isinstance(created.created_id, int), created
    steps.append("customer_status_set_by_lookup")

    # expected errors, parsed as typed errors
    conflict = expect(
        tag_restore.sync_detailed(vip.id, client=client, body=m.TagRestoreRequest()),
        409,
        m.ClientErrorResponse,
    )
    assert conflict.errors[0].code == "customer_tag_not_deleted", conflict
    invalid = expect(
        customer_create.sync_detailed(
            client=client, body=m.CustomerRequest(name="Bob", email="not-an-email")
        ),
        400,
        m.ValidationErrorResponse,
    )
    assert invalid.errors[0].attr == "email", invalid
    steps.append("expected 409 and 400")

    print("scenario passed:", ", ".join(steps))


if __name__ == "__main__":
    main()
