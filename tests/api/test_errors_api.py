"""Job errors, retries and retry data, through both API generations.

Read-path tests record errors the way the pipeline does (``joberrors.record``) and read them
back; the retry tests at the end run real flows against the fake SaaS app.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import update
from test_jobs_api import add_run, plain_flow, saas_flow, wait_for_job

from fakes import FakeSaas
from integrator.api.context import AppContext
from integrator.engine import joberrors
from integrator.store.models import JobError

from conftest import Api

BAD_EMAIL = [{"code": "422", "message": "email is not a valid address"}]


class Run:
    """A flow (export → import) with one recorded run: ``parent``, ``export_job``,
    ``import_job`` ids, and helpers to record errors at its import step."""

    def __init__(self, context: AppContext, api: Api) -> None:
        self.context = context
        self.api = api
        self.flow = plain_flow(api)
        self.flow_id: str = self.flow["_id"]
        self.export_id: str = self.flow["pageGenerators"][0]["_exportId"]
        self.import_id: str = self.flow["pageProcessors"][0]["_importId"]
        steps = (self.export_id, self.import_id)
        self.parent, self.export_job, self.import_job = add_run(
            context, api.account_id, self.flow_id, steps=steps
        )

    def fail(
        self, *records: dict[str, Any] | None, source: str = "application", retry: bool = True
    ) -> None:
        """Record that these records failed at the import step."""
        where = joberrors.Where(
            self.api.account_id, self.flow_id, self.parent, self.import_job, self.import_id, 0,
            "pageProcessors.0",
        )  # fmt: skip
        failures = [(record, BAD_EMAIL, f"trace-{i}") for i, record in enumerate(records)]
        with self.context.transaction() as session:
            joberrors.record(session, where, failures, keep_retry_data=retry, source=source)

    @property
    def step(self) -> str:
        return f"/v1/flows/{self.flow_id}/{self.import_id}"

    def open_errors(self) -> list[dict[str, Any]]:
        response = self.api.get(f"{self.step}/errors")
        assert response.status_code == 200, response.text
        errors: list[dict[str, Any]] = response.json()["errors"]
        return errors


@pytest.fixture
def run(context: AppContext, api: Api) -> Run:
    return Run(context, api)


def test_job_errors_are_listed_in_the_legacy_shape(run: Run, api: Api, other_api: Api) -> None:
    run.fail({"id": 1, "email": "one"}, {"id": 2, "email": "two"})
    errors = api.get(f"/v1/jobs/{run.parent}/joberrors").json()
    assert len(errors) == 2
    first = errors[0]
    assert first["_flowJobId"] == run.parent and first["_jobId"] == run.import_job
    assert first["resolved"] is False and first["retry"] is True and first["_retryId"]
    assert (first["code"], first["source"]) == ("422", "application")
    assert api.get(f"/v1/jobs/{run.import_job}/joberrors").json() == errors
    assert api.get(f"/v1/jobs/{run.export_job}/joberrors").status_code == 204
    assert other_api.get(f"/v1/jobs/{run.parent}/joberrors").status_code == 404


def test_job_errors_are_resolved_one_at_a_time_or_all_at_once(
    run: Run, api: Api, other_api: Api
) -> None:
    run.fail({"id": 1}, {"id": 2}, {"id": 3})
    first = api.get(f"/v1/jobs/{run.parent}/joberrors").json()[0]["_id"]
    path = f"/v1/jobs/{run.parent}/joberrors"
    assert other_api.put(f"{path}/{first}/resolve").status_code == 404
    assert api.put(f"/v1/jobs/{run.export_job}/joberrors/{first}/resolve").status_code == 404
    resolved = api.put(f"{path}/{first}/resolve")
    assert resolved.status_code == 200 and resolved.json()["resolved"] is True
    assert other_api.put(f"{path}/resolve").status_code == 404
    assert api.put(f"{path}/resolve").json() == {"resolved": 2}
    assert api.put(f"{path}/resolve").json() == {"resolved": 0}
    assert all(error["resolved"] for error in api.get(path).json())
    assert run.open_errors() == []


def test_retries_list_open_retry_data_whose_records_can_be_edited(
    run: Run, api: Api, other_api: Api
) -> None:
    run.fail({"id": 1, "email": "one"}, {"id": 2, "email": "two"})
    run.fail({"id": 3}, retry=False)  # a flow that skips retries keeps no data
    retries = api.get(f"/v1/retries?_flowJobId={run.parent}").json()
    assert len(retries) == 2
    retry = retries[0]
    assert retry["_jobId"] == run.import_job and retry["_flowId"] == run.flow_id
    assert retry["stage"] == "pageProcessors.0" and retry["type"] == "object"
    assert api.get(f"/v1/retries?_jobId={run.import_job}").json() == retries
    assert api.get(f"/v1/retries?_flowId={run.flow_id}&limit=1").headers["link"]
    assert api.get(f"/v1/retries?_jobId={run.export_job}").status_code == 204
    assert other_api.get("/v1/retries").status_code == 204
    key = retry["_id"]
    assert api.get(f"/v1/retries/{key}").json() == retry
    assert api.get(f"/v1/retries/{key}/data").json() == {"id": 1, "email": "one"}
    fixed = {"id": 1, "email": "one@example.com"}
    assert api.put(f"/v1/retries/{key}/data", json=fixed).json() == fixed
    assert api.get(f"/v1/retries/{key}/data").json() == fixed
    assert api.put(f"/v1/retries/{key}/data", json=[fixed]).status_code == 422
    for response in (
        other_api.get(f"/v1/retries/{key}"),
        other_api.get(f"/v1/retries/{key}/data"),
        other_api.put(f"/v1/retries/{key}/data", json={}),
        api.get("/v1/retries/no-such-key/data"),
    ):
        assert response.status_code == 404
    assert api.get("/v1/retries?_flowId=nope").status_code == 400


def test_flow_errors_count_the_open_errors_of_each_step(run: Run, api: Api, other_api: Api) -> None:
    path = f"/v1/flows/{run.flow_id}/errors"
    assert api.get(path).json() == {"flowErrors": []}
    run.fail({"id": 1}, {"id": 2})
    counts = api.get(path).json()["flowErrors"]
    assert [(c["_expOrImpId"], c["numError"]) for c in counts] == [(run.import_id, 2)]
    assert counts[0]["lastErrorAt"].endswith("Z")
    assert other_api.get(path).status_code == 404


def test_step_errors_filter_by_time_and_source_and_move_to_resolved(
    context: AppContext, run: Run, api: Api
) -> None:
    run.fail({"id": 1}, {"id": 2})
    run.fail({"id": 3}, source="mapping")
    # Make the mapping error an hour older than the others.
    earlier = datetime.now(UTC) - timedelta(hours=1)
    with context.transaction() as session:
        session.execute(
            update(JobError).where(JobError.source == "mapping").values(occurred_at=earlier)
        )
    errors = run.open_errors()
    assert [e["source"] for e in errors] == ["mapping", "application", "application"]
    error = errors[1]
    assert {"errorId", "occurredAt", "code", "message", "traceKey", "retryDataKey"} <= set(error)
    assert error["_flowJobId"] == run.parent and error["oIndex"] == 0
    by_source = api.get(f"{run.step}/errors?source=mapping").json()["errors"]
    assert [e["errorId"] for e in by_source] == [errors[0]["errorId"]]
    since = (earlier + timedelta(minutes=30)).isoformat()
    recent = api.get(f"{run.step}/errors", params={"occurredAt_gte": since}).json()["errors"]
    assert len(recent) == 2
    until = api.get(f"{run.step}/errors", params={"occurredAt_lte": since}).json()["errors"]
    assert len(until) == 1
    assert len(api.get(f"{run.step}/errors?limit=2").json()["errors"]) == 2
    assert api.get(f"{run.step}/errors?occurredAt_gte=later").status_code == 400

    assert api.get(f"{run.step}/resolved").json() == {"resolved": []}
    chosen = [errors[0]["errorId"], errors[2]["errorId"]]
    response = api.put(f"{run.step}/resolved", json={"errors": [*chosen, "unknown"]})
    assert response.status_code == 204
    assert [e["errorId"] for e in run.open_errors()] == [errors[1]["errorId"]]
    resolved = api.get(f"/flows/{run.flow_id}/{run.import_id}/resolved").json()["resolved"]
    assert sorted(e["errorId"] for e in resolved) == sorted(chosen)
    assert all(e["resolvedAt"] and e["resolvedBy"] == api.account_id for e in resolved)
    assert api.put(f"{run.step}/resolved", json={"errors": "all"}).status_code == 422


def test_step_routes_are_404_outside_the_callers_flow_steps(
    run: Run, api: Api, other_api: Api
) -> None:
    run.fail({"id": 1})
    key = run.open_errors()[0]["retryDataKey"]
    other_flow = plain_flow(api)
    paths = [
        f"/v1/flows/{run.flow_id}/{'e' * 24}/errors",  # not a step of the flow
        f"/v1/flows/{other_flow['_id']}/{run.import_id}/errors",  # a step of another flow
        f"/v1/flows/{'e' * 24}/{run.import_id}/errors",
        f"/v1/flows/{run.flow_id}/{run.export_id}/retryData/{key}",  # the key's other step
    ]
    for path in paths:
        assert api.get(path).status_code == 404, path
    for path in (f"{run.step}/errors", f"{run.step}/resolved", f"{run.step}/retryData/{key}"):
        assert other_api.get(path).status_code == 404, path
    assert other_api.put(f"{run.step}/resolved", json={"errors": []}).status_code == 404
    assert other_api.post(f"{run.step}/retry", json={"retryDataKeys": [key]}).status_code == 404
    # Ids no database could hold are simply not found.
    assert api.get(f"/v1/flows/{run.flow_id}/a%00b/errors").status_code == 404
    assert api.get("/v1/retries/a%00b").status_code == 404
    assert api.put(f"/v1/jobs/{run.parent}/joberrors/a%00b/resolve").status_code == 404
    assert api.put(f"{run.step}/resolved", json={"errors": ["a\x00b"]}).status_code == 422
    # The export step exists in the flow: it answers with no errors.
    export_step = f"/v1/flows/{run.flow_id}/{run.export_id}/errors"
    assert api.get(export_step).json() == {"errors": []}


def test_the_retry_data_of_a_step_can_be_read_and_replaced_before_retrying(
    run: Run, api: Api
) -> None:
    run.fail({"id": 1, "email": "broken"})
    key = run.open_errors()[0]["retryDataKey"]
    path = f"{run.step}/retryData/{key}"
    stored = api.get(path).json()
    assert stored == {
        "data": {"id": 1, "email": "broken"},
        "stage": "pageProcessors.0",
        "traceKey": "trace-0",
    }
    stored["data"]["email"] = "fixed@example.com"
    replaced = api.put(path, json=stored)  # GET, change, PUT back
    assert replaced.status_code == 200 and replaced.json() == stored
    assert api.get(path).json()["data"]["email"] == "fixed@example.com"
    assert api.get(f"/v1/retries/{key}/data").json()["email"] == "fixed@example.com"
    for bad in ({"data": [1]}, {"data": "x"}, {}):
        response = api.put(path, json=bad)
        assert response.status_code == 422, bad
        assert response.json()["errors"][0]["field"] == "data"
    assert api.get(f"{run.step}/retryData/unknown-key").status_code == 404


def test_retry_requests_are_validated_and_resolved_errors_are_not_retried(
    run: Run, api: Api
) -> None:
    run.fail({"id": 1}, {"id": 2})
    run.fail({"id": 3}, retry=False)
    first, second, no_data = run.open_errors()
    api.put(f"{run.step}/resolved", json={"errors": [first["errorId"]]})
    path = f"{run.step}/retry"
    cases = [
        ({}, "missing_required_field", "retryDataKeys"),
        ({"retryDataKeys": "x"}, "invalid_field", "retryDataKeys"),
        ({"errorIds": ["nope"]}, "invalid_field", "errorIds.0"),
        ({"errorIds": [second["errorId"], first["errorId"]]}, "error_resolved", "errorIds.1"),
        ({"errorIds": [no_data["errorId"]]}, "invalid_field", "errorIds.0"),
        ({"retryDataKeys": [first["retryDataKey"]]}, "error_resolved", "retryDataKeys"),
        ({"retryDataKeys": ["unknown"]}, "invalid_retry_data_key", "retryDataKeys"),
    ]
    for body, code, field in cases:
        response = api.post(path, json=body)
        assert response.status_code == 422, (body, response.text)
        error = response.json()["errors"][0]
        assert (error["code"], error["field"]) == (code, field), (body, error)
    # Nothing was queued.
    assert api.get(f"/v1/jobs?_flowId={run.flow_id}&type=retry").status_code == 204
    assert api.post(f"/v1/jobs/{run.export_job}/retry").status_code == 422


# --- retries that run ------------------------------------------------------------------------


@pytest.fixture
def fake() -> Iterator[FakeSaas]:
    records = [
        {"id": 1, "name": "Ann", "email": "ann@example.com"},
        {"id": 2, "name": "Bob", "email": "bob-at-example.com"},
        {"id": 3, "name": "Cy", "email": "cy-at-example.com"},
    ]
    with FakeSaas.running(records=records) as server:
        yield server


def failed_run(api: Api, fake: FakeSaas) -> tuple[dict[str, Any], dict[str, Any], str]:
    """Run a flow where two of three records fail at the import: (flow, job, step path)."""
    flow = saas_flow(api, fake)
    job = wait_for_job(api, api.post(f"/v1/flows/{flow['_id']}/run").json()["_id"])
    assert (job["status"], job["numSuccess"], job["numError"]) == ("completed", 1, 2), job
    step = f"/v1/flows/{flow['_id']}/{flow['pageProcessors'][0]['_importId']}"
    return flow, job, step


def test_a_failed_record_fixed_in_its_retry_data_succeeds_when_retried(
    api: Api, fake: FakeSaas
) -> None:
    _, job, step = failed_run(api, fake)
    errors = api.get(f"{step}/errors").json()["errors"]
    assert len(errors) == 2 and all(e["_flowJobId"] == job["_id"] for e in errors)
    bob = next(
        e for e in errors if "bob" in str(api.get(f"{step}/retryData/{e['retryDataKey']}").json())
    )
    data_path = f"{step}/retryData/{bob['retryDataKey']}"
    stored = api.get(data_path).json()
    stored["data"]["email"] = "bob@example.com"
    assert api.put(data_path, json=stored).status_code == 200
    response = api.post(f"{step}/retry", json={"errorIds": [bob["errorId"]]})
    assert response.status_code == 201, response.text
    retry = response.json()
    assert retry["type"] == "retry" and retry["_retryOfJobId"] == job["_id"]
    assert wait_for_job(api, retry["_id"])["status"] == "completed"
    assert "bob@example.com" in [c["email"] for c in fake.customers.values()]
    assert [e["errorId"] for e in api.get(f"{step}/errors").json()["errors"]] != [bob["errorId"]]
    open_keys = {e["retryDataKey"] for e in api.get(f"{step}/errors").json()["errors"]}
    assert bob["retryDataKey"] not in open_keys and len(open_keys) == 1
    # The retried record's error is resolved, so it can't be retried again.
    again = api.post(f"{step}/retry", json={"retryDataKeys": [bob["retryDataKey"]]})
    assert again.status_code == 422 and again.json()["errors"][0]["code"] == "error_resolved"
    assert api.get(f"/v1/jobs/{job['_id']}").json()["numSuccess"] == 2


def test_retrying_a_job_retries_every_open_error_of_it(api: Api, fake: FakeSaas) -> None:
    flow, job, step = failed_run(api, fake)
    response = api.post(f"/v1/jobs/{job['_id']}/retry")
    assert response.status_code == 201, response.text
    retries = response.json()
    assert [r["type"] for r in retries] == ["retry"]
    done = wait_for_job(api, retries[0]["_id"])
    assert done["status"] == "completed"
    # The records still have bad emails: they failed again, with fresh errors.
    errors = api.get(f"{step}/errors").json()["errors"]
    assert len(errors) == 2 and all(e["_flowJobId"] == job["_id"] for e in errors)
    listed = api.get(f"/v1/retries?_flowId={flow['_id']}").json()
    assert {r["_id"] for r in listed} == {e["retryDataKey"] for e in errors}
    # Retrying the retry job, or the flow job's import child, retries the same open errors.
    import_job = api.get(f"/v1/jobs?_flowJobId={job['_id']}&type=import").json()[0]
    for retried in (retries[0]["_id"], import_job["_id"]):
        again = api.post(f"/v1/jobs/{retried}/retry")
        assert again.status_code == 201, again.text
        assert again.json()[0]["_retryOfJobId"] == job["_id"]
        assert wait_for_job(api, again.json()[0]["_id"])["status"] == "completed"
    export_job = api.get(f"/v1/jobs?_flowJobId={job['_id']}&type=export").json()[0]
    assert api.post(f"/v1/jobs/{export_job['_id']}/retry").status_code == 422
