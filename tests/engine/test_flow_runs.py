"""Flows run end to end through the public API: Celery worker, page store, jobs, against the
fake SaaS app."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import update

from fakes import FakeSaas
from fakes.flows import stripe_export
from integrator.api.context import AppContext
from integrator.store.models import FlowSchedule

from conftest import Api

STRIPE = stripe_export(100)


@pytest.fixture
def fake() -> Iterator[FakeSaas]:
    with FakeSaas.running(records=250, page_size=100) as server:
        yield server


def wait_for_job(api: Api, job_id: str, timeout: float = 60.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        job = api.get(f"/v1/jobs/{job_id}").json()
        if job["status"] in ("completed", "failed", "canceled"):
            return job
        if time.monotonic() > deadline:
            raise AssertionError(f"job still {job['status']}: {job}")
        time.sleep(0.05)


def rest_flow(api: Api, fake: FakeSaas, **flow: Any) -> dict[str, Any]:
    connection = api.create(
        "connections",
        {"name": "Fake", "type": "http", "http": {"baseURI": fake.base_url, "mediaType": "json"}},
    )
    export = api.create(
        "exports", {"name": "Items", "_connectionId": connection["_id"], "http": STRIPE}
    )
    imp = api.create(
        "imports",
        {
            "name": "Customers",
            "_connectionId": connection["_id"],
            "http": {"relativeURI": "/api/customers", "method": "POST"},
            "mapping": {
                "fields": [
                    {"extract": "email", "generate": "email"},
                    {"extract": "name", "generate": "full_name"},
                    {"extract": "id", "generate": "external_id"},
                ]
            },
        },
    )
    return api.create(
        "flows",
        {
            "name": "Items to customers",
            "pageGenerators": [{"_exportId": export["_id"]}],
            "pageProcessors": [{"type": "import", "_importId": imp["_id"]}],
            **flow,
        },
    )


def test_a_flow_run_moves_every_record_and_counts_them(api: Api, fake: FakeSaas) -> None:
    flow = rest_flow(api, fake)
    response = api.post(f"/v1/flows/{flow['_id']}/run", json={})
    assert response.status_code == 201, response.text
    job = wait_for_job(api, response.json()["_id"])
    assert job["status"] == "completed", job
    assert job["numExport"] == 250
    assert job["numSuccess"] == 250
    assert job["numError"] == 0
    assert job["numPagesGenerated"] == job["numPagesProcessed"] > 0
    assert sorted(c["external_id"] for c in fake.customers.values()) == list(range(1, 251))


def make_connection(api: Api, fake: FakeSaas, **http: Any) -> dict[str, Any]:
    return api.create(
        "connections",
        {
            "name": "Fake",
            "type": "http",
            "http": {"baseURI": fake.base_url, "mediaType": "json", **http},
        },
    )


def flow_jobs(api: Api, flow_id: str) -> list[dict[str, Any]]:
    """The flow's parent jobs (a query without ``type`` lists parents only)."""
    response = api.get("/v1/jobs", params={"_flowId": flow_id})
    return [] if response.status_code == 204 else response.json()


def test_a_scheduled_flow_moves_10000_records_with_its_mapping(
    api: Api, context: AppContext
) -> None:
    with FakeSaas.running(records=10_000, page_size=100, log_requests=False) as fake:
        flow = rest_flow(api, fake, schedule="? * * * * *")
        # Once the scheduler has seen the flow, make it due now instead of at the next minute.
        deadline = time.monotonic() + 20
        changed = 0
        while not changed:
            assert time.monotonic() < deadline, "the scheduler never saw the flow"
            time.sleep(0.05)
            with context.transaction() as session:
                changed = session.execute(
                    update(FlowSchedule)
                    .where(FlowSchedule.flow_id == flow["_id"])
                    .values(next_run_at=datetime.now(UTC) - timedelta(seconds=1))
                ).rowcount  # type: ignore[attr-defined]
        deadline = time.monotonic() + 20
        while not flow_jobs(api, flow["_id"]):
            assert time.monotonic() < deadline, "the scheduler never started the flow"
            time.sleep(0.1)
        api.patch(f"/v1/flows/{flow['_id']}", json=[{"op": "remove", "path": "/schedule"}])
        job = wait_for_job(api, flow_jobs(api, flow["_id"])[-1]["_id"], timeout=240)
        assert job["status"] == "completed", job
        assert (job["numExport"], job["numSuccess"], job["numError"]) == (10_000, 10_000, 0)
        stored = sorted(fake.customers.values(), key=lambda c: c["external_id"])
        assert [c["external_id"] for c in stored] == list(range(1, 10_001))
        assert stored[41]["full_name"] == "Customer 42"
        assert stored[41]["email"] == "customer42@example.com"


