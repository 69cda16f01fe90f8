"""Flow shapes and step options end to end: legacy export/import pairs, lookups with response
mapping, proceedOnFailure, skipRetries, _runNextFlowIds and runs restricted to some page
generators, against the fake SaaS app."""

from __future__ import annotations

import time
from typing import Any

from engine.test_flow_runs import STRIPE, flow_jobs, make_connection, wait_for_job
from fakes import FakeSaas

from conftest import Api

GITHUB = {
    "relativeURI": "/github/items?per_page=50",
    "paging": {"method": "linkheader"},
}


def export(api: Api, connection: dict[str, Any], http: dict[str, Any]) -> str:
    created = api.create(
        "exports", {"name": "Items", "_connectionId": connection["_id"], "http": http}
    )
    return str(created["_id"])


def customers_import(api: Api, connection: dict[str, Any], **http: Any) -> str:
    body = {
        "name": "Customers",
        "_connectionId": connection["_id"],
        "http": {"relativeURI": "/api/customers", "method": "POST", **http},
        "mapping": {
            "fields": [
                {"extract": "id", "generate": "external_id"},
                {"extract": "email", "generate": "email"},
            ]
        },
    }
    return str(api.create("imports", body)["_id"])


def mark_import(api: Api, connection: dict[str, Any]) -> str:
    body = {
        "name": "Mark exported",
        "_connectionId": connection["_id"],
        "http": {"relativeURI": "/api/items/{{id}}/exported", "method": "PUT"},
    }
    return str(api.create("imports", body)["_id"])


