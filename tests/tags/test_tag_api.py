"""The /customer_tags/ resource (Payiano shape)."""

from datetime import timedelta

import pytest
from django.utils import timezone

from tags.models import Tag
from tests.conftest import make_client
from tests.factories import TagAssignmentFactory, TagFactory

pytestmark = pytest.mark.django_db
URL = "/api/v1/customer_tags/"


def create(api, **body):
    return api.post(URL, {"name": "VIP", **body}, format="json")


def errors(response) -> list[tuple[str, str | None]]:
    return [(e["code"], e["attr"]) for e in response.json()["errors"]]


# --- limits, each at its boundary and one past it -------------------------------------------


@pytest.mark.parametrize(
    ("body", "ok"),
    [
        ({"name": "a" * 100}, True),
        ({"name": "a" * 101}, False),
        ({"name": "VIP", "reference_id": "r" * 50}, True),
        ({"name": "VIP", "reference_id": "r" * 51}, False),
        ({"name": "VIP", "description": "d" * 10_000}, True),
        ({"name": "VIP", "description": "d" * 10_001}, False),
        (
            {
                "name": "VIP",
                "metadata": {"info": [{"key": f"k{i}", "value": "v"} for i in range(50)]},
            },
            True,
        ),
        (
            {
                "name": "VIP",
                "metadata": {"info": [{"key": f"k{i}", "value": "v"} for i in range(51)]},
            },
            False,
        ),
        ({"name": "VIP", "metadata": {"info": [{"key": "k" * 50, "value": "v" * 255}]}}, True),
        ({"name": "VIP", "metadata": {"list": [f"item {i}" for i in range(50)]}}, True),
        ({"name": "VIP", "metadata": {"list": [f"item {i}" for i in range(51)]}}, False),
        ({"name": "VIP", "metadata": {"list": ["x" * 255]}}, True),
        ({"name": "VIP", "metadata": {"list": ["x" * 256]}}, False),
    ],
)
def test_limits_at_the_boundary_and_one_past(tag_api, body, ok):
    response = tag_api.post(URL, body, format="json")
    assert response.status_code == (201 if ok else 400), response.json()
    assert Tag.objects.count() == (1 if ok else 0)


@pytest.mark.parametrize(
    ("metadata", "attr", "code"),
    [
        (
            {"info": [{"key": "a", "value": "1"}, {"key": "", "value": "2"}]},
            "metadata.info.1.key",
            "blank",
        ),
        ({"info": [{"key": "k" * 51, "value": "1"}]}, "metadata.info.0.key", "max_length"),
        ({"info": [{"key": "a", "value": "v" * 256}]}, "metadata.info.0.value", "max_length"),
        ({"info": [{"key": "a", "value": ""}]}, "metadata.info.0.value", "blank"),
        (
            {
                "info": [
                    {"key": "a", "value": "1"},
                    {"key": "b", "value": "2"},
                    {"key": "c", "value": "3"},
                    {"key": "a", "value": "4"},
                ]
            },
            "metadata.info.3.key",
            "unique",
        ),
        ({"list": ["x", "y", "x"]}, "metadata.list.2", "unique"),
        ({"list": ["x" * 256]}, "metadata.list.0", "max_length"),
    ],
)
def test_each_metadata_violation_names_the_field_path(tag_api, metadata, attr, code):
    response = create(tag_api, metadata=metadata)
    assert response.status_code == 400
    assert errors(response) == [(code, attr)]


@pytest.mark.parametrize("name", ["VIP customers", "high-value_2024", "a", "A B C"])
def test_names_of_letters_digits_dashes_underscores_and_spaces_are_accepted(tag_api, name):
    assert tag_api.post(URL, {"name": name}, format="json").status_code == 201


@pytest.mark.parametrize("name", ["a/b", "v.i.p", "vip 🎉", "", "   ", "naïve"])
def test_other_characters_are_refused(tag_api, name):
    response = tag_api.post(URL, {"name": name}, format="json")
    assert response.status_code == 400
    assert errors(response)[0][1] == "name"
    assert Tag.objects.count() == 0


def test_name_is_stored_trimmed_with_spaces_collapsed(tag_api):
    response = tag_api.post(URL, {"name": "  Frequent   Buyers "}, format="json")
    assert response.json()["customer_tag"]["name"] == "Frequent Buyers"


# --- uniqueness -----------------------------------------------------------------------------


