"""Deliveries run the listener's flows: every record reaches the target once, deliveries that
arrive while a job runs become the next job's pages, and nothing accepted stays waiting.

The load test sends 10,000 deliveries from 50 concurrent clients (a process of their own, so
they do not share this process's interpreter with the server) to the API on a loopback port.
"""

from __future__ import annotations

import json
import statistics
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from engine.test_flow_runs import make_connection
from engine.test_flow_steps import customers_import
from fakes import FakeSaas
from integrator.api.context import AppContext
from integrator.engine import webhooks
from integrator.store.models import WebhookDelivery
from webhooks.load import deliver_all

from conftest import Api

TOKEN = "listener-token-123456"


def webhook_flow(api: Api, fake: FakeSaas, **webhook: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """A listener whose flow imports each delivered record as a customer of the fake."""
    settings = {"verify": "token", "token": TOKEN, "tokenLocation": "header",
                "tokenHeaderName": "X-Token", "tokenHeaderScheme": "none", **webhook}  # fmt: skip
    export = api.create(
        "exports", {"name": "Orders in", "type": "webhook", "pageSize": 100, "webhook": settings}
    )
    flow = api.create(
        "flows",
        {
            "name": "Realtime customers",
            "pageGenerators": [{"_exportId": export["_id"]}],
            "pageProcessors": [
                {"type": "import", "_importId": customers_import(api, make_connection(api, fake))}
            ],
        },
    )
    return export, flow


def waiting(context: AppContext, flow_id: str) -> int:
    with context.sessions() as session:
        count = session.scalar(select(func.count()).where(WebhookDelivery.flow_id == flow_id))
    return int(count or 0)


def settle(api: Api, context: AppContext, fake: FakeSaas, flow_id: str, expected: int) -> None:
    """Wait until the target has ``expected`` customers and no job of the flow is active."""
    deadline = time.monotonic() + 180
    while True:
        jobs = api.get("/v1/jobs", params={"_flowId": flow_id})
        listed = [] if jobs.status_code == 204 else jobs.json()
        active = [j for j in listed if j["status"] in ("queued", "running", "canceling")]
        if len(fake.customers) >= expected and not active and waiting(context, flow_id) == 0:
            return
        assert time.monotonic() < deadline, (len(fake.customers), active)
        time.sleep(0.1)


def test_deliveries_run_the_flow_and_nothing_stays_waiting(api: Api, context: AppContext) -> None:
    with FakeSaas.running(records=0) as fake:
        export, flow = webhook_flow(api, fake)
        for n in range(1, 31):
            record = {"id": n, "email": f"buyer{n}@example.com"}
            headers = {"X-Token": TOKEN}
            answer = api.client.post(export["webhook"]["url"], json=record, headers=headers)
            assert answer.status_code == 204
        settle(api, context, fake, flow["_id"], 30)
        assert sorted(c["external_id"] for c in fake.customers.values()) == list(range(1, 31))
        jobs = api.get("/v1/jobs", params={"_flowId": flow["_id"]}).json()
        assert sum(j["numSuccess"] for j in jobs) == 30
        assert all(j["status"] == "completed" for j in jobs)
        # Thirty deliveries within milliseconds ran as few jobs, not thirty.
        assert len(jobs) < 30


def test_ten_thousand_deliveries_from_fifty_clients_lose_nothing(
    api: Api, context: AppContext, live_api: str
) -> None:
    total, clients = 10_000, 50
    with FakeSaas.running(records=0, log_requests=False) as fake:
        export, flow = webhook_flow(api, fake)
        url = live_api + export["webhook"]["url"]
        bodies = [
            json.dumps({"id": n, "email": f"buyer{n}@example.com"}).encode()
            for n in range(1, total + 1)
        ]
        with ProcessPoolExecutor(max_workers=1) as pool:
            statuses, latencies = pool.submit(
                deliver_all, url, bodies, {"X-Token": TOKEN}, clients
            ).result(timeout=600)
        assert statuses == {204: total}, statuses
        settle(api, context, fake, flow["_id"], total)
        assert sorted(c["external_id"] for c in fake.customers.values()) == list(
            range(1, total + 1)
        )
        assert waiting(context, flow["_id"]) == 0
        latencies.sort()
        p50 = statistics.median(latencies) * 1000
        p99 = latencies[int(len(latencies) * 0.99) - 1] * 1000
        print(f"\n{total} deliveries from {clients} clients: accept p50 {p50:.1f} ms, "
              f"p99 {p99:.1f} ms")  # fmt: skip


def test_housekeeping_finds_deliveries_no_job_is_reading(api: Api, context: AppContext) -> None:
    """A process that stored deliveries and stopped before starting the flow: the scheduler's
    housekeeping lists the flow once the grace has passed, and starting it processes them."""
    with FakeSaas.running(records=0) as fake:
        export, flow = webhook_flow(api, fake)
        with context.sessions.begin() as session:  # stored, never triggered
            records = [{"id": n, "email": f"late{n}@example.com"} for n in (1, 2, 3)]
            webhooks.accept(session, api.account_id, export["_id"], [flow["_id"]], records)
        soon = datetime.now(UTC) + timedelta(seconds=1)
        assert (api.account_id, flow["_id"]) not in webhooks.waiting_flows(context.sessions, soon)
        later = datetime.now(UTC) + webhooks.BACKLOG_GRACE + timedelta(seconds=1)
        assert (api.account_id, flow["_id"]) in webhooks.waiting_flows(context.sessions, later)
        context.runner.run_flow(api.account_id, flow["_id"], scheduled=True)
        settle(api, context, fake, flow["_id"], 3)
        assert sorted(c["external_id"] for c in fake.customers.values()) == [1, 2, 3]
        assert (api.account_id, flow["_id"]) not in webhooks.waiting_flows(context.sessions, later)
