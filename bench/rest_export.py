"""Benchmark: an HTTP export of 100,000 records paged from the fake SaaS app (100 records per
response), Integrator's export (client + paging + re-chunking into platform pages) against a
plain httpx2 loop doing the same requests and JSON parsing, same server, same run.

    .venv/bin/python bench/rest_export.py [--records 100000] [--rounds 3]

Prints records per second for both and the ratio (target >= 0.8). Needs the dev dependencies
(the fake app lives in tests/fakes).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import httpx2
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from fakes import FakeSaas
from integrator.adaptors.http.export import export_pages

EXPORT: dict[str, Any] = {
    "pageSize": 100,
    "http": {
        "relativeURI": "/stripe/items?limit=100",
        "response": {"resourcePath": "data"},
        "paging": {
            "method": "relativeuri",
            "relativeURI": "/stripe/items?limit=100"
            "&starting_after={{previous_page.last_record.id}}",
            "lastPagePath": "has_more",
            "lastPageValues": ["false"],
        },
    },
}


def plain_loop(base_url: str) -> int:
    """What a developer would write by hand with httpx2: follow starting_after until has_more."""
    count = 0
    with httpx2.Client(base_url=base_url) as client:
        after = None
        while True:
            params = {"limit": "100"}
            if after is not None:
                params["starting_after"] = str(after)
            body = orjson.loads(client.get("/stripe/items", params=params).content)
            count += len(body["data"])
            if not body["has_more"]:
                return count
            after = body["data"][-1]["id"]


def integrator_export(base_url: str) -> int:
    connection = {"_id": "c" * 24, "type": "http", "http": {"baseURI": base_url}}
    return sum(len(page) for page in export_pages(EXPORT, connection))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with FakeSaas.running(records=args.records, page_size=100, log_requests=False) as fake:
        assert plain_loop(fake.base_url) == args.records
        assert integrator_export(fake.base_url) == args.records
        plain, ours = [], []
        for _ in range(args.rounds):
            for runner, rates in ((plain_loop, plain), (integrator_export, ours)):
                started = time.perf_counter()
                runner(fake.base_url)
                rates.append(args.records / (time.perf_counter() - started))
    plain_median, ours_median = statistics.median(plain), statistics.median(ours)
    print(f"records: {args.records}, 100 per response, {args.rounds} rounds, medians")
    print(f"plain httpx2 loop:     {plain_median:10,.0f} records/s  {[round(r) for r in plain]}")
    print(f"Integrator export:     {ours_median:10,.0f} records/s  {[round(r) for r in ours]}")
    print(f"ratio: {ours_median / plain_median:.2f} (target >= 0.8)")


if __name__ == "__main__":
    main()