@pytest.mark.parametrize("duplicate", ["vip", "VIP", " Vip ", "vIp"])
def test_names_are_unique_case_insensitively(tag_api, duplicate):
    first = create(tag_api).json()["customer_tag"]
    response = tag_api.post(URL, {"name": duplicate}, format="json")
    assert response.status_code == 409
    assert response.json()["errors"] == [
        {
            "code": "duplicate_name",
            "detail": f"A tag named 'VIP' already exists (id {first['id']}).",
            "attr": "name",
        }
    ]
    assert Tag.objects.count() == 1


def test_a_deleted_tags_name_is_a_409_pointing_at_restore(tag_api):
    tag = TagFactory(name="VIP", is_deleted=True, deleted_at=timezone.now())
    response = tag_api.post(URL, {"name": "vip"}, format="json")
    assert response.status_code == 409
    (error,) = response.json()["errors"]
    assert error["code"] == "customer_tag_deleted"
    assert tag.id in error["detail"]
    assert "restore" in error["detail"]
    assert Tag.objects.count() == 1


def test_renaming_onto_another_tags_name_is_a_409(tag_api):
    TagFactory(name="Gold")
    silver = TagFactory(name="Silver")
    response = tag_api.patch(f"{URL}{silver.id}", {"name": "GOLD"}, format="json")
    assert response.status_code == 409
    silver.refresh_from_db()
    assert silver.name == "Silver"


def test_reference_id_is_unique(tag_api):
    TagFactory(reference_id="ref-1")
    response = tag_api.post(URL, {"name": "Other", "reference_id": "ref-1"}, format="json")
    assert response.status_code == 409
    assert errors(response) == [("duplicate", "reference_id")]


# --- reading --------------------------------------------------------------------------------


def test_retrieve_by_reference_id_with_and_without_includes(tag_api):
    tag = TagFactory(
        reference_id="freq", metadata={"info": [{"key": "a", "value": "b"}], "list": []}
    )
    plain = tag_api.get(f"{URL}freq?identify_by=reference_id")
    assert plain.status_code == 200
    assert plain.json()["customer_tag"]["id"] == tag.id
    assert "metadata" not in plain.json()["customer_tag"]
    included = tag_api.get(
        f"{URL}freq", {"identify_by": "reference_id", "includes": "customer_tag.metadata"}
    )
    assert included.json()["customer_tag"]["metadata"] == {
        "info": [{"key": "a", "value": "b"}],
        "list": [],
    }


def test_customer_count_counts_current_assignments_only(tag_api):
    tag = TagFactory(name="VIP")
    TagAssignmentFactory.create_batch(3, tag=tag)
    TagAssignmentFactory(tag=tag, expires_at=timezone.now() - timedelta(minutes=1))
    TagAssignmentFactory(tag=tag, expires_at=timezone.now() + timedelta(days=1))
    assert tag_api.get(f"{URL}{tag.id}").json()["customer_tag"]["customer_count"] == 4
    deleted = tag_api.delete(f"{URL}{tag.id}").json()["customer_tag"]
    assert deleted["customer_count"] == 0  # hidden while deleted...
    restored = tag_api.post(f"{URL}{tag.id}/restore", {}, format="json").json()["customer_tag"]
    assert restored["customer_count"] == 4  # ...and all back after restore


def test_list_filters_and_default_hides_deleted(tag_api):
    live = TagFactory(name="Live", reference_id="live-1")
    inactive = TagFactory(name="Sleepy", is_active=False)
    gone = TagFactory(name="Gone", is_deleted=True, deleted_at=timezone.now())

    def ids(query=""):
        return [t["id"] for t in tag_api.get(f"{URL}{query}").json()["customer_tags"]]

    assert ids() == [live.id, inactive.id]
    assert ids("?is_deleted=true") == [gone.id]
    assert ids("?is_active=false") == [inactive.id]
    assert ids("?name=LIVE") == [live.id]
    assert ids("?search=slee") == [inactive.id]
    assert ids("?reference_id=live-1") == [live.id]
    assert tag_api.get(f"{URL}?is_deleted=maybe").status_code == 400


def test_ordering_by_customer_count(tag_api):
    small, big = TagFactory(name="Small"), TagFactory(name="Big")
    TagAssignmentFactory(tag=small)
    TagAssignmentFactory.create_batch(3, tag=big)
    listed = tag_api.get(f"{URL}?ordering=-customer_count").json()["customer_tags"]
    assert [(t["name"], t["customer_count"]) for t in listed] == [("Big", 3), ("Small", 1)]
    by_name = tag_api.get(f"{URL}?ordering=name").json()["customer_tags"]
    assert [t["name"] for t in by_name] == ["Big", "Small"]


