"""The API against hand-written Django views, same process, same data, alternating rounds.

Per database (SQLite and PostgreSQL, one child process each), through Django's test client
and the whole middleware stack:

- ``list``: ``GET /api/v1/customers/?limit=50`` (50 customers with tags and status) against
  ``bench/hand_views.customer_list`` (same token check, permission, queries and bytes; the
  bytes are compared before timing);
- ``list+details``: the same with ``includes=customer.tag_details``;
- ``tag``: ``POST /api/v1/customers/{id}/tag`` adding 3 tags and removing 1, with history,
  against ``hand_views.customer_tag`` (the minimal statements) and against django-taggit's
  ``add()``/``remove()`` of the same tags on a mirror of the same customers.

Each round runs ``--per-round`` requests of every path, the order of the paths alternating
between rounds so machine noise hits them alike; the table gives the median over rounds of
each path's mean time per request.

    .venv/bin/python bench/api.py [--database both|sqlite|postgres] [--rounds 30]
    .venv/bin/python bench/api.py --database sqlite --profile list   # pyinstrument's top lines
"""

import argparse
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import ROOT, median, ms, print_table, setup_django

DATABASES = {
    "sqlite": f"sqlite:///{tempfile.gettempdir()}/tagdesk_bench_api.sqlite3",
    "postgres": os.environ.get(
        "BENCH_API_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/tagdesk_bench_api"
    ),
}
TAGS = 24
HELD = 5
LIST = "/api/v1/customers/?limit=50"
DETAILS = "/api/v1/customers/?limit=50&includes=customer.tag_details"
GOAL = 1.5
TAGGIT_GOAL = 0.7


def seed(customers: int) -> dict:
    """Customers with 5 of 24 tags each (some with metadata, an expiry, an assigner), a
    segment, a token of an "API read-write" user; the tag call's customers come three times
    (API, hand view, django-taggit), alike."""
    from datetime import timedelta

    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from django.utils import timezone

    from bench.taggit_compare.models import TaggitCustomer
    from config.api.services import token_issue
    from customers.models import Customer
    from segments.models import Segment
    from tags.models import Tag, TagAssignment

    user = get_user_model().objects.create_user("bench", password=None)
    user.groups.add(Group.objects.get(name="API read-write"))
    _, raw = token_issue(user=user)
    rng = random.Random(7)
    names = [f"tag-{i:02d}" for i in range(TAGS)]
    tags = Tag.objects.bulk_create([Tag(name=n, name_key=n) for n in names])
    segment = Segment.objects.create(name="Bench", name_key="bench")
    segment.tags_all.add(tags[0])
    listed = Customer.objects.bulk_create(
        [
            Customer(name=f"list {i}", email=f"c{i}@example.com", reference_id=f"ref-{i}")
            for i in range(customers)
        ]
    )
    later = timezone.now() + timedelta(days=30)
    holdings = {}
    mirrors = {"api": [], "hand": []}
    for path in mirrors:
        mirrors[path] = Customer.objects.bulk_create(
            [Customer(name=f"{path} {i}") for i in range(customers)]
        )
    assignments = []
    for i in range(customers):
        held = rng.sample(range(TAGS), HELD)
        holdings[i] = set(held)
        for k in held:
            assignments.append(
                TagAssignment(
                    customer=listed[i],
                    tag=tags[k],
                    category="loyalty" if k % 2 else "",
                    source="api",
                    expires_at=later if k % 3 == 0 else None,
                    assigned_by=user if k % 4 == 0 else None,
                )
            )
            for path in mirrors:
                assignments.append(TagAssignment(customer=mirrors[path][i], tag=tags[k]))
    TagAssignment.objects.bulk_create(assignments)
    taggit = TaggitCustomer.objects.bulk_create(
        [TaggitCustomer(name=f"taggit {i}") for i in range(customers)]
    )
    taggit[0].tags.add(*names)  # taggit's tags exist up front, as ours do
    taggit[0].tags.clear()
    for i, customer in enumerate(taggit):
        customer.tags.add(*(names[k] for k in holdings[i]))
    return {
        "token": raw,
        "names": names,
        "holdings": holdings,
        "api": [c.id for c in mirrors["api"]],
        "hand": [c.id for c in mirrors["hand"]],
        "taggit": taggit,
    }


def plan(data: dict, count: int, rng: random.Random) -> list[tuple[int, list[str], list[str]]]:
    """``count`` calls each adding 3 tags the customer lacks and removing 1 it holds."""
    ops: list = []
    names = data["names"]
    while len(ops) < count:
        index = rng.randrange(len(data["holdings"]))
        held = data["holdings"][index]
        if len(held) > TAGS - 4:  # no room left on this one
            continue
        add = rng.sample(sorted(set(range(TAGS)) - held), 3)
        remove = rng.sample(sorted(held), 1)
        held.update(add)
        held.difference_update(remove)
        ops.append((index, [names[k] for k in add], [names[k] for k in remove]))
    return ops