def test_rejected_records_become_errors_and_a_retry_delivers_them_once(api: Api) -> None:
    with FakeSaas.running(records=400, page_size=100) as fake:
        fake.reject_external_ids = set(range(20, 401, 20))  # 5%
        flow = rest_flow(api, fake)
        import_id = flow["pageProcessors"][0]["_importId"]
        job = wait_for_job(api, api.post(f"/v1/flows/{flow['_id']}/run", json={}).json()["_id"])
        assert job["status"] == "completed", job
        assert (job["numSuccess"], job["numError"]) == (380, 20)

        listed = api.get(f"/v1/flows/{flow['_id']}/{import_id}/errors")
        assert listed.status_code == 200, listed.text
        errors = listed.json()["errors"]
        assert len(errors) == 20
        assert all("external_id" in error["message"] for error in errors)
        keys = [error["retryDataKey"] for error in errors]
        data = api.get(f"/v1/flows/{flow['_id']}/{import_id}/retryData/{keys[0]}")
        assert data.status_code == 200, data.text
        assert data.json()["data"]["id"] in fake.reject_external_ids

        fake.reject_external_ids = set()  # the target is fixed
        retry = api.post(f"/v1/flows/{flow['_id']}/{import_id}/retry", json={"retryDataKeys": keys})
        assert retry.status_code == 201, retry.text
        retry_job = wait_for_job(api, retry.json()["_id"])
        assert retry_job["type"] == "retry"
        assert retry_job["status"] == "completed", retry_job
        assert retry_job["numSuccess"] == 20

        assert sorted(c["external_id"] for c in fake.customers.values()) == list(range(1, 401))
        open_errors = api.get(f"/v1/flows/{flow['_id']}/{import_id}/errors")
        assert open_errors.status_code == 204 or open_errors.json()["errors"] == []
        resolved = api.get(f"/v1/flows/{flow['_id']}/{import_id}/resolved").json()
        assert len(resolved["resolved"]) == 20
        original = api.get(f"/v1/jobs/{job['_id']}").json()
        assert (original["numSuccess"], original["numError"]) == (400, 0)
        again = api.post(f"/v1/flows/{flow['_id']}/{import_id}/retry", json={"retryDataKeys": keys})
        assert again.status_code == 422
        assert again.json()["errors"][0]["code"] == "error_resolved"


def delta_flow(api: Api, fake: FakeSaas) -> dict[str, Any]:
    connection = make_connection(api, fake, maxAttempts=1)
    export = api.create(
        "exports",
        {
            "name": "Changed items",
            "_connectionId": connection["_id"],
            "type": "delta",
            "delta": {"dateFormat": "YYYY-MM-DDTHH:mm:ss[Z]"},
            "http": {
                "relativeURI": "/offset/items?offset={{export.http.paging.skip}}&limit=100"
                "&updated_since={{lastExportDateTime}}&updated_before={{currentExportDateTime}}",
                "response": {"resourcePath": "data"},
                "paging": {"method": "skip", "maxCountPath": "total"},
            },
        },
    )
    imp = api.create(
        "imports",
        {
            "name": "Customers",
            "_connectionId": connection["_id"],
            "http": {"relativeURI": "/api/customers", "method": "POST"},
            "mapping": {
                "fields": [
                    {"extract": "id", "generate": "external_id"},
                    {"extract": "email", "generate": "email"},
                ]
            },
        },
    )
    return api.create(
        "flows",
        {
            "name": "Delta",
            "pageGenerators": [{"_exportId": export["_id"]}],
            "pageProcessors": [{"type": "import", "_importId": imp["_id"]}],
        },
    )


def now_text() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_a_delta_flow_keeps_its_cutoff_when_a_run_fails(api: Api) -> None:
    with FakeSaas.running(records=150, page_size=100) as fake:
        flow = delta_flow(api, fake)
        run = f"/v1/flows/{flow['_id']}/run"
        first = wait_for_job(api, api.post(run, json={}).json()["_id"])
        assert (first["status"], first["numExport"]) == ("completed", 150)
        time.sleep(1.1)  # the fake's timestamps have whole seconds
        changed = [
            {
                "id": 1000 + n,
                "name": f"New {n}",
                "email": f"new{n}@example.com",
                "updated_at": now_text(),
            }
            for n in range(30)
        ]
        fake.records = fake.records + changed
        fake.fail_rate_500 = 1.0
        second = wait_for_job(api, api.post(run, json={}).json()["_id"])
        assert second["status"] == "failed", second
        fake.fail_rate_500 = 0.0
        third = wait_for_job(api, api.post(run, json={}).json()["_id"])
        assert third["status"] == "completed", third
        assert third["numExport"] == 30
        ids = sorted(c["external_id"] for c in fake.customers.values())
        assert ids == [*range(1, 151), *range(1000, 1030)]
        # The cutoff moved with the third run: a fourth run finds nothing new.
        fourth = wait_for_job(api, api.post(run, json={}).json()["_id"])
        assert (fourth["status"], fourth["numExport"]) == ("completed", 0)