@pytest.mark.parametrize("size", [5, 50])
def test_list_query_count_is_constant(tag_api, django_assert_max_num_queries, size):
    for tag in TagFactory.create_batch(size):
        TagAssignmentFactory(tag=tag)
    tag_api.get(URL)  # first use of the token records last_used_at
    with django_assert_max_num_queries(4):  # token, permissions, the annotated page, aliases
        response = tag_api.get(f"{URL}?limit=100")
    assert len(response.json()["customer_tags"]) == size
    assert all(t["customer_count"] == 1 for t in response.json()["customer_tags"])


# --- the life of a tag ----------------------------------------------------------------------


def test_delete_update_refused_restore_update_allowed_with_history(tag_api):
    tag_id = create(tag_api, reason="launch").json()["customer_tag"]["id"]
    history = lambda: tag_api.get(f"{URL}{tag_id}/history").json()["history"]  # noqa: E731
    assert [(h["type"], h["reason"]) for h in history()] == [("created", "launch")]

    deleted = tag_api.delete(f"{URL}{tag_id}", {"reason": "typo"}, format="json")
    assert deleted.status_code == 200
    assert deleted.json()["customer_tag"]["is_deleted"] is True
    assert deleted.json()["customer_tag"]["deleted_at"] is not None
    assert history()[-1]["type"] == "deleted"
    assert history()[-1]["changes"] == {"is_deleted": [False, True]}

    refused = tag_api.patch(f"{URL}{tag_id}", {"description": "new"}, format="json")
    assert refused.status_code == 409
    assert refused.json()["errors"][0]["code"] == "customer_tag_deleted"
    assert tag_api.delete(f"{URL}{tag_id}").status_code == 409
    assert len(history()) == 2

    restored = tag_api.post(f"{URL}{tag_id}/restore", {"reason": "needed after all"}, format="json")
    assert restored.status_code == 200
    assert restored.json()["customer_tag"]["is_deleted"] is False
    assert (history()[-1]["type"], history()[-1]["reason"]) == ("restored", "needed after all")
    again = tag_api.post(f"{URL}{tag_id}/restore", {}, format="json")
    assert again.status_code == 409
    assert again.json()["errors"][0]["code"] == "customer_tag_not_deleted"

    updated = tag_api.patch(
        f"{URL}{tag_id}", {"description": "new", "reason": "docs"}, format="json"
    )
    assert updated.status_code == 200
    last = history()[-1]
    assert (last["type"], last["reason"], last["changes"]) == (
        "changed",
        "docs",
        {"description": ["", "new"]},
    )
    assert {h["by"] for h in history()} == {tag_api.user.username}
    assert [h["type"] for h in history()] == ["created", "deleted", "restored", "changed"]


def test_history_is_paginated_with_constant_queries(tag_api, django_assert_max_num_queries):
    tag_id = create(tag_api).json()["customer_tag"]["id"]
    for n in range(6):
        tag_api.patch(f"{URL}{tag_id}", {"description": f"v{n}"}, format="json")
    with django_assert_max_num_queries(5):
        page = tag_api.get(f"{URL}{tag_id}/history?limit=3").json()
    assert [h["type"] for h in page["history"]] == ["created", "changed", "changed"]
    second = tag_api.get(page["next"]).json()
    assert second["history"][0]["changes"] == {"description": ["v1", "v2"]}


def test_if_match_mismatch_is_a_412(tag_api):
    tag = TagFactory(name="VIP")
    etag = tag_api.get(f"{URL}{tag.id}")["ETag"]
    assert (
        tag_api.patch(
            f"{URL}{tag.id}", {"description": "a"}, format="json", HTTP_IF_MATCH=etag
        ).status_code
        == 200
    )
    stale = tag_api.patch(f"{URL}{tag.id}", {"description": "b"}, format="json", HTTP_IF_MATCH=etag)
    assert stale.status_code == 412
    assert tag_api.delete(f"{URL}{tag.id}", HTTP_IF_MATCH=etag).status_code == 412
    tag.refresh_from_db()
    assert (tag.description, tag.is_deleted) == ("a", False)


def test_restore_needs_its_own_permission():
    tag = TagFactory(name="VIP", is_deleted=True, deleted_at=timezone.now())
    client = make_client("tags.view_tag", "tags.change_tag", "tags.delete_tag")
    assert client.post(f"{URL}{tag.id}/restore", {}, format="json").status_code == 403
    tag.refresh_from_db()
    assert tag.is_deleted


def test_update_without_changes_records_nothing(tag_api):
    tag = TagFactory(name="VIP", description="same")
    tag_api.patch(
        f"{URL}{tag.id}", {"description": "same", "name": " vip "[1:4].upper()}, format="json"
    )
    assert tag.history.count() == 1


# --- the Payiano documents, replayed --------------------------------------------------------


