"""Segment count: the ORM membership query vs the best hand-written SQL, side by side.

Builds (once per run) N customers with K assignments each over T tags directly in SQL, then
times, alternating, for an all-of-2 / none-of-1 rule:
  - hand SQL A: EXISTS / EXISTS / NOT EXISTS on the assignments (tags known to be live)
  - hand SQL B: GROUP BY customer HAVING count = 2, minus NOT EXISTS
  - Tagdesk: ``segment_count(segment)`` (what GET /segments/{id}/count runs)
  - Tagdesk API: GET /api/v1/segments/{id}/count through the test client

    cd bench && ../.venv/bin/python segments.py [--customers 1000000] [--rounds 5] [--reuse]
"""

import argparse
import time

from common import median, ms, print_table, setup_django

HAND_A = """
SELECT count(*) FROM customers_customer c
WHERE EXISTS (SELECT 1 FROM tags_tagassignment a WHERE a.customer_id = c.id AND a.tag_id = %(t1)s
              AND (a.expires_at IS NULL OR a.expires_at > now()))
  AND EXISTS (SELECT 1 FROM tags_tagassignment a WHERE a.customer_id = c.id AND a.tag_id = %(t2)s
              AND (a.expires_at IS NULL OR a.expires_at > now()))
  AND NOT EXISTS (SELECT 1 FROM tags_tagassignment a WHERE a.customer_id = c.id AND a.tag_id = %(t3)s
              AND (a.expires_at IS NULL OR a.expires_at > now()))
"""
HAND_B = """
SELECT count(*) FROM (
  SELECT customer_id FROM tags_tagassignment
  WHERE tag_id IN (%(t1)s, %(t2)s) AND (expires_at IS NULL OR expires_at > now())
  GROUP BY customer_id HAVING count(*) = 2
) m
WHERE NOT EXISTS (SELECT 1 FROM tags_tagassignment a WHERE a.customer_id = m.customer_id
                  AND a.tag_id = %(t3)s AND (a.expires_at IS NULL OR a.expires_at > now()))
"""


def build(customers: int, tags: int, per_customer: int) -> None:
    from django.db import connection

    from config.fields import ulid_to_uuid
    from statuses.selectors import default_status_label_id

    label = default_status_label_id()
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO tags_tag (id, name, name_key, description, is_active, metadata, is_deleted,"
            " created_at, updated_at) SELECT md5('tag' || n)::uuid, 'tag ' || n, 'tag ' || n, '',"
            " true, '{}', false, now(), now() FROM generate_series(0, %s - 1) n",
            [tags],
        )
        cursor.execute(
            "INSERT INTO customers_customer (id, name, metadata, created_at, updated_at,"
            " status_label_id) SELECT md5('c' || i)::uuid, 'customer ' || i, '{}', now(), now(), %s"
            " FROM generate_series(1, %s) i",
            [ulid_to_uuid(label), customers],
        )
        # tag n's popularity falls with n: low-numbered tags are common, as in real data
        cursor.execute(
            "INSERT INTO tags_tagassignment (customer_id, tag_id, category, source, created_at)"
            " SELECT md5('c' || i)::uuid, md5('tag' || ((i::bigint * 7919 + k * 104729) %% %s))::uuid,"
            " '', 'bench', now() FROM generate_series(1, %s) i, generate_series(0, %s - 1) k"
            " ON CONFLICT DO NOTHING",
            [tags, customers, per_customer],
        )
        cursor.execute("ANALYZE")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--tags", type=int, default=50)
    parser.add_argument("--per-customer", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--reuse", action="store_true", help="Keep the data a previous run built (same sizes)."
    )
    args = parser.parse_args()
    setup_django(reset=not args.reuse)
    from customers.models import Customer

    if not (args.reuse and Customer.objects.exists()):
        started = time.perf_counter()
        build(args.customers, args.tags, args.per_customer)
        print(f"built {args.customers:,} customers in {time.perf_counter() - started:.0f} s")

    from django.contrib.auth import get_user_model
    from django.db import connection
    from rest_framework.test import APIClient

    from config.api.services import token_issue
    from config.fields import ulid_to_uuid
    from segments.selectors import segment_count
    from segments.services import segment_save
    from tags.models import Tag

    # customer i holds tags {19i, 19i+29, 19i+8, 19i+37, 19i+16} mod 50: tags 0 and 8 come
    # together for three bases, and 16 excludes one of them, so about 4% are members
    t1, t2, t3 = (Tag.objects.get(name=f"tag {n}") for n in (0, 8, 16))
    from segments.models import Segment

    Segment.objects.filter(name="bench").delete()
    segment = segment_save(
        segment=None,
        data={"name": "bench", "rule": {"all": [t1.name, t2.name], "none": [t3.name]}},
        actor=None,
    )
    user = get_user_model().objects.filter(
        username="bench"
    ).first() or get_user_model().objects.create_superuser("bench", password=None)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token_issue(user=user)[1]}")
    params = {"t1": ulid_to_uuid(t1.id), "t2": ulid_to_uuid(t2.id), "t3": ulid_to_uuid(t3.id)}

    def sql(query):
        def run():
            with connection.cursor() as cursor:
                cursor.execute(query, params)
                return cursor.fetchone()[0]

        return run

    def orm():
        return segment_count(segment)

    def api():
        return client.get(f"/api/v1/segments/{segment.id}/count").json()["customer_count"]

    paths = {
        "hand SQL A (EXISTS)": sql(HAND_A),
        "hand SQL B (GROUP BY)": sql(HAND_B),
        "Tagdesk ORM": orm,
        "Tagdesk API": api,
    }
    counts = {name: fn() for name, fn in paths.items()}  # warm caches, and check they agree
    assert len(set(counts.values())) == 1, counts
    samples: dict[str, list[float]] = {name: [] for name in paths}
    for _ in range(args.rounds):
        for name, fn in paths.items():
            start = time.perf_counter()
            fn()
            samples[name].append(time.perf_counter() - start)
    best_hand = min(
        median(samples["hand SQL A (EXISTS)"]), median(samples["hand SQL B (GROUP BY)"])
    )
    print_table(
        f"Segment count, all-of-2 none-of-1, {args.customers:,} customers, "
        f"{args.customers * args.per_customer:,} assignments, {next(iter(counts.values())):,} members, "
        f"median of {args.rounds} (PostgreSQL)",
        ["query", "ms", "vs best hand SQL"],
        [[name, ms(median(s)), f"{median(s) / best_hand:.2f}x"] for name, s in samples.items()],
    )


if __name__ == "__main__":
    main()
