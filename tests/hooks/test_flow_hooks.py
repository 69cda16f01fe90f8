"""Hooks in real flow runs, JavaScript and Python side by side: the same hook written in both
languages must give the same result, as integrator.io documents it (reference §8.3).

Each flow reads the fake app's items (``id``, ``name``, ``email``) and posts customers; the
hooks drop, reject or rewrite, and the assertions read jobs, errors and the fake's data.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from engine.test_flow_runs import STRIPE, make_connection, wait_for_job
from engine.test_flow_steps import customers_import, export
from fakes import FakeSaas
from fakes.stack_server import FakeStack
from integrator.api.context import AppContext
from integrator.hooks.base import Limits

from conftest import Api

DROP_EVERY_FIFTH = {
    "javascript": """
function preSavePage(options) {
  const data = [], errors = [];
  for (const record of options.data) {
    if (record.id % 5 === 0) {
      errors.push({code: 'dropped', message: 'record ' + record.id + ' dropped'});
    } else {
      data.push(record);
    }
  }
  return {data: data, errors: errors, abort: false};
}
""",
    "python": """
def preSavePage(options):
    data, errors = [], []
    for record in options["data"]:
        if record["id"] % 5 == 0:
            errors.append({"code": "dropped", "message": f"record {record['id']} dropped"})
        else:
            data.append(record)
    return {"data": data, "errors": errors, "abort": False}
""",
}

REJECT_EVERY_FOURTH = {
    "javascript": """
function preMap(options) {
  return options.data.map(function (record) {
    if (record.id % 4 === 0) {
      return {errors: [{code: 'rejected', message: 'id ' + record.id + ' is not wanted'}]};
    }
    return {data: Object.assign({}, record, {name: record.name.toUpperCase()})};
  });
}
""",
    "python": """
def preMap(options):
    answers = []
    for record in options["data"]:
        if record["id"] % 4 == 0:
            answers.append({"errors": [{"code": "rejected",
                                        "message": f"id {record['id']} is not wanted"}]})
        else:
            answers.append({"data": {**record, "name": record["name"].upper()}})
    return answers
""",
}

REWRITE_MESSAGES = {
    "javascript": """
function postSubmit(options) {
  return options.responseData.map(function (response) {
    (response.errors || []).forEach(function (e) { e.message = 'Customer refused: ' + e.message; });
    return response;
  });
}
""",
    "python": """
def postSubmit(options):
    for response in options["responseData"]:
        for error in response.get("errors") or []:
            error["message"] = "Customer refused: " + error["message"]
    return options["responseData"]
""",
}

THROWS = {
    "javascript": "function preMap(options) { throw new Error('cannot map today'); }",
    "python": "def preMap(options):\n    raise ValueError('cannot map today')\n",
}

LOGS = {
    "javascript": """
function preMap(options) {
  console.log('mapping', options.data.length, 'records');
  return options.data.map(function (d) { return {data: d}; });
}
""",
    "python": """
def preMap(options):
    print("mapping", len(options["data"]), "records")
    return [{"data": d} for d in options["data"]]
