"""Tag endpoint vs django-taggit, same work on the same data, side by side on PostgreSQL.

Each operation adds 5 tags to a customer and removes 3: Tagdesk through the real API
(POST /api/v1/customers/{id}/tag via Django's test client: auth, validation, history, response)
and django-taggit through ``customer.tags.add()/remove()`` (no API, no history). Rounds
alternate between the two so machine noise hits both alike.

    .venv/bin/python bench/tagging.py [--customers 200] [--ops 400] [--rounds 3]
"""

import argparse
import random

from common import median, ms, print_table, setup_django, timed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, default=200)
    parser.add_argument("--tags", type=int, default=60)
    parser.add_argument("--ops", type=int, default=400)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    setup_django()

    from django.contrib.auth import get_user_model
    from rest_framework.test import APIClient

    from bench.taggit_compare.models import TaggitCustomer
    from config.api.services import token_issue
    from customers.models import Customer
    from tags.models import Tag

    user = get_user_model().objects.create_superuser("bench", password=None)
    _, raw = token_issue(user=user)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    names = [f"tag-{i}" for i in range(args.tags)]
    Tag.objects.bulk_create([Tag(name=n, name_key=n) for n in names])
    customers = Customer.objects.bulk_create(
        [Customer(name=f"c{i}") for i in range(args.customers)]
    )
    taggit_customers = TaggitCustomer.objects.bulk_create(
        [TaggitCustomer(name=f"c{i}") for i in range(args.customers)]
    )
    TaggitCustomer.objects.first().tags.add(*names)  # create taggit's tags up front, as ours exist
    TaggitCustomer.objects.first().tags.clear()

    def plan(seed: int):
        rng = random.Random(seed)
        return [
            (rng.randrange(args.customers), rng.sample(names, 5), rng.sample(names, 3))
            for _ in range(args.ops)
        ]

    def run_tagdesk(ops):
        for index, add, remove in ops:
            remove = [n for n in remove if n not in add]
            response = client.post(
                f"/api/v1/customers/{customers[index].id}/tag",
                {"tags_to_add": add, "tags_to_remove": remove},
                format="json",
            )
            assert response.status_code == 200, response.content

    def run_taggit(ops):
        for index, add, remove in ops:
            remove = [n for n in remove if n not in add]
            customer = taggit_customers[index]
            customer.tags.add(*add)
            customer.tags.remove(*remove)

    results = {"tagdesk": [], "taggit": []}
    for round_ in range(args.rounds):
        ops = plan(round_)
        results["tagdesk"] += timed(lambda ops=ops: run_tagdesk(ops))
        results["taggit"] += timed(lambda ops=ops: run_taggit(ops))
    base = median(results["taggit"])
    rows = [
        [
            name,
            args.ops,
            ms(median(samples)),
            ms(median(samples) / args.ops),
            f"{median(samples) / base:.2f}x",
        ]
        for name, samples in (
            ("django-taggit add()/remove()", results["taggit"]),
            ("Tagdesk POST .../tag", results["tagdesk"]),
        )
    ]
    print_table(
        f"Tagging: add 5 + remove 3 tags per operation, {args.customers} customers, "
        f"{args.tags} tags, median of {args.rounds} rounds (PostgreSQL)",
        ["path", "ops", "total ms", "ms/op", "vs taggit"],
        rows,
    )


if __name__ == "__main__":
    main()
