"""A delivery load generator: many concurrent clients, each a thread on one keep-alive
connection (``http.client``), sending bodies from a shared list. Run it in a process of its
own (``ProcessPoolExecutor``), so that the clients do not share an interpreter with what they
measure. Used by the webhook load test and bench/webhook.py."""

from __future__ import annotations

import http.client
import threading
import time
from collections import Counter
from urllib.parse import urlsplit


def deliver_all(
    url: str, bodies: list[bytes], headers: dict[str, str], clients: int
) -> tuple[dict[int, int], list[float]]:
    """POST every body once; the status counts and each request's latency in seconds."""
    parts = urlsplit(url)
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    lock = threading.Lock()
    next_body = iter(bodies)
    statuses: Counter[int] = Counter()
    latencies: list[float] = []

    def client() -> None:
        connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
        connection.connect()
        own: list[float] = []
        own_statuses: Counter[int] = Counter()
        while True:
            with lock:
                body = next(next_body, None)
            if body is None:
                break
            started = time.perf_counter()
            connection.request(
                "POST",
                path,
                body=body,
                headers={"Content-Type": "application/json", **headers},
            )
            response = connection.getresponse()
            response.read()
            own.append(time.perf_counter() - started)
            own_statuses[response.status] += 1
        connection.close()
        with lock:
            latencies.extend(own)
            statuses.update(own_statuses)

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return dict(statuses), latencies