""",
}


def script(api: Api, language: str, content: str) -> str:
    body = {"name": f"{language} hook", "language": language, "content": content}
    return str(api.create("scripts", body)["_id"])


def customers_flow(
    api: Api,
    fake: FakeSaas,
    export_hooks: dict[str, Any] | None = None,
    import_hooks: dict[str, Any] | None = None,
) -> tuple[dict[str, Any], str, str]:
    """A flow items → customers with hooks on its export and import: (flow, export, import)."""
    connection = make_connection(api, fake)
    export_id = export(api, connection, STRIPE)
    import_id = customers_import(api, connection)
    if export_hooks:
        doc = api.get(f"/v1/exports/{export_id}").json()
        assert api.put(f"/v1/exports/{export_id}", json={**doc, "hooks": export_hooks}).is_success
    if import_hooks:
        doc = api.get(f"/v1/imports/{import_id}").json()
        assert api.put(f"/v1/imports/{import_id}", json={**doc, "hooks": import_hooks}).is_success
    flow = api.create(
        "flows",
        {
            "name": "Hooked",
            "pageGenerators": [{"_exportId": export_id}],
            "pageProcessors": [{"type": "import", "_importId": import_id}],
        },
    )
    return flow, export_id, import_id


def run(api: Api, flow_id: str) -> dict[str, Any]:
    response = api.post(f"/v1/flows/{flow_id}/run", json={})
    assert response.status_code == 201, response.text
    return wait_for_job(api, response.json()["_id"])


def errors_of(api: Api, flow_id: str, step_id: str) -> list[dict[str, Any]]:
    listed = api.get(f"/v1/flows/{flow_id}/{step_id}/errors")
    return [] if listed.status_code == 204 else list(listed.json()["errors"])


def test_pre_save_page_drops_records_and_adds_errors(api: Api, language: str) -> None:
    with FakeSaas.running(records=30, page_size=10) as fake:
        hook = {"_scriptId": script(api, language, DROP_EVERY_FIFTH[language]),
                "function": "preSavePage"}  # fmt: skip
        flow, export_id, _ = customers_flow(api, fake, export_hooks={"preSavePage": hook})
        job = run(api, flow["_id"])
        assert job["status"] == "completed", job
        assert (job["numSuccess"], job["numError"]) == (24, 6)
        assert sorted(c["external_id"] for c in fake.customers.values()) == [
            i for i in range(1, 31) if i % 5
        ]
        errors = errors_of(api, flow["_id"], export_id)
        assert sorted(e["message"] for e in errors) == sorted(
            f"record {i} dropped" for i in (5, 10, 15, 20, 25, 30)
        )
        assert {e["code"] for e in errors} == {"dropped"}


def test_pre_map_rejects_some_records(api: Api, language: str) -> None:
    with FakeSaas.running(records=20, page_size=10) as fake:
        hook = {"_scriptId": script(api, language, REJECT_EVERY_FOURTH[language]),
                "function": "preMap"}  # fmt: skip
        flow, _, import_id = customers_flow(api, fake, import_hooks={"preMap": hook})
        job = run(api, flow["_id"])
        assert job["status"] == "completed", job
        assert (job["numSuccess"], job["numError"]) == (15, 5)
        assert sorted(c["external_id"] for c in fake.customers.values()) == [
            i for i in range(1, 21) if i % 4
        ]
        errors = errors_of(api, flow["_id"], import_id)
        assert sorted(e["message"] for e in errors) == sorted(
            f"id {i} is not wanted" for i in (4, 8, 12, 16, 20)
        )
        # A rejected record keeps its retry data: it can be retried once the hook changes.
        assert all(e.get("retryDataKey") for e in errors)


def test_post_submit_rewrites_error_messages(api: Api, language: str) -> None:
    with FakeSaas.running(records=10, page_size=10) as fake:
        fake.reject_external_ids.update({3, 7})
        hook = {"_scriptId": script(api, language, REWRITE_MESSAGES[language]),
                "function": "postSubmit"}  # fmt: skip
        flow, _, import_id = customers_flow(api, fake, import_hooks={"postSubmit": hook})
        job = run(api, flow["_id"])
        assert (job["numSuccess"], job["numError"]) == (8, 2)
        messages = sorted(e["message"] for e in errors_of(api, flow["_id"], import_id))
        assert messages == [
            "Customer refused: external_id 3 is refused",
            "Customer refused: external_id 7 is refused",
        ]


def test_a_hook_that_throws_fails_its_page(api: Api, language: str) -> None:
    with FakeSaas.running(records=10, page_size=10) as fake:
        hook = {"_scriptId": script(api, language, THROWS[language]), "function": "preMap"}
        flow, _, import_id = customers_flow(api, fake, import_hooks={"preMap": hook})
        job = run(api, flow["_id"])
        assert job["numSuccess"] == 0 and job["numError"] == 10, job
        assert fake.customers == {}
        errors = errors_of(api, flow["_id"], import_id)
        assert errors and all("cannot map today" in e["message"] for e in errors)


def test_console_output_lands_in_the_script_logs(api: Api, language: str) -> None:
    with FakeSaas.running(records=10, page_size=10) as fake:
        script_id = script(api, language, LOGS[language])
        hook = {"_scriptId": script_id, "function": "preMap"}
        flow, _, _ = customers_flow(api, fake, import_hooks={"preMap": hook})
        job = run(api, flow["_id"])
        assert job["numSuccess"] == 10
        logs = api.get(f"/v1/scripts/{script_id}/logs").json()
        assert [(line["level"], line["message"]) for line in logs] == [
            ("log", "mapping 10 records")
        ]
        assert logs[0]["_flowId"] == flow["_id"]


RUNAWAY = {
    ("javascript", "loop"): "function preMap(options) { while (true) {} }",
    ("javascript", "memory"): (
        "function preMap(options) {"
        " const a = []; while (true) a.push('x'.repeat(1e6) + a.length); }"
    ),
    ("python", "loop"): "def preMap(options):\n    while True:\n        pass\n",
    ("python", "memory"): "def preMap(options):\n    return [b'x' * 10**10]\n",
}


@pytest.mark.parametrize("kind", ["loop", "memory"])
def test_a_runaway_hook_fails_its_page_while_the_platform_serves(
    api: Api, context: AppContext, language: str, kind: str
) -> None:
    previous = context.hooks.limits
    context.hooks.limits = Limits(timeout_seconds=2, memory_mb=128)
    try:
        with FakeSaas.running(records=10, page_size=10) as fake:
            hook = {"_scriptId": script(api, language, RUNAWAY[language, kind]),
                    "function": "preMap"}  # fmt: skip
            flow, _, import_id = customers_flow(api, fake, import_hooks={"preMap": hook})
            started = api.post(f"/v1/flows/{flow['_id']}/run", json={})
            assert started.status_code == 201
            # The API answers while the hook runs away.
            assert api.get("/v1/tokenInfo").status_code == 200
            job = wait_for_job(api, started.json()["_id"])
        assert (job["numSuccess"], job["numError"]) == (0, 10), job
        expected = "time limit" if kind == "loop" else "memory limit"
        errors = errors_of(api, flow["_id"], import_id)
        assert errors and all(expected in e["message"] for e in errors), errors[0]["message"]
    finally:
        context.hooks.limits = previous


TRANSFORM_AND_FILTER = {
    "javascript": """