def run(api: Api, flow_id: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    response = api.post(f"/v1/flows/{flow_id}/run", json=body or {})
    assert response.status_code == 201, response.text
    return wait_for_job(api, response.json()["_id"])


def test_a_legacy_export_import_pair_runs(api: Api) -> None:
    with FakeSaas.running(records=30, page_size=10) as fake:
        connection = make_connection(api, fake)
        flow = api.create(
            "flows",
            {
                "name": "Legacy",
                "_exportId": export(api, connection, STRIPE),
                "_importId": customers_import(api, connection),
            },
        )
        job = run(api, flow["_id"])
        assert (job["status"], job["numSuccess"]) == ("completed", 30)
        assert len(fake.customers) == 30


def test_a_lookup_enriches_records_for_the_next_step(api: Api) -> None:
    with FakeSaas.running(records=10, page_size=10) as fake:
        for n in range(1, 6):  # customers 1..5 already exist in the target, under other names
            fake.customers[100 + n] = {
                "id": 100 + n,
                "email": f"customer{n}@example.com",
                "name": f"Old {n}",
            }
        connection = make_connection(api, fake)
        lookup = api.create(
            "exports",
            {
                "name": "Find customer",
                "_connectionId": connection["_id"],
                "isLookup": True,
                "http": {"relativeURI": "/api/customers?email={{record.email}}"},
            },
        )
        update = api.create(
            "imports",
            {
                "name": "Rename",
                "_connectionId": connection["_id"],
                "http": {"relativeURI": "/api/customers/{{matchId}}", "method": "PUT"},
                "mapping": {"fields": [{"extract": "name", "generate": "name"}]},
            },
        )
        flow = api.create(
            "flows",
            {
                "name": "Lookup then update",
                "pageGenerators": [{"_exportId": export(api, connection, STRIPE)}],
                "pageProcessors": [
                    {
                        "type": "export",
                        "_exportId": lookup["_id"],
                        "responseMapping": {
                            "fields": [{"extract": "data.0.id", "generate": "matchId"}]
                        },
                    },
                    {"type": "import", "_importId": update["_id"]},
                ],
            },
        )
        job = run(api, flow["_id"])
        assert job["status"] == "completed", job
        assert {c["name"] for c in fake.customers.values()} == {
            f"Customer {n}" for n in range(1, 6)
        }
        errors = api.get(f"/v1/flows/{flow['_id']}/{update['_id']}/errors").json()["errors"]
        assert len(errors) == 5  # records without a match had no customer to update


def two_step_flow(api: Api, fake: FakeSaas, proceed: bool, **flow: Any) -> dict[str, Any]:
    connection = make_connection(api, fake)
    return api.create(
        "flows",
        {
            "name": "Two steps",
            "pageGenerators": [{"_exportId": export(api, connection, STRIPE)}],
            "pageProcessors": [
                {
                    "type": "import",
                    "_importId": customers_import(api, connection),
                    "proceedOnFailure": proceed,
                },
                {"type": "import", "_importId": mark_import(api, connection)},
            ],
            **flow,
        },
    )


def test_a_failed_record_stops_at_its_step_unless_proceed_on_failure(api: Api) -> None:
    with FakeSaas.running(records=20, page_size=10) as fake:
        fake.reject_external_ids = {3, 7}
        job = run(api, two_step_flow(api, fake, proceed=False)["_id"])
        assert (job["status"], job["numError"]) == ("completed", 2)
        assert fake.exported == set(range(1, 21)) - {3, 7}
    with FakeSaas.running(records=20, page_size=10) as fake:
        fake.reject_external_ids = {3, 7}
        run(api, two_step_flow(api, fake, proceed=True)["_id"])
        assert fake.exported == set(range(1, 21))


def test_skip_retries_keeps_errors_without_retry_data(api: Api) -> None:
    with FakeSaas.running(records=10, page_size=10) as fake:
        fake.reject_external_ids = {4}
        flow = two_step_flow(api, fake, proceed=False, skipRetries=True)
        job = run(api, flow["_id"])
        assert job["numError"] == 1
        step = flow["pageProcessors"][0]["_importId"]
        errors = api.get(f"/v1/flows/{flow['_id']}/{step}/errors").json()["errors"]
        assert len(errors) == 1
        assert "retryDataKey" not in errors[0]


def test_run_next_flow_ids_start_after_a_successful_run(api: Api) -> None:
    with FakeSaas.running(records=10, page_size=10) as fake:
        connection = make_connection(api, fake)
        second = api.create(
            "flows",
            {
                "name": "Second",
                "pageGenerators": [{"_exportId": export(api, connection, STRIPE)}],
                "pageProcessors": [{"type": "import", "_importId": mark_import(api, connection)}],
            },
        )
        first = api.create(
            "flows",
            {
                "name": "First",
                "_runNextFlowIds": [second["_id"]],
                "pageGenerators": [{"_exportId": export(api, connection, STRIPE)}],
                "pageProcessors": [
                    {"type": "import", "_importId": customers_import(api, connection)}
                ],
            },
        )
        assert run(api, first["_id"])["status"] == "completed"
        deadline = time.monotonic() + 30
        while not flow_jobs(api, second["_id"]):
            assert time.monotonic() < deadline, "the next flow never started"
            time.sleep(0.05)
        chained = wait_for_job(api, flow_jobs(api, second["_id"])[0]["_id"])
        assert chained["status"] == "completed"
        assert fake.exported == set(range(1, 11))


def test_a_run_can_be_restricted_to_some_page_generators(api: Api) -> None:
    with FakeSaas.running(records=40, page_size=10) as fake:
        connection = make_connection(api, fake)
        stripe, github = export(api, connection, STRIPE), export(api, connection, GITHUB)
        flow = api.create(
            "flows",
            {
                "name": "Two sources",
                "pageGenerators": [{"_exportId": stripe}, {"_exportId": github}],
                "pageProcessors": [{"type": "import", "_importId": mark_import(api, connection)}],
            },
        )
        both = run(api, flow["_id"])
        assert (both["numExport"], both["numSuccess"]) == (80, 80)
        only = run(api, flow["_id"], {"_exportIds": [github]})
        assert (only["numExport"], only["numSuccess"]) == (40, 40)
        refused = api.post(f"/v1/flows/{flow['_id']}/run", json={"_exportIds": ["a" * 24]})
        assert refused.status_code == 422


def test_a_disabled_flow_does_not_run(api: Api) -> None:
    with FakeSaas.running(records=5) as fake:
        connection = make_connection(api, fake)
        flow = api.create(
            "flows",
            {
                "name": "Disabled",
                "disabled": True,
                "pageGenerators": [{"_exportId": export(api, connection, STRIPE)}],
                "pageProcessors": [{"type": "import", "_importId": mark_import(api, connection)}],
            },
        )
        response = api.post(f"/v1/flows/{flow['_id']}/run", json={})
        assert response.status_code == 422
        assert response.json()["errors"][0]["code"] == "flow_disabled"
        assert not flow_jobs(api, flow["_id"])
