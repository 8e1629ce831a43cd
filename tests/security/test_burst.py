"""A burst of parallel clients through a real server gets no 5xx (both databases)."""

import pytest

from tests.security.clients import requests_in_parallel

pytestmark = pytest.mark.django_db(transaction=True)

CLIENTS = 50


def test_a_burst_of_parallel_clients_gets_no_server_error(served):
    # given 50 clients at once: health checks, reads, writes, unknown paths, bad bodies
    def request(index: int):
        return [
            ("GET", "/healthz", None),
            ("GET", "/api/v1/customers/?limit=5", None),
            ("GET", "/api/v1/customers", None),
            (
                "POST",
                "/api/v1/customers/",
                {"name": f"Burst {index}", "email": f"b{index}@example.com"},
            ),
            ("POST", "/api/v1/customers", {"name": 5}),
            ("GET", "/api/v1/nothing", None),
            ("GET", "/static/admin/css/base.css", None),
        ][index % 7]

    # when they all send together
    statuses = requests_in_parallel(served, CLIENTS, request)
    # then nothing is a server error and each kind got its expected answer
    assert [s for s in statuses if s >= 500] == []
    expected = {0: 200, 1: 200, 2: 200, 3: 201, 4: 400, 5: 404, 6: 200}
    assert all(status == expected[i % 7] for i, status in enumerate(statuses)), statuses
