"""Benchmark: a preMap hook over 100,000 records in pages of 1,000, written in JavaScript (V8)
and in Python (bubblewrap sandbox), against the same transformation done in-process, same run.

    .venv/bin/python bench/hooks.py [--records 100000] [--page-size 1000]

Each hook call goes the whole platform way: the script is read from the database, a one-time
token is minted and revoked, the runtime runs the function and its answer is checked against
preMap's contract. Prints records per second for each, the hook/in-process throughput ratios,
and the overhead per page (hook time minus in-process time; target under 10 ms for JavaScript).
"""

from __future__ import annotations

import argparse
import gc
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from integrator.api.app import build_context
from integrator.config import Settings
from integrator.engine.hooks import HookContext, HookRef, elements
from integrator.resources import REGISTRY
from integrator.resources.service import ResourceService
from integrator.store import accounts
from integrator.store.accounts import Principal

JAVASCRIPT = """
function preMap(options) {
  return options.data.map(function (record) {
    return {data: Object.assign({}, record, {
      name: record.name.toUpperCase(),
      total: record.quantity * record.price,
    })};
  });
}
"""

PYTHON = """
def preMap(options):
    return [
        {"data": {**record, "name": record["name"].upper(),
                  "total": record["quantity"] * record["price"]}}
        for record in options["data"]
    ]
"""


def in_process(options: dict[str, Any]) -> list[dict[str, Any]]:
    """The same transformation, as a Python function called in this process."""
    return [
        {"data": {**record, "name": record["name"].upper(),
                  "total": record["quantity"] * record["price"]}}
        for record in options["data"]
    ]  # fmt: skip


def page_of(start: int, size: int) -> list[dict[str, Any]]:
    return [
        {"id": n, "name": f"Customer {n}", "email": f"c{n}@example.com", "quantity": n % 7,
         "price": 9.5, "sku": f"SKU-{n % 100}", "city": "Lyon", "country": "FR",
         "active": n % 2 == 0, "tags": ["a", "b"]}
        for n in range(start, start + size)
    ]  # fmt: skip


def timed(pages: list[bytes], call: Callable[[dict[str, Any]], Any]) -> float:
    """Seconds to run every page through ``call`` and check the answer as the engine does
    (which reads each page from its page store as JSON, one at a time)."""
    started = time.perf_counter()
    for stored in pages:
        page = orjson.loads(stored)
        answer = call({"data": page, "_importId": "i" * 24})
        elements("preMap", answer, len(page))
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--page-size", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3, help="median of this many runs")
    args = parser.parse_args()
    pages = [
        orjson.dumps(page_of(start, args.page_size))
        for start in range(0, args.records, args.page_size)
    ]
    with tempfile.TemporaryDirectory() as home:
        settings = Settings(home=Path(home), secret_key="bench", embedded_worker=False)
        context = build_context(settings)
        with context.transaction() as session:
            account, _ = accounts.create_account(session, "bench")
            service = ResourceService(session, context.cipher, Principal(account.id, "bench"))
            ids = {
                language: service.create(
                    REGISTRY["scripts"],
                    {"name": language, "language": language, "content": content},
                )["_id"]
                for language, content in (("javascript", JAVASCRIPT), ("python", PYTHON))
            }
        gc.collect()
        gc.freeze()  # as `integrator serve` and `worker` do once started
        caller = HookContext(account_id=account.id)
        hooks = context.hooks

        def through(language: str) -> Callable[[dict[str, Any]], Any]:
            ref = HookRef(name="preMap", function="preMap", script_id=ids[language])
            return lambda options: hooks.call(ref, options, caller)

        contenders: dict[str, Callable[[dict[str, Any]], Any]] = {
            "in-process": in_process,
            "javascript": through("javascript"),
        }
        if shutil.which(settings.bwrap_path):
            contenders["python"] = through("python")
        else:
            print("bubblewrap is not installed: the Python hook is not measured", file=sys.stderr)
        for call in contenders.values():  # warm up: compile, start runners
            timed(pages[:2], call)
        seconds = {
            name: statistics.median(timed(pages, call) for _ in range(args.rounds))
            for name, call in contenders.items()
        }
        hooks.close()
    base = seconds["in-process"]
    print(f"{args.records:,} records in pages of {args.page_size:,}, median of {args.rounds}")
    for name, spent in seconds.items():
        line = f"{name:>11}: {args.records / spent:>10,.0f} records/s"
        if name != "in-process":
            per_page = (spent - base) / len(pages) * 1000
            line += f"   ratio {base / spent:.2f}   overhead {per_page:.1f} ms/page"
        print(line)


if __name__ == "__main__":
    main()
