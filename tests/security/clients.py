"""Many clients at once against a served test server, each on its own keep-alive connection."""

import http.client
import json
import threading
from collections.abc import Callable

from tests.security.conftest import Server

CLIENT_TIMEOUT_SECONDS = 120


def requests_in_parallel(
    server: Server,
    count: int,
    request: Callable[[int], tuple[str, str, dict | None]],
    while_held: Callable[[], None] = lambda: None,
) -> list[int]:
    """Open ``count`` connections, make ``request(i)`` (method, path, body) on each at once,
    run ``while_held`` while every connection is still open, then close them; the statuses
    (or 599 when a connection failed) in order."""
    statuses = [0] * count
    done = threading.Barrier(count + 1)
    release = threading.Event()
    start = threading.Barrier(count)

    def client(index: int) -> None:
        conn = http.client.HTTPConnection(server.host, server.port, timeout=CLIENT_TIMEOUT_SECONDS)
        try:
            method, path, body = request(index)
            headers = {"Authorization": f"Bearer {server.token}", "Connection": "keep-alive"}
            payload = None
            if body is not None:
                payload = json.dumps(body)
                headers["Content-Type"] = "application/json"
            start.wait()
            conn.request(method, path, body=payload, headers=headers)
            response = conn.getresponse()
            response.read()
            statuses[index] = response.status
        except (OSError, http.client.HTTPException, threading.BrokenBarrierError):
            statuses[index] = 599
        finally:
            try:
                done.wait(timeout=CLIENT_TIMEOUT_SECONDS)
                release.wait(timeout=CLIENT_TIMEOUT_SECONDS)
            finally:
                conn.close()

    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(count)]
    for thread in threads:
        thread.start()
    try:
        done.wait(timeout=CLIENT_TIMEOUT_SECONDS)
        while_held()
    finally:
        release.set()
        for thread in threads:
            thread.join(timeout=CLIENT_TIMEOUT_SECONDS)
    return statuses