def test_triggers_during_a_run_coalesce_into_one_queued_job(api: Api) -> None:
    with FakeSaas.running(records=60, page_size=20, delay_seconds=0.02) as fake:
        flow = rest_flow(api, fake)
        run = f"/v1/flows/{flow['_id']}/run"
        first = api.post(run, json={}).json()
        deadline = time.monotonic() + 20
        while api.get(f"/v1/jobs/{first['_id']}").json()["status"] == "queued":
            assert time.monotonic() < deadline
            time.sleep(0.02)
        second = api.post(run, json={}).json()
        third = api.post(run, json={}).json()
        assert second["_id"] == third["_id"] != first["_id"]
        assert second["status"] == "queued"
        assert wait_for_job(api, first["_id"])["status"] == "completed"
        assert wait_for_job(api, second["_id"])["status"] == "completed"
        assert len(flow_jobs(api, flow["_id"])) == 2


def test_cancel_stops_a_running_job(api: Api) -> None:
    with FakeSaas.running(records=2000, page_size=10, delay_seconds=0.01) as fake:
        flow = rest_flow(api, fake)
        job = api.post(f"/v1/flows/{flow['_id']}/run", json={}).json()
        deadline = time.monotonic() + 30
        while not fake.customers:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        canceled = api.put(f"/v1/jobs/{job['_id']}/cancel")
        assert canceled.status_code == 200, canceled.text
        started = time.monotonic()
        ended = wait_for_job(api, job["_id"], timeout=30)
        assert ended["status"] == "canceled"
        assert time.monotonic() - started < 10
        assert len(fake.customers) < 2000


def test_a_flow_with_an_offline_connection_does_not_start(api: Api) -> None:
    with FakeSaas.running(records=5) as fake:
        flow = rest_flow(api, fake)
        export = api.get(f"/v1/exports/{flow['pageGenerators'][0]['_exportId']}").json()
        failing_ping = {"relativeURI": "/ping-fail", "successPath": "ok", "successValues": ["true"]}
        connection = api.get(f"/v1/connections/{export['_connectionId']}").json()
        connection["http"]["ping"] = failing_ping
        replaced = api.put(f"/v1/connections/{connection['_id']}", json=connection)
        assert replaced.status_code == 200, replaced.text
        assert api.get(f"/v1/connections/{connection['_id']}/ping").status_code == 422
        assert api.get(f"/v1/connections/{connection['_id']}").json()["offline"] is True
        response = api.post(f"/v1/flows/{flow['_id']}/run", json={})
        assert response.status_code == 422
        assert response.json()["errors"][0]["code"] == "connection_offline"
        assert not flow_jobs(api, flow["_id"])


def test_a_once_export_marks_records_after_the_flow_processed_them(api: Api) -> None:
    with FakeSaas.running(records=120, page_size=50) as fake:
        connection = make_connection(api, fake)
        export = api.create(
            "exports",
            {
                "name": "Unexported items",
                "_connectionId": connection["_id"],
                "type": "once",
                "once": {"booleanField": "exported"},
                "http": {
                    "relativeURI": "/api/items?exported=false&limit=1000",
                    "once": {"relativeURI": "/api/items/{{id}}/exported", "method": "PUT"},
                },
            },
        )
        imp = api.create(
            "imports",
            {
                "name": "Customers",
                "_connectionId": connection["_id"],
                "http": {"relativeURI": "/api/customers", "method": "POST"},
                "mapping": {
                    "fields": [
                        {"extract": "id", "generate": "external_id"},
                        {"extract": "email", "generate": "email"},
                    ]
                },
            },
        )
        flow = api.create(
            "flows",
            {
                "name": "Once",
                "pageGenerators": [{"_exportId": export["_id"]}],
                "pageProcessors": [{"type": "import", "_importId": imp["_id"]}],
            },
        )
        first = wait_for_job(api, api.post(f"/v1/flows/{flow['_id']}/run", json={}).json()["_id"])
        assert (first["status"], first["numSuccess"]) == ("completed", 120)
        assert fake.exported == set(range(1, 121))
        second = wait_for_job(api, api.post(f"/v1/flows/{flow['_id']}/run", json={}).json()["_id"])
        assert (second["status"], second["numExport"]) == ("completed", 0)
