"""Benchmark: ``render()`` of a realistic relative URI (``uri`` mode) and a JSON body with an
``#each`` and a helper (``body`` mode), compiled once and cached as in a flow run, against an
f-string that builds the same output by hand, measured in the same run.

    .venv/bin/python bench/templates.py [--seconds 1] [--rounds 5]

Prints renders per second for both, the ratio (template ÷ f-string), and what the first render
of a template costs (compile + render).
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import orjson

from integrator.mapping import templates
from integrator.mapping.templates import render, template_context

URI_TEMPLATE = (
    "/api/v2/orders?updated_at_min={{lastExportDateTime}}&status={{record.status}}"
    "&customer={{record.customer.name}}&page={{export.http.paging.page}}&limit=100"
)
BODY_TEMPLATE = """{
  "externalId": "{{record.id}}",
  "customer": {"name": "{{record.customer.name}}", "email": "{{record.customer.email}}"},
  "lines": [{{#each record.items}}{"sku": "{{sku}}", "qty": {{qty}}, "price": {{price}}}\
{{#unless @last}}, {{/unless}}{{/each}}],
  "total": {{add record.subtotal record.tax}},
  "note": "{{record.note}}"
}"""

RECORD: dict[str, Any] = {
    "id": "SO-10042",
    "status": "pending approval",
    "customer": {"name": "Müller & Söhne GmbH", "email": "orders@mueller.example"},
    "items": [
        {"sku": "WID-1", "qty": 2, "price": 19.99},
        {"sku": "GAD-22", "qty": 1, "price": 249.5},
        {"sku": "BOLT/7", "qty": 100, "price": 0.25},
    ],
    "subtotal": 314.48,
    "tax": 25.16,
    "note": 'Leave at the "back" door\nRing twice',
}
CONTEXT = template_context(
    RECORD,
    export={"http": {"paging": {"page": 3}}},
    last_export_date_time="2024-01-31T09:30:00.000Z",
)


def _component(value: Any) -> str:
    return quote(str(value), safe="!'()*-._~")


def _json_text(value: str) -> str:
    return orjson.dumps(value).decode()[1:-1]


def uri_baseline(context: dict[str, Any]) -> str:
    record = context["record"]
    return (
        f"/api/v2/orders?updated_at_min={_component(context['lastExportDateTime'])}"
        f"&status={_component(record['status'])}"
        f"&customer={_component(record['customer']['name'])}"
        f"&page={context['export']['http']['paging']['page']}&limit=100"
    )


def body_baseline(context: dict[str, Any]) -> str:
    record = context["record"]
    lines = ", ".join(
        f'{{"sku": "{_json_text(item["sku"])}", "qty": {item["qty"]}, "price": {item["price"]}}}'
        for item in record["items"]
    )
    customer = record["customer"]
    return (
        "{\n"
        f'  "externalId": "{_json_text(record["id"])}",\n'
        f'  "customer": {{"name": "{_json_text(customer["name"])}", '
        f'"email": "{_json_text(customer["email"])}"}},\n'
        f'  "lines": [{lines}],\n'
        f'  "total": {record["subtotal"] + record["tax"]},\n'
        f'  "note": "{_json_text(record["note"])}"\n'
        "}"
    )


def rate(function: Callable[[], object], seconds: float) -> float:
    """Calls per second of ``function`` over about ``seconds``."""
    batch, done, start = 200, 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        for _ in range(batch):
            function()
        done += batch
    return done / elapsed


def first_render_us(template: str, mode: templates.Mode) -> float:
    """Microseconds for compile + render, with the compile cache emptied each time."""
    runs, total = 200, 0.0
    for _ in range(runs):
        templates._compile.cache_clear()
        start = time.perf_counter()
        render(template, CONTEXT, mode)
        total += time.perf_counter() - start
    return total / runs * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=1.0)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()

    cases: list[tuple[str, str, templates.Mode, Callable[[dict[str, Any]], str]]] = [
        ("uri ", URI_TEMPLATE, "uri", uri_baseline),
        ("body", BODY_TEMPLATE, "body", body_baseline),
    ]
    print(f"{args.rounds} rounds of {args.seconds:g}s each, medians")
    for name, template, mode, baseline in cases:
        rendered = render(template, CONTEXT, mode)
        if rendered != baseline(CONTEXT):
            raise SystemExit(f"{name}: the baseline differs:\n{rendered}\n{baseline(CONTEXT)}")
        ours, theirs = [], []
        for _ in range(args.rounds):
            theirs.append(rate(lambda b=baseline: b(CONTEXT), args.seconds))  # type: ignore[misc]
            ours.append(rate(lambda t=template, m=mode: render(t, CONTEXT, m), args.seconds))  # type: ignore[misc]
        ours_median, theirs_median = statistics.median(ours), statistics.median(theirs)
        print(
            f"{name} template: {ours_median:9.0f} renders/s ({1e6 / ours_median:6.1f} µs)   "
            f"f-string: {theirs_median:9.0f} /s ({1e6 / theirs_median:5.1f} µs)   "
            f"ratio {ours_median / theirs_median:.3f}   "
            f"first render (compile + render) {first_render_us(template, mode):6.0f} µs"
        )


if __name__ == "__main__":
    main()
