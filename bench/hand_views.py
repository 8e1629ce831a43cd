"""The baselines of ``bench/api.py``: the customer list and the tag call written by hand.

Plain Django views with none of the project's machinery: the same token check (one query for
token, user and permissions), the same permission, the same queries as ``values()`` rows, and
``orjson`` for the JSON. The list answers the same bytes as ``GET /api/v1/customers/``
(checked before timing). The tag call issues the minimal statements: the tag lookup, the
customer lock, DELETE … RETURNING, INSERT … RETURNING, one INSERT of the history rows, and the
customer's ``customer.tags_changed`` event (one INSERT), and the current tags for the answer.
"""

import base64
import hashlib
import json
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

import orjson
from django.db import connection, transaction
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt

from config.events.models import Event
from config.fields import new_ulid, ulid_to_uuid, uuid_from_db, uuid_to_ulid
from config.names import name_key
from customers.models import Customer
from segments.selectors import segments_of_customer
from tags.models import Tag, TagAssignment

JSON = "application/json"


def _error(status: int, code: str, detail: str) -> HttpResponse:
    body = {"type": "client_error", "errors": [{"code": code, "detail": detail, "attr": None}]}
    return HttpResponse(orjson.dumps(body), status=status, content_type=JSON)


def _authenticate(request: HttpRequest, permission: str) -> tuple[int, str] | HttpResponse:
    """(user id, username) of the bearer token's user holding ``permission``, else 401/403:
    one query for token, user and the permission."""
    header = request.META.get("HTTP_AUTHORIZATION", "")
    keyword, _, raw = header.partition(" ")
    if keyword.lower() not in ("bearer", "token") or not raw:
        return _error(401, "not_authenticated", "Authentication credentials were not provided.")
    app_label, codename = permission.split(".")
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT t.id, t.last_used_at, u.id, u.username, u.is_superuser OR EXISTS ("
            " SELECT 1 FROM auth_permission p JOIN django_content_type ct"
            " ON ct.id = p.content_type_id WHERE ct.app_label = %s AND p.codename = %s AND ("
            "  p.id IN (SELECT permission_id FROM auth_user_user_permissions WHERE user_id = u.id)"
            "  OR p.id IN (SELECT gp.permission_id FROM auth_group_permissions gp"
            "   JOIN auth_user_groups ug ON ug.group_id = gp.group_id WHERE ug.user_id = u.id)))"
            " FROM api_apitoken t JOIN auth_user u ON u.id = t.user_id"
            " WHERE t.digest = %s AND t.revoked_at IS NULL AND u.is_active"
            " AND (t.expires_at IS NULL OR t.expires_at > %s)",
            [
                app_label,
                codename,
                hashlib.sha256(raw.encode("utf-8", "surrogatepass")).hexdigest(),
                timezone.now(),
            ],
        )
        row = cursor.fetchone()
    if row is None:
        return _error(401, "authentication_failed", "Invalid, expired or revoked token.")
    token_id, last_used_at, user_id, username, allowed = row
    now = timezone.now()
    if last_used_at is None or now - _aware(last_used_at) > timedelta(seconds=60):
        with connection.cursor() as cursor:
            cursor.execute(
                "UPDATE api_apitoken SET last_used_at = %s WHERE id = %s", [now, token_id]
            )
    if not allowed:
        return _error(
            403, "permission_denied", "You do not have permission to perform this action."
        )
    return user_id, username


