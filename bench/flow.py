"""Benchmark: a REST → mapping → REST flow in the embedded default (SQLite, SQLite Celery
transport, the worker in threads of this process) against a hand-written script doing the same
work (httpx2: page through the source, map each record, POST it), same fake app, same run.

    .venv/bin/python bench/flow.py [--records 100000] [--page-size 100]
    .venv/bin/python bench/flow.py --rss 100000 1000000   # peak RSS of the two sizes

Prints records per second for both and the ratio (target >= 0.5). ``--rss`` runs the flow alone
in a fresh process per size and prints each one's peak resident set (target: the larger within
1.3x of the smaller). Needs the dev dependencies (the fake app is in tests/fakes).
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx2
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from fakes import FakeSaas
from fakes.flows import create_rest_flow
from integrator.api.app import build_context
from integrator.config import Settings
from integrator.engine import jobs
from integrator.resources.service import ResourceService
from integrator.store import accounts
from integrator.store.accounts import Principal

MAPPING = {
    "fields": [
        {"extract": "id", "generate": "external_id"},
        {"extract": "email", "generate": "email"},
        {"extract": "name", "generate": "full_name"},
        {"extract": "updated_at", "generate": "source_updated_at"},
    ]
}


def hand_written(base_url: str, page_size: int) -> int:
    """What a developer would write by hand: page with starting_after, map, POST each record."""
    sent = 0
    with httpx2.Client(base_url=base_url) as client:
        after = None
        while True:
            params = {"limit": str(page_size)}
            if after is not None:
                params["starting_after"] = str(after)
            body = orjson.loads(client.get("/stripe/items", params=params).content)
            for record in body["data"]:
                mapped = {
                    "external_id": record["id"],
                    "email": record["email"],
                    "full_name": record["name"],
                    "source_updated_at": record["updated_at"],
                }
                response = client.post(
                    "/api/customers",
                    content=orjson.dumps(mapped),
                    headers={"content-type": "application/json"},
                )
                response.raise_for_status()
                sent += 1
            if not body["has_more"]:
                return sent
            after = body["data"][-1]["id"]


def integrator_flow(base_url: str, page_size: int, home: Path) -> tuple[int, dict[str, Any]]:
    """Create connection, export, import and flow, run it, wait for the job; records sent."""
    settings = Settings(home=home, secret_key="bench-" * 8, scheduler_interval=60)
    context = build_context(settings)
    context.background.start(scheduler=False)
    try:
        with context.transaction() as session:
            account_id, _ = accounts.create_account(session, "bench")
            account_id = account_id.id
            service = ResourceService(session, context.cipher, Principal(account_id, "bench"))
            flow = create_rest_flow(service, base_url, page_size, MAPPING, name="Bench")
        view = context.runner.run_flow(account_id, flow["_id"], {})
        assert view is not None
        while True:
            with context.transaction() as session:
                job = jobs.get(session, view["_id"])
                assert job is not None
                if job.status in jobs.FINAL_STATUSES:
                    return job.num_success, jobs.job_view(job)
            time.sleep(0.2)
    finally:
        context.background.stop()


@contextmanager
def fake_process(records: int, page_size: int) -> Iterator[str]:
    """The fake app in a process of its own (in ours it would compete for the GIL with what
    is measured); yields its base URL, stops it when the block exits."""
    child = subprocess.Popen(
        [sys.executable, __file__, "--serve-fake", str(records), "--page-size", str(page_size)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        yield child.stdout.readline().strip()
    finally:
        assert child.stdin is not None
        child.stdin.close()
        child.wait(10)


def serve_fake(records: int, page_size: int) -> None:
    with FakeSaas.running(records=records, page_size=page_size, log_requests=False) as fake:
        fake.max_page_size = max(fake.max_page_size, page_size)
        print(fake.base_url, flush=True)
        sys.stdin.read()  # until the parent closes it


def received(base_url: str) -> list[Any]:
    """The external ids the fake target holds, sorted."""
    customers = orjson.loads(httpx2.get(f"{base_url}/api/customers", timeout=120).content)
    return sorted(customer["external_id"] for customer in customers)


def measure(records: int, page_size: int) -> None:
    with fake_process(records, page_size) as base_url:
        start = time.perf_counter()
        assert hand_written(base_url, page_size) == records
        plain = records / (time.perf_counter() - start)
    with fake_process(records, page_size) as base_url, tempfile.TemporaryDirectory() as home:
        start = time.perf_counter()
        sent, job = integrator_flow(base_url, page_size, Path(home))
        ours = records / (time.perf_counter() - start)
        assert sent == records, job
        assert received(base_url) == list(range(1, records + 1))
    print(f"hand-written script : {plain:10,.0f} records/s")
    print(f"Integrator flow     : {ours:10,.0f} records/s  ({job['numPagesGenerated']} pages)")
    print(f"ratio               : {ours / plain:.2f}  (target >= 0.5)")


def peak_rss(records: int, page_size: int) -> None:
    """Run the flow alone (the fake in its own process) and print our peak RSS in MiB."""
    with fake_process(records, page_size) as base_url, tempfile.TemporaryDirectory() as home:
        sent, job = integrator_flow(base_url, page_size, Path(home))
        assert sent == records, job
    print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--page-size", type=int, default=100)
    parser.add_argument("--rss", type=int, nargs="*", help="record counts to compare peak RSS")
    parser.add_argument("--rss-child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--serve-fake", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_fake is not None:
        serve_fake(args.serve_fake, args.page_size)
        return
    if args.rss_child:
        peak_rss(args.rss_child, args.page_size)
        return
    if args.rss:
        sizes = {}
        for count in args.rss:
            output = subprocess.run(
                [sys.executable, __file__, "--rss-child", str(count), "--page-size",
                 str(args.page_size)],
                check=True, capture_output=True, text=True,
            ).stdout  # fmt: skip
            sizes[count] = float(output.strip().splitlines()[-1])
            print(f"{count:>10,} records: peak RSS {sizes[count]:8.1f} MiB")
        low, high = min(sizes), max(sizes)
        print(f"ratio {high:,} / {low:,}: {sizes[high] / sizes[low]:.2f}  (target <= 1.3)")
        return
    measure(args.records, args.page_size)


if __name__ == "__main__":
    main()
