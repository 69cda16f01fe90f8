"""Benchmark: an HTTP export of 100,000 records paged from the fake SaaS app (100 records per
response), Integrator's export (client + paging + re-chunking into platform pages) against a
plain httpx2 loop doing the same requests and JSON parsing, same server, same run.

    .venv/bin/python bench/rest_export.py [--records 100000] [--rounds 3]

Prints records per second for both and the ratio (target >= 0.8), for a Stripe-style cursor
API and a GitHub-style Link-header API. When dlt is installed (``pip install dlt``; it is not a
project dependency) its REST client (what dlt's ``rest_api`` source pages with) runs over the
same Link-header API for comparison. Needs the dev dependencies (the fake app is in tests/fakes).
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


LINK_EXPORT: dict[str, Any] = {
    "pageSize": 100,
    "http": {"relativeURI": "/github/items?per_page=100", "paging": {"method": "linkheader"}},
}


def plain_link_loop(base_url: str) -> int:
    """Follow ``Link: rel="next"`` by hand with httpx2."""
    count = 0
    with httpx2.Client(base_url=base_url) as client:
        url: str | None = "/github/items?per_page=100"
        while url:
            response = client.get(url)
            count += len(orjson.loads(response.content))
            url = response.links.get("next", {}).get("url")
    return count


def integrator_link_export(base_url: str) -> int:
    connection = {"_id": "d" * 24, "type": "http", "http": {"baseURI": base_url}}
    return sum(len(page) for page in export_pages(LINK_EXPORT, connection))


def dlt_link_export(base_url: str) -> int:
    from dlt.sources.helpers.rest_client import RESTClient
    from dlt.sources.helpers.rest_client.paginators import HeaderLinkPaginator

    client = RESTClient(base_url=base_url, paginator=HeaderLinkPaginator())
    pages = client.paginate("/github/items", params={"per_page": 100})
    return sum(len(page) for page in pages)


def dlt_installed() -> bool:
    try:
        import dlt  # noqa: F401
    except ImportError:
        return False
    return True


def measure(runners: dict[str, Any], base_url: str, records: int, rounds: int) -> dict[str, float]:
    """Median records/s of each runner, rounds interleaved."""
    rates: dict[str, list[float]] = {name: [] for name in runners}
    for runner in runners.values():
        assert runner(base_url) == records
    for _ in range(rounds):
        for name, runner in runners.items():
            started = time.perf_counter()
            runner(base_url)
            rates[name].append(records / (time.perf_counter() - started))
    return {name: statistics.median(values) for name, values in rates.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    link_runners: dict[str, Any] = {
        "plain httpx2 loop": plain_link_loop,
        "Integrator export": integrator_link_export,
    }
    if dlt_installed():
        link_runners["dlt RESTClient"] = dlt_link_export
    with FakeSaas.running(records=args.records, page_size=100, log_requests=False) as fake:
        cursor = measure(
            {"plain httpx2 loop": plain_loop, "Integrator export": integrator_export},
            fake.base_url,
            args.records,
            args.rounds,
        )
        link = measure(link_runners, fake.base_url, args.records, args.rounds)
    print(f"records: {args.records}, 100 per response, {args.rounds} rounds, medians")
    for title, rates in (("Stripe-style cursor", cursor), ("GitHub-style Link header", link)):
        print(title)
        for name, rate in rates.items():
            print(f"  {name:20s} {rate:10,.0f} records/s")
        ratio = rates["Integrator export"] / rates["plain httpx2 loop"]
        print(f"  ratio Integrator / plain: {ratio:.2f} (target >= 0.8)")
    if not dlt_installed():
        print("dlt not installed: pip install dlt to compare with its REST client")


if __name__ == "__main__":
    main()