def _aware(value) -> datetime:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _when(value: datetime | None, unix_ms: bool):
    if value is None:
        return None
    if unix_ms:
        return int(value.timestamp() * 1000)
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def customer_list(request: HttpRequest) -> HttpResponse:
    """``GET /api/v1/customers/?limit=N[&includes=customer.tag_details]``, first page."""
    auth = _authenticate(request, "customers.view_customer")
    if isinstance(auth, HttpResponse):
        return auth
    limit = int(request.GET.get("limit", 50))
    details = "customer.tag_details" in request.GET.get("includes", "")
    unix_ms = request.META.get("HTTP_X_DATETIME_FORMAT", "").lower() == "unix_ms"
    rows = list(
        Customer.objects.order_by("id").values_list(
            "id", "reference_id", "name", "email", "mobile",
            "status_label__status__name", "status_label__name", "created_at", "updated_at",
        )[: limit + 1]
    )  # fmt: skip
    more = len(rows) > limit
    rows = rows[:limit]
    fields = ["customer_id", "tag__name"]
    if details:
        fields += ["tag_id", "category", "source", "expires_at", "assigned_by__username"]
        fields.append("created_at")
    tags: dict[str, list] = {}
    for row in (
        TagAssignment.objects.filter(customer_id__in=[r[0] for r in rows], tag__is_deleted=False)
        .exclude(expires_at__lte=timezone.now())
        .order_by("tag__name")
        .values_list(*fields)
    ):
        tags.setdefault(row[0], []).append(row)
    customers = []
    for id_, reference_id, name, email, mobile, status, label, created, updated in rows:
        held = tags.get(id_, ())
        customer = {
            "id": id_,
            "reference_id": reference_id,
            "name": name,
            "email": email,
            "mobile": mobile,
            "status": {"status": status, "label": label} if label is not None else None,
            "tags": [row[1] for row in held],
        }
        if details:
            customer["tag_details"] = [
                {
                    "tag_id": tag_id,
                    "name": tag_name,
                    "category": category,
                    "source": source,
                    "expires_at": _when(expires_at, unix_ms),
                    "assigned_by": by,
                    "created_at": _when(at, unix_ms),
                }
                for _, tag_name, tag_id, category, source, expires_at, by, at in held
            ]
        customer["created_at"] = _when(created, unix_ms)
        customer["updated_at"] = _when(updated, unix_ms)
        customers.append(customer)
    next_url = None
    if more:
        cursor = base64.b64encode(urlencode({"p": rows[-1][0]}).encode()).decode()
        query = {**request.GET.dict(), "cursor": cursor}
        path = request.path.removeprefix("/hand")
        next_url = (
            f"{request.scheme}://{request.get_host()}{path}?{urlencode(sorted(query.items()))}"
        )
    body = {"customers": customers, "next": next_url, "previous": None}
    return HttpResponse(orjson.dumps(body), content_type=JSON)