function shout(options) {
  return Object.assign({}, options.record, {name: options.record.name.toUpperCase()});
}
function evenOnly(options) { return options.record.id % 2 === 0; }
function notSix(options) { return options.record.id !== 6; }
""",
    "python": """
def shout(options):
    return {**options["record"], "name": options["record"]["name"].upper()}

def evenOnly(options):
    return options["record"]["id"] % 2 == 0

def notSix(options):
    return options["record"]["id"] != 6
""",
}

AGGREGATE = {
    "javascript": """
function done(options) {
  const d = options.postAggregateData;
  console.log(JSON.stringify({success: d.success, counts: d._json}));
}
""",
    "python": """
import json

def done(options):
    d = options["postAggregateData"]
    print(json.dumps({"success": d["success"], "counts": d["_json"]}, separators=(",", ":")))
""",
}

WRONG_LENGTH = {
    "javascript": "function preMap(o) { return o.data.slice(1).map(d => ({data: d})); }",
    "python": "def preMap(options):\n    return [{'data': d} for d in options['data'][1:]]\n",
}


def test_script_transform_and_filters_shape_what_is_imported(api: Api, language: str) -> None:
    with FakeSaas.running(records=10, page_size=10) as fake:
        script_id = script(api, language, TRANSFORM_AND_FILTER[language])
        flow, export_id, import_id = customers_flow(api, fake)
        for kind, step, blocks in (
            ("exports", export_id, {"transform": "shout", "filter": "evenOnly"}),
            ("imports", import_id, {"filter": "notSix"}),
        ):
            doc = api.get(f"/v1/{kind}/{step}").json()
            for name, function in blocks.items():
                doc[name] = {"type": "script",
                             "script": {"_scriptId": script_id, "function": function}}  # fmt: skip
            assert api.put(f"/v1/{kind}/{step}", json=doc).is_success
        import_doc = api.get(f"/v1/imports/{import_id}").json()
        import_doc["mapping"]["fields"].append({"extract": "name", "generate": "name"})
        assert api.put(f"/v1/imports/{import_id}", json=import_doc).is_success
        job = run(api, flow["_id"])
        assert job["status"] == "completed", job
        assert (job["numSuccess"], job["numIgnore"]) == (4, 6)
        assert sorted((c["external_id"], c["name"]) for c in fake.customers.values()) == [
            (i, f"CUSTOMER {i}") for i in (2, 4, 8, 10)
        ]


def test_post_aggregate_sees_how_the_job_ended(api: Api, language: str) -> None:
    with FakeSaas.running(records=10, page_size=10) as fake:
        fake.reject_external_ids.add(3)
        script_id = script(api, language, AGGREGATE[language])
        hook = {"_scriptId": script_id, "function": "done"}
        flow, _, _ = customers_flow(api, fake, import_hooks={"postAggregate": hook})
        job = run(api, flow["_id"])
        assert (job["numSuccess"], job["numError"]) == (9, 1)
        deadline = time.monotonic() + 10  # the hook runs once the job has ended
        while (logs := api.get(f"/v1/scripts/{script_id}/logs")).status_code == 204:
            assert time.monotonic() < deadline, "postAggregate never ran"
            time.sleep(0.05)
        assert [json.loads(line["message"]) for line in logs.json()] == [
            {"success": False, "counts": {"numSuccess": 9, "numError": 1, "numIgnore": 0}}
        ]


def test_an_answer_of_the_wrong_length_fails_the_page(api: Api, language: str) -> None:
    with FakeSaas.running(records=5, page_size=5) as fake:
        hook = {"_scriptId": script(api, language, WRONG_LENGTH[language]), "function": "preMap"}
        flow, _, import_id = customers_flow(api, fake, import_hooks={"preMap": hook})
        job = run(api, flow["_id"])
        assert (job["numSuccess"], job["numError"]) == (0, 5)
        assert fake.customers == {}
        assert {e["message"] for e in errors_of(api, flow["_id"], import_id)} == {
            "preMap returned 4 elements for 5 records: the number of elements in the return "
            "value must match the number of records."
        }


def test_a_legacy_hook_id_calls_the_function_named_like_the_hook(api: Api) -> None:
    with FakeSaas.running(records=8, page_size=8) as fake:
        legacy = {"_preMapId": script(api, "javascript", REJECT_EVERY_FOURTH["javascript"])}
        flow, _, _ = customers_flow(api, fake, import_hooks=legacy)
        job = run(api, flow["_id"])
        assert (job["numSuccess"], job["numError"]) == (6, 2)


def test_a_stack_hook_runs_in_a_flow(api: Api) -> None:
    def pre_map(options: dict[str, Any]) -> list[dict[str, Any]]:
        return [{"data": {**r, "name": r["name"] + " (checked)"}} for r in options["data"]]

    with FakeStack.running() as stack, FakeSaas.running(records=6, page_size=6) as fake:
        stack.register("hooks", "checkNames", pre_map)
        stack_doc = api.create(
            "stacks",
            {"name": "Hooks", "type": "server",
             "server": {"hostURI": stack.host_uri, "systemToken": stack.system_token}},
        )  # fmt: skip
        hook = {"_stackId": stack_doc["_id"], "function": "checkNames"}
        flow, _, import_id = customers_flow(api, fake, import_hooks={"preMap": hook})
        import_doc = api.get(f"/v1/imports/{import_id}").json()
        import_doc["mapping"]["fields"].append({"extract": "name", "generate": "name"})
        assert api.put(f"/v1/imports/{import_id}", json=import_doc).is_success
        job = run(api, flow["_id"])
        assert (job["status"], job["numSuccess"]) == ("completed", 6), job
        assert {c["name"] for c in fake.customers.values()} == {
            f"Customer {i} (checked)" for i in range(1, 7)
        }
        call = stack.calls[0]
        assert (call.type, call.function) == ("hook", "checkNames")
        assert call.body["diy"] is True
        assert call.options["_flowId"] == flow["_id"]
