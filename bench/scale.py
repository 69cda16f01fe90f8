"""Benchmark: scale-out. A CPU-heavy mapping flow (50 mapping fields, 35 of them date parsing
and formatting across time zones) moving 20,000 records from the fake SaaS app (in a process of
its own) to its batch endpoint, run three ways in the same run:

- ``embedded``: the default install: SQLite, SQLite Celery transport, the worker in threads of
  this process (as ``integrator serve`` runs it);
- ``1 worker``: PostgreSQL + RabbitMQ, one ``integrator worker`` process;
- ``2 workers``: PostgreSQL + RabbitMQ, two ``integrator worker`` processes.

Each run gets a fresh database (and vhost) and a fresh fake; workers are up before the clock
starts; the clock runs from queuing the job to its end. Prints records per second and two
ratios: 2 workers / 1 worker (target >= 1.6 on 2 cores) and 1 worker / embedded.

    .venv/bin/python bench/scale.py [--records 20000] [--concurrency 2] [--rounds 1]

Needs PostgreSQL, RabbitMQ (and ``rabbitmqctl`` for a vhost of its own) as the scale tests do
(tests/scale/cluster.py), and the dev dependencies (the fake app is in tests/fakes).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx2
import orjson

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "tests" / "scale"), str(ROOT / "bench")]

from cluster import Cluster, cluster  # noqa: E402
from flow import fake_process  # noqa: E402

ZONES = ["UTC", "America/New_York", "Europe/Paris", "Asia/Tokyo", "Australia/Sydney"]
FORMATS = [
    "YYYY-MM-DD",
    "MM/DD/YYYY hh:mm A",
    "dddd, MMMM Do YYYY",
    "YYYY-MM-DDTHH:mm:ssZ",
    "ddd D MMM YYYY HH:mm:ss",
    "X",
    "[Q]Q YYYY, [week] W",
]


def heavy_mapping() -> dict[str, Any]:
    """50 fields: 35 dates (read with a format in one zone, written in another format and
    zone), templates, number/boolean/string conversions and plain copies."""
    fields: list[dict[str, Any]] = [
        {"extract": "id", "generate": "external_id"},
        {"extract": "email", "generate": "email"},
        {"extract": "name", "generate": "full_name"},
    ]
    for z, zone in enumerate(ZONES):
        for f, fmt in enumerate(FORMATS):
            fields.append(
                {
                    "extract": "updated_at",
                    "generate": f"dates.z{z}.f{f}",
                    "dataType": "date",
                    "extractDateFormat": "YYYY-MM-DDTHH:mm:ssZ",
                    "extractDateTimezone": zone,
                    "generateDateFormat": fmt,
                    "generateDateTimezone": ZONES[(z + 1) % len(ZONES)],
                }
            )
    for index in range(4):
        fields.append({"extract": f"#{index} {{name}} <{{email}}>", "generate": f"labels.l{index}"})
        fields.append({"extract": "id", "generate": f"numbers.n{index}", "dataType": "number"})
        fields.append({"extract": "name", "generate": f"flags.f{index}", "dataType": "boolean"})
    assert len(fields) == 50
    return {"fields": fields}


def create_flow(target: Cluster, base_url: str, page_size: int) -> str:
    return target.create_flow(
        connection={"type": "http", "http": {"baseURI": base_url, "mediaType": "json"}},
        export={
            "pageSize": page_size,
            "http": {
                "relativeURI": f"/github/items?per_page={page_size}",
                "paging": {"method": "linkheader"},
            },
        },
        imports=[
            {
                "http": {
                    "relativeURI": "/api/customers/batch",
                    "method": "POST",
                    "batchSize": page_size,
                },
                "mapping": heavy_mapping(),
            }
        ],
    )


def timed_run(target: Cluster, records: int, page_size: int) -> float:
    """Run the flow against a fresh fake; records per second, checked."""
    with fake_process(records, page_size) as base_url:
        flow_id = create_flow(target, base_url, page_size)
        start = time.perf_counter()
        job = target.wait(target.run(flow_id), timeout=1800, poll=0.2)
        elapsed = time.perf_counter() - start
        assert job["status"] == "completed", job
        assert (job["numSuccess"], job["numError"]) == (records, 0), job
        for record_id in (1, records):
            found = orjson.loads(
                httpx2.get(
                    f"{base_url}/api/customers",
                    params={"email": f"customer{record_id}@example.com"},
                ).content
            )
            assert [c["external_id"] for c in found] == [record_id], found
    return records / elapsed


@contextmanager
def embedded(concurrency: int) -> Iterator[Cluster]:
    with tempfile.TemporaryDirectory() as home:
        made = Cluster(Path(home), worker_concurrency=concurrency, scheduler_interval=60)
        made.context.background.start(scheduler=False)
        try:
            yield made
        finally:
            made.close()


@contextmanager
def scaled_out(workers: int, concurrency: int) -> Iterator[Cluster]:
    with tempfile.TemporaryDirectory() as home, cluster(Path(home), "rabbitmq") as made:
        for _ in range(workers):
            made.start_worker(concurrency=concurrency)
        answered = made.worker_stats(expected=workers)
        if len(answered) != workers:
            raise SystemExit(f"{workers} workers started, {len(answered)} answered:\n{made.logs()}")
        yield made


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=20_000)
    parser.add_argument("--page-size", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=2, help="threads per worker")
    parser.add_argument("--rounds", type=int, default=1, help="median of this many runs each")
    args = parser.parse_args()
    setups = {
        "embedded": lambda: embedded(args.concurrency),
        "1 worker": lambda: scaled_out(1, args.concurrency),
        "2 workers": lambda: scaled_out(2, args.concurrency),
    }
    rates: dict[str, list[float]] = {name: [] for name in setups}
    for _ in range(args.rounds):
        for name, setup in setups.items():
            with setup() as target:
                rates[name].append(timed_run(target, args.records, args.page_size))
            print(f"  {name:10}: {rates[name][-1]:8,.0f} records/s", flush=True)
    rate = {name: statistics.median(values) for name, values in rates.items()}
    print(
        f"{args.records:,} records, {args.concurrency} threads per worker, median of {args.rounds}:"
    )
    for name, value in rate.items():
        print(f"{name:10}: {value:8,.0f} records/s")
    print(
        f"speed-up 2 workers / 1 worker   : {rate['2 workers'] / rate['1 worker']:.2f}"
        "  (target >= 1.6 on 2 cores)"
    )
    print(f"ratio 1 worker (PG+RabbitMQ) / embedded: {rate['1 worker'] / rate['embedded']:.2f}")


if __name__ == "__main__":
    main()