def _tag_statements(
    customer: str,
    add: list[str],
    remove: list[str],
    user: tuple[int, str],
    now: datetime,
    names: dict[str, str],
) -> tuple[list[str], list[str]]:
    """Lock, delete-returning, insert-returning, the history rows of both, the customer's event;
    (added, removed) tag ids. One transaction, called inside it."""
    user_id, username = user
    sqlite = connection.vendor == "sqlite"

    def stored(ulid: str) -> str:
        value = ulid_to_uuid(ulid)
        return value.hex if sqlite else str(value)

    ts = now if not sqlite else now.astimezone(UTC).replace(tzinfo=None).isoformat(" ")
    columns = "id, customer_id, tag_id, category, source, expires_at, assigned_by_id, created_at"
    with connection.cursor() as cursor:
        if not sqlite:
            cursor.execute(
                "SELECT 1 FROM customers_customer WHERE id = %s FOR NO KEY UPDATE",
                [stored(customer)],
            )
        removed = []
        if remove:
            cursor.execute(
                "DELETE FROM tags_tagassignment WHERE customer_id = %s AND tag_id IN ("
                + ", ".join(["%s"] * len(remove))
                + ") AND (expires_at IS NULL OR expires_at > %s) RETURNING "
                + columns,
                [stored(customer), *map(stored, remove), ts],
            )
            removed = cursor.fetchall()
        added = []
        if add:
            cursor.execute(
                "INSERT INTO tags_tagassignment (customer_id, tag_id, category, source, "
                "expires_at, assigned_by_id, created_at) VALUES "
                + ", ".join(["(%s, %s, '', 'api', NULL, %s, %s)"] * len(add))
                + " ON CONFLICT (customer_id, tag_id) DO UPDATE SET category = excluded.category, "
                "source = excluded.source, expires_at = excluded.expires_at, "
                "assigned_by_id = excluded.assigned_by_id, created_at = excluded.created_at "
                "WHERE tags_tagassignment.expires_at IS NOT NULL "
                "AND tags_tagassignment.expires_at <= %s RETURNING " + columns,
                [v for tag in add for v in (stored(customer), stored(tag), user_id, ts)] + [ts],
            )
            added = cursor.fetchall()
        history = [
            (*row, ts, kind, user_id)
            for kind, rows in (("-", removed), ("+", added))
            for row in rows
        ]
        if history:
            cursor.execute(
                "INSERT INTO tags_historicaltagassignment (" + columns + ", history_date, "
                "history_type, history_user_id) VALUES "
                + ", ".join(["(" + ", ".join(["%s"] * 11) + ")"] * len(history)),
                [v for row in history for v in row],
            )
        added_ids = [uuid_to_ulid(uuid_from_db(row[2])) for row in added]
        removed_ids = [uuid_to_ulid(uuid_from_db(row[2])) for row in removed]
        if history:

            def items(rows, ids) -> list[dict]:
                return sorted(
                    (
                        {
                            "name": names[tag],
                            "tag_id": tag,
                            "category": row[3],
                            "source": row[4],
                            "expires_at": row[5],
                        }
                        for row, tag in zip(rows, ids, strict=True)
                    ),
                    key=lambda item: item["name"],
                )

            data = {
                "added": items(added, added_ids),
                "removed": items(removed, removed_ids),
                "reason": None,
            }
            txid = (
                f"(SELECT COALESCE(MAX(txid), 0) + 1 FROM {Event._meta.db_table})"
                if sqlite
                else "pg_current_xact_id()"
            )
            cursor.execute(
                f"INSERT INTO {Event._meta.db_table} (id, txid, type, occurred_at, actor_type, "
                "actor_id, actor_username, request_id, change_set_id, customer_id, subject_id, "
                f"data) VALUES (%s, {txid}, 'customer.tags_changed', %s, 'user', %s, %s, '', "
                "NULL, %s, NULL, %s)",
                [
                    stored(new_ulid()),
                    ts,
                    str(user_id),
                    username,
                    stored(customer),
                    orjson.dumps(data).decode(),
                ],
            )
    return added_ids, removed_ids


@csrf_exempt
def customer_tag(request: HttpRequest, id: str) -> HttpResponse:
    """``POST /api/v1/customers/{id}/tag`` for existing tags, by hand."""
    auth = _authenticate(request, "customers.tag_customer")
    if isinstance(auth, HttpResponse):
        return auth
    user_id, username = auth
    data = json.loads(request.body)
    add_names, remove_names = data.get("tags_to_add", []), data.get("tags_to_remove", [])
    keys = [name_key(n) for n in [*add_names, *remove_names]]
    tags = {
        k: (i, n)
        for k, i, n in Tag.objects.filter(name_key__in=keys).values_list("name_key", "id", "name")
    }
    customer = Customer.objects.filter(pk=id).values_list("id", "status_label_id").first()
    if customer is None:
        return _error(404, "not_found", "Not found.")
    now = timezone.now()
    names = dict(tags.values())
    with transaction.atomic():
        added, removed = _tag_statements(
            customer[0],
            [tags[name_key(n)][0] for n in add_names],
            [tags[name_key(n)][0] for n in remove_names if name_key(n) in tags],
            (user_id, username),
            now,
            names,
        )
        current = dict(
            TagAssignment.objects.filter(customer_id=customer[0], tag__is_deleted=False)
            .exclude(expires_at__lte=now)
            .order_by("tag__name")
            .values_list("tag_id", "tag__name")
        )
    body = {
        "id": customer[0],
        "current_tags": list(current.values()),
        "tags_added": sorted(names[t] for t in added),
        "tags_removed": sorted(names[t] for t in removed),
        "tag_count": len(current),
        "segments": segments_of_customer(tag_names_by_id=current, label_id=customer[1]),
        "warnings": [],
        "updated_at": _when(now, False),
        "updated_by": username,
        "success": True,
    }
    return HttpResponse(orjson.dumps(body), content_type=JSON)
