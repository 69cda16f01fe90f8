"""The job endpoints: list with integrator.io's filters, read, latest run of a flow, run, cancel.

Read-path tests insert real job rows (as the engine would write them) and read them back
through the API; the run and cancel tests go through the runner and the Celery worker.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from fakes import FakeSaas
from integrator.api.context import AppContext
from integrator.ids import new_object_id
from integrator.store.models import Job

from conftest import Api

T0 = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)


def add_job(context: AppContext, account_id: str, **fields: Any) -> str:
    """Insert one job row; ``fields`` are ``Job`` columns (an ended flow job by default)."""
    values: dict[str, Any] = {
        "id": new_object_id(),
        "account_id": account_id,
        "type": "flow",
        "status": "completed",
        "flow_id": new_object_id(),
        "created_at": T0,
        "last_modified": T0,
        "num_success": 0,
        "num_error": 0,
        "num_ignore": 0,
        "num_export": 0,
        "num_pages_generated": 0,
        "num_pages_processed": 0,
        "generators": 0,
        "generators_done": 0,
    }
    values.update(fields)
    values.setdefault("ended_at", values["created_at"] if values["status"] != "queued" else None)
    with context.transaction() as session:
        session.add(Job(**values))
    return str(values["id"])


def add_run(
    context: AppContext,
    account_id: str,
    flow_id: str,
    created_at: datetime = T0,
    steps: tuple[str, str] | None = None,
) -> list[str]:
    """A flow job with an export child and an import child: ``[parent, export, import]``;
    ``steps`` are the export and import ids the children ran."""
    export_id, import_id = steps or (new_object_id(), new_object_id())
    parent = add_job(
        context, account_id, flow_id=flow_id, created_at=created_at, num_export=3,
        num_success=2, num_error=1,
    )  # fmt: skip
    export_job = add_job(
        context, account_id, flow_id=flow_id, flow_job_id=parent, type="export", o_index=0,
        export_id=export_id, created_at=created_at,
    )  # fmt: skip
    import_job = add_job(
        context, account_id, flow_id=flow_id, flow_job_id=parent, type="import", o_index=1,
        import_id=import_id, created_at=created_at,
    )  # fmt: skip
    return [parent, export_job, import_job]


def plain_flow(api: Api) -> dict[str, Any]:
    """A flow (never scheduled) with one export and one import."""
    connection = api.create(
        "connections",
        {"name": "Shop", "type": "http", "http": {"baseURI": "http://127.0.0.1:9/api"}},
    )
    export = api.create(
        "exports",
        {"name": "Items", "_connectionId": connection["_id"], "http": {"relativeURI": "/items"}},
    )
    imp = api.create(
        "imports",
        {
            "name": "Customers",
            "_connectionId": connection["_id"],
            "http": {"relativeURI": "/customers", "method": "POST"},
        },
    )
    return api.create(
        "flows",
        {
            "name": "Items to customers",
            "pageGenerators": [{"_exportId": export["_id"]}],
            "pageProcessors": [{"type": "import", "_importId": imp["_id"]}],
        },
    )


def ids(response: Any) -> list[str]:
    assert response.status_code == 200, response.text
    return [job["_id"] for job in response.json()]


def test_jobs_are_listed_newest_first_and_only_to_their_account(
    context: AppContext, api: Api, other_api: Api
) -> None:
    older = add_job(context, api.account_id, created_at=T0)
    newer = add_job(context, api.account_id, created_at=T0 + timedelta(minutes=5))
    assert ids(api.get("/v1/jobs")) == [newer, older]
    job = api.get("/v1/jobs").json()[0]
    assert job["type"] == "flow" and job["status"] == "completed"
    assert job["createdAt"] == "2024-03-01T12:05:00.000Z"
    assert {"numSuccess", "numError", "numIgnore", "numExport", "retriable"} <= set(job)
    assert other_api.get("/v1/jobs").status_code == 204


@pytest.mark.usefixtures("scheduler_paused")  # its housekeeping would dispatch the queued job
def test_job_list_filters_like_integrator_io(context: AppContext, api: Api) -> None:
    flow_a, flow_b, integration = new_object_id(), new_object_id(), new_object_id()
    run_a = add_run(context, api.account_id, flow_a, T0)
    failed = add_job(
        context, api.account_id, flow_id=flow_b, status="failed", integration_id=integration,
        created_at=T0 + timedelta(hours=1), num_error=5,
    )  # fmt: skip
    queued = add_job(
        context, api.account_id, flow_id=flow_b, status="queued", created_at=T0 + timedelta(hours=2)
    )
    # Without a type, parent jobs only (as integrator.io), unless asking for a job's children.
    assert ids(api.get(f"/v1/jobs?_flowId={flow_a}")) == [run_a[0]]
    assert set(ids(api.get(f"/v1/jobs?_flowId={flow_a}&type_in=flow,export"))) == set(run_a[:2])
    assert set(ids(api.get(f"/v1/jobs?_flowJobId={run_a[0]}"))) == set(run_a[1:])
    assert ids(api.get(f"/v1/jobs?_flowId_in={flow_a},{flow_b}&type_in=flow,retry")) == [
        queued, failed, run_a[0]
    ]  # fmt: skip
    assert ids(api.get(f"/v1/jobs?_integrationId={integration}")) == [failed]
    assert ids(api.get("/v1/jobs?status=queued")) == [queued]
    assert ids(api.get("/v1/jobs?numError_gte=2")) == [failed]
    assert ids(api.get("/v1/jobs?numError_gte=1&numError_lte=1")) == [run_a[0]]
    assert ids(api.get("/v1/jobs?numExport_gte=3")) == [run_a[0]]
    assert ids(api.get("/v1/jobs?retriable=true")) == [failed, run_a[0]]
    window = "createdAt_gte=2024-03-01T12:30:00Z&createdAt_lte=2024-03-01T13:30:00Z"
    assert ids(api.get(f"/v1/jobs?{window}")) == [failed]
    # A time without a zone is UTC.
    assert ids(api.get("/v1/jobs?createdAt_gte=2024-03-01T13:30:00")) == [queued]
    assert ids(api.get(f"/v1/jobs?type=export&_flowJobId={run_a[0]}")) == [run_a[1]]
    assert api.get("/v1/jobs?type=retry").status_code == 204


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("_flowId=not-an-id", "_flowId"),
        ("_flowId_in=" + "a" * 24 + ",nope", "_flowId_in"),
        ("createdAt_lte=yesterday", "createdAt_lte"),
        ("createdAt_gte=9999-12-31T23:59:59-01:00", "createdAt_gte"),
        ("status=done", "status"),
        ("type_in=flow,bogus", "type_in"),
        ("numError_gte=-1", "numError_gte"),
        ("numSuccess_lte=many", "numSuccess_lte"),
        ("limit=1001", "limit"),
        ("_bogusFilter=1", "_bogusFilter"),
    ],
)
def test_bad_job_filters_are_400_naming_the_parameter(api: Api, query: str, field: str) -> None:
    response = api.get(f"/v1/jobs?{query}")
    assert response.status_code == 400, response.text
    error = response.json()["errors"][0]
    assert error["code"] == "invalid_query_params" and error["field"] == field


def test_job_list_pages_with_a_link_header(context: AppContext, api: Api) -> None:
    made = [
        add_job(context, api.account_id, created_at=T0 + timedelta(seconds=i)) for i in range(5)
    ]
    first = api.get("/v1/jobs?limit=2")
    assert ids(first) == made[::-1][:2]
    assert 'rel="next"' in first.headers["link"] and "skip=2" in first.headers["link"]
    assert ids(api.get("/v1/jobs?limit=2&skip=4")) == [made[0]]
    assert "link" not in api.get("/v1/jobs?limit=2&skip=4").headers


def test_a_job_is_read_by_id_and_is_404_elsewhere(
    context: AppContext, api: Api, other_api: Api
) -> None:
    job_id = add_job(context, api.account_id, num_success=7)
    job = api.get(f"/v1/jobs/{job_id}").json()
    assert job["_id"] == job_id and job["numSuccess"] == 7 and job["retriable"] is False
    for response in (
        other_api.get(f"/v1/jobs/{job_id}"),
        api.get(f"/v1/jobs/{'f' * 24}"),
        api.get("/v1/jobs/not-an-id"),
        other_api.put(f"/v1/jobs/{job_id}/cancel"),
    ):
        assert response.status_code == 404
        assert response.json()["errors"][0]["code"] == "not_found"
    assert api.get(f"/jobs/{job_id}").json() == job  # the unprefixed alias


def test_latest_jobs_of_a_flow_are_the_parent_then_its_children(
    context: AppContext, api: Api, other_api: Api
) -> None:
    flow = plain_flow(api)
    path = f"/v1/flows/{flow['_id']}/jobs/latest"
    assert api.get(path).status_code == 204
    add_run(context, api.account_id, flow["_id"], T0)
    newest = add_run(context, api.account_id, flow["_id"], T0 + timedelta(hours=1))
    jobs = api.get(path).json()
    assert [job["_id"] for job in jobs] == newest
    assert [job["type"] for job in jobs] == ["flow", "export", "import"]
    assert [job.get("oIndex") for job in jobs] == [None, 0, 1]
    assert other_api.get(path).status_code == 404
    assert api.get(f"/v1/flows/{'e' * 24}/jobs/latest").status_code == 404


@pytest.mark.usefixtures("scheduler_paused")  # its housekeeping would dispatch the queued job
def test_canceling_a_queued_job_ends_it_and_a_child_job_cannot_be_canceled(
    context: AppContext, api: Api
) -> None:
    queued = add_job(context, api.account_id, status="queued")
    response = api.put(f"/v1/jobs/{queued}/cancel")
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "canceled"
    assert api.put(f"/v1/jobs/{queued}/cancel").json()["status"] == "canceled"
    parent, child, _ = add_run(context, api.account_id, new_object_id(), T0)
    assert api.put(f"/v1/jobs/{parent}/cancel").json()["status"] == "completed"
    refused = api.put(f"/v1/jobs/{child}/cancel")
    assert refused.status_code == 400 and refused.json()["errors"][0]["field"] == "_flowJobId"


def test_job_routes_leave_flow_dependencies_audit_and_state_working(api: Api) -> None:
    flow = plain_flow(api)
    path = f"/v1/flows/{flow['_id']}"
    assert api.get(f"{path}/dependencies").status_code == 200
    assert api.get(f"{path}/audit").json()[0]["action"] == "create"
    # /flows/{id}/state/{key} keeps winning over /flows/{flowId}/{stepId}/errors.
    assert api.put(f"{path}/state/errors", json={"n": 1}).status_code == 201
    assert api.get(f"{path}/state/errors").json() == {"n": 1}


# --- runs through the runner and the worker --------------------------------------------------


@pytest.fixture
def fake() -> Iterator[FakeSaas]:
    with FakeSaas.running(records=30, page_size=10) as server:
        yield server


def saas_flow(api: Api, fake: FakeSaas) -> dict[str, Any]:
    connection = api.create(
        "connections",
        {"name": "Fake", "type": "http", "http": {"baseURI": fake.base_url, "mediaType": "json"}},
    )
    export = api.create(
        "exports",
        {
            "name": "Items",
            "_connectionId": connection["_id"],
            "http": {
                "relativeURI": "/stripe/items?limit=100",
                "response": {"resourcePath": "data"},
            },
        },
    )
    imp = api.create(
        "imports",
        {
            "name": "Customers",
            "_connectionId": connection["_id"],
            "http": {"relativeURI": "/api/customers", "method": "POST"},
        },
    )
    return api.create(
        "flows",
        {
            "name": "Items to customers",
            "pageGenerators": [{"_exportId": export["_id"]}],
            "pageProcessors": [{"type": "import", "_importId": imp["_id"]}],
        },
    )


def wait_for_job(api: Api, job_id: str, timeout: float = 60.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        job: dict[str, Any] = api.get(f"/v1/jobs/{job_id}").json()
        if job["status"] in ("completed", "failed", "canceled"):
            return job
        assert time.monotonic() < deadline, f"job still {job['status']}: {job}"
        time.sleep(0.05)


def test_running_a_flow_answers_201_with_its_job_and_the_job_completes(
    api: Api, fake: FakeSaas
) -> None:
    flow = saas_flow(api, fake)
    response = api.post(f"/flows/{flow['_id']}/run")  # no body, unprefixed
    assert response.status_code == 201, response.text
    job = response.json()
    assert job["type"] == "flow" and job["_flowId"] == flow["_id"]
    assert job["status"] in ("queued", "running")
    done = wait_for_job(api, job["_id"])
    assert done["status"] == "completed" and done["numSuccess"] == 30, done
    latest = api.get(f"/v1/flows/{flow['_id']}/jobs/latest").json()
    assert latest[0]["_id"] == job["_id"] and [j["type"] for j in latest[1:]] == [
        "export", "import"
    ]  # fmt: skip
    assert ids(api.get(f"/v1/jobs?_flowId={flow['_id']}&type=flow")) == [job["_id"]]


def test_run_options_are_validated(api: Api, fake: FakeSaas) -> None:
    flow = saas_flow(api, fake)
    path = f"/v1/flows/{flow['_id']}/run"
    for body, field in (
        ({"_exportIds": "x"}, "_exportIds"),
        ({"_exportIds": ["not-an-id"]}, "_exportIds.0"),
        ({"_exportIds": ["e" * 24]}, "_exportIds"),  # not a page generator of this flow
        ({"startDate": "soon"}, "startDate"),
        ({"startDate": "2024-02-01T00:00:00Z", "endDate": "2024-01-01T00:00:00Z"}, "startDate"),
    ):
        response = api.post(path, json=body)
        assert response.status_code == 422, (body, response.text)
        assert response.json()["errors"][0]["field"] == field, (body, response.text)
    assert api.post(path, json=[1]).status_code == 422
    assert (
        api.post(path, content=b"{", headers={"content-type": "application/json"}).status_code
        == 400
    )
    assert api.post(f"/v1/flows/{'e' * 24}/run", json={}).status_code == 404
    # Unknown keys are ignored.
    response = api.post(path, json={"somethingElse": True, "startDate": "2024-01-01"})
    assert response.status_code == 201, response.text
    wait_for_job(api, response.json()["_id"])