def test_payiano_update_customer_tag_example(tag_api):
    # given the tag of the "Update customer tag" page
    tag = TagFactory(name="Regular Customers")
    body = {
        "name": "Frequent Buyers",
        "is_active": True,
        "reference_id": "7193edd2-7574-3b76-9103-e0e37580129b",
        "description": "Customers who make purchases more than twice a month.",
        "metadata": {
            "info": [{"key": "Company name", "value": "Pyngy"}],
            "list": ["Cairo, Nasr City, 7th District, Building 12 floor 5"],
        },
    }
    # when PUT with a Bearer token, asking for the metadata back
    response = tag_api.put(f"{URL}{tag.id}?includes=customer_tag.metadata", body, format="json")
    # then the documented object comes back in the envelope
    assert response.status_code == 200
    got = response.json()["customer_tag"]
    assert {k: got[k] for k in body} == body
    assert got["id"] == tag.id
    assert len(got["id"]) == 26
    assert got["is_deleted"] is False
    assert got["deleted_at"] is None
    assert set(got) >= {"created_at", "updated_at"}
    # and a soft-deleted tag may not be updated until restored
    tag_api.delete(f"{URL}{tag.id}")
    assert tag_api.put(f"{URL}{tag.id}", body, format="json").status_code == 409


def test_payiano_retrieve_customer_tag_example(tag_api):
    tag = TagFactory(
        name="Frequent Buyers",
        reference_id="7193edd2-7574-3b76-9103-e0e37580129b",
        description="Customers who make purchases more than twice a month.",
        metadata={"info": [{"key": "Company name", "value": "Pyngy"}], "list": ["Cairo"]},
    )
    response = tag_api.get(
        f"{URL}7193edd2-7574-3b76-9103-e0e37580129b",
        {"identify_by": "reference_id", "includes": "customer_tag.metadata"},
        HTTP_X_DATETIME_FORMAT="unix_ms",
    )
    got = response.json()["customer_tag"]
    assert got["id"] == tag.id
    assert got["metadata"] == {
        "info": [{"key": "Company name", "value": "Pyngy"}],
        "list": ["Cairo"],
    }
    assert isinstance(got["created_at"], int)
    assert isinstance(got["updated_at"], int)
    assert got["deleted_at"] is None


# --- partial updates and unknown fields ---------------------------------------------------


@pytest.mark.parametrize(
    ("metadata", "attr", "code"),
    [
        ({"info": [{"key": "k"}]}, "metadata.info.0.value", "required"),
        ({"info": [{"value": "v"}]}, "metadata.info.0.key", "required"),
        ({"info": [{"key": "k", "value": "v", "note": "x"}]}, "metadata.info.0.note", None),
        ({"category": "x"}, "metadata.category", "unknown_field"),
    ],
)
def test_a_patch_validates_nested_objects_as_whole_objects(tag_api, metadata, attr, code):
    # given a tag
    tag = TagFactory(name="VIP")
    # when a PATCH sends a nested item missing a required field (or with an unknown one)
    response = tag_api.patch(f"{URL}{tag.id}", {"metadata": metadata}, format="json")
    # then it is refused naming the item's field, and nothing is stored
    assert response.status_code == 400, response.json()
    error = response.json()["errors"][0]
    assert error["attr"] == attr
    assert error["code"] == (code or "unknown_field")
    tag.refresh_from_db()
    assert tag.metadata == {"info": [], "list": []}
    # and every read with the metadata still works
    assert tag_api.get(f"{URL}?includes=customer_tag.metadata").status_code == 200


def test_unknown_fields_on_a_tag_are_refused(tag_api):
    response = create(tag_api, metadata={"category": "x"})
    assert errors(response) == [("unknown_field", "metadata.category")]
    response = create(tag_api, colour="red")
    assert errors(response) == [("unknown_field", "colour")]
    response = create(tag_api, customer_count=5)
    assert errors(response) == [("unknown_field", "customer_count")]
    assert Tag.objects.count() == 0


def test_restore_refuses_unknown_fields(tag_api):
    tag = TagFactory(name="VIP", is_deleted=True, deleted_at=timezone.now())
    response = tag_api.post(f"{URL}{tag.id}/restore", {"why": "oops"}, format="json")
    assert errors(response) == [("unknown_field", "why")]
    tag.refresh_from_db()
    assert tag.is_deleted


def test_filter_text_longer_than_its_column_is_a_400(tag_api):
    for param, size in (("name", 101), ("reference_id", 51), ("search", 10_001)):
        response = tag_api.get(URL, {param: "a" * size})
        assert response.status_code == 400, param
        assert errors(response) == [("max_length", param)]