def profile(client, headers: dict, data: dict, which: str, count: int) -> None:
    from pyinstrument import Profiler

    ops = plan(data, count, random.Random(99)) if which == "tag" else []
    profiler = Profiler(interval=0.0002)
    profiler.start()
    if which == "tag":
        for index, add, remove in ops:
            response = client.post(
                f"/api/v1/customers/{data['api'][index]}/tag",
                {"tags_to_add": add, "tags_to_remove": remove},
                content_type="application/json",
                **headers,
            )
            assert response.status_code == 200, response.content
    else:
        path = DETAILS if which == "details" else LIST
        for _ in range(count):
            assert client.get(path, **headers).status_code == 200
    profiler.stop()
    text = profiler.output_text(unicode=True, color=False, show_all=False)
    print("\n".join(line for line in text.splitlines()[:70] if line.strip()))
    flat = profiler.output_text(unicode=True, color=False, flat=True)
    print("\n".join(line for line in flat.splitlines()[:40] if line.strip()))


def run_database(database: str, args: argparse.Namespace) -> None:
    setup_django(url=DATABASES[database])
    from django.db import connection
    from django.test import Client

    from config.events.models import Event

    data = seed(args.customers)
    client = Client()
    headers = {"HTTP_AUTHORIZATION": f"Bearer {data['token']}"}
    # first use of the token, rules loaded, connections warm
    for path in (LIST, DETAILS):
        client.get(path, **headers)
        client.get(f"/hand{path}", **headers)
    if args.profile:
        return profile(client, headers, data, args.profile, args.per_round * args.rounds)

    for path in (LIST, DETAILS):
        api, hand = client.get(path, **headers), client.get(f"/hand{path}", **headers)
        assert api.status_code == hand.status_code == 200, (api.content[:300], hand.content[:300])
        assert api.content == hand.content, f"{path}: the hand view answers other bytes"

    def tag(path: str, customers: list[str], op) -> None:
        index, add, remove = op
        response = client.post(
            f"{path}/api/v1/customers/{customers[index]}/tag",
            {"tags_to_add": add, "tags_to_remove": remove},
            content_type="application/json",
            **headers,
        )
        assert response.status_code == 200, response.content
        return response.json()

    def taggit(op) -> None:
        index, add, remove = op
        customer = data["taggit"][index]
        customer.tags.add(*add)
        customer.tags.remove(*remove)

    first = plan(data, 1, random.Random(0))[0]
    api_answer, hand_answer = tag("", data["api"], first), tag("/hand", data["hand"], first)
    taggit(first)
    # The same event by both: one ``customer.tags_changed`` with the same added and removed.
    events = [
        Event.objects.filter(customer_id=answer["id"], type="customer.tags_changed")
        .values_list("data", flat=True)
        .get()
        for answer in (api_answer, hand_answer)
    ]
    assert events[0] == events[1], events
    for answer in (api_answer, hand_answer):
        answer.pop("id"), answer.pop("updated_at")
    assert api_answer == hand_answer, (api_answer, hand_answer)

    paths = {
        "list": lambda i: client.get(LIST, **headers),
        "list hand": lambda i: client.get(f"/hand{LIST}", **headers),
        "details": lambda i: client.get(DETAILS, **headers),
        "details hand": lambda i: client.get(f"/hand{DETAILS}", **headers),
        "tag": lambda i: tag("", data["api"], ops[i]),
        "tag hand": lambda i: tag("/hand", data["hand"], ops[i]),
        "tag taggit": lambda i: taggit(ops[i]),
    }
    samples: dict[str, list[float]] = {name: [] for name in paths}
    rng = random.Random(1)
    for round_ in range(args.rounds):
        ops = plan(data, args.per_round, rng)
        order = list(paths) if round_ % 2 == 0 else list(reversed(paths))
        for name in order:
            start = time.perf_counter()
            for i in range(len(ops)):
                paths[name](i)
            samples[name].append((time.perf_counter() - start) / len(ops))
    connection.close()

    def row(label: str, name: str, base: str, goal: float) -> list[object]:
        ours, theirs = median(samples[name]), median(samples[base])
        ratio = ours / theirs
        return [
            label,
            ms(ours),
            ms(theirs),
            f"{ratio:.2f}x",
            f"≤ {goal}x",
            "yes" if ratio <= goal else "NO",
        ]

    print_table(
        f"{database}: ms per request, median of {args.rounds} rounds × {args.per_round}, "
        f"{args.customers} customers",
        ["path", "Tagdesk ms", "baseline ms", "ratio", "goal", "met"],
        [
            row("GET /customers/?limit=50 vs hand view", "list", "list hand", GOAL),
            row("… includes=customer.tag_details vs hand", "details", "details hand", GOAL),
            row("POST …/tag (+3 −1) vs hand view", "tag", "tag hand", GOAL),
            row("POST …/tag (+3 −1) vs taggit add/remove", "tag", "tag taggit", TAGGIT_GOAL),
        ],
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database", choices=["both", *DATABASES], default="both")
    parser.add_argument("--customers", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--per-round", type=int, default=10)
    parser.add_argument("--profile", choices=["list", "details", "tag"])
    args = parser.parse_args()
    if args.database != "both":
        return run_database(args.database, args)
    for database in DATABASES:
        command = [
            sys.executable,
            str(Path(__file__).resolve()),
            *sys.argv[1:],
            "--database",
            database,
        ]
        subprocess.run(command, check=True, cwd=ROOT)


if __name__ == "__main__":
    main()
