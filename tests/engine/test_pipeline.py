"""The page pipeline's hook call points and their return contracts (reference §8.3), with
hooks written as Python functions behind the ``HookRunner`` interface the hooks runtime
implements; imports answer from a list, so each test shows exactly what the pipeline did."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import pytest

from integrator.engine.hooks import (
    HookContext,
    HookError,
    HookRef,
    NoHookRunner,
    pre_save_page_result,
)
from integrator.engine.pipeline import FlowPlan, PageRun, Step

IMPORT_ID = "i" * 24
CALLER = HookContext(account_id="a" * 24)


class PythonHooks:
    """Runs hooks as Python callables keyed by function name; records every call."""

    def __init__(self, **functions: Callable[[dict[str, Any]], Any]) -> None:
        self.functions = functions
        self.calls: list[str] = []

    def call(
        self,
        ref: HookRef,
        options: dict[str, Any],
        context: HookContext,
        kind: str = "hook",
        each: list[Any] | None = None,
    ) -> Any:
        self.calls.append(ref.name)
        return self.functions[str(ref.function)](options)


def page_run(
    hooks: Any, import_hooks: Mapping[str, Any] | None = None
) -> tuple[PageRun, list[list[dict[str, Any]]]]:
    sent: list[list[dict[str, Any]]] = []
    flow = {"pageGenerators": [{"_exportId": "e" * 24}],
            "pageProcessors": [{"type": "import", "_importId": IMPORT_ID}]}  # fmt: skip
    import_doc = {"_id": IMPORT_ID, "hooks": dict(import_hooks or {})}

    def resources(step: Step) -> Mapping[str, Any]:
        return import_doc

    def run_import(
        doc: Mapping[str, Any], records: list[dict[str, Any]], post_map: Any = None
    ) -> list[dict[str, Any]]:
        # As the HTTP adaptor does: no mapping here, so postMapData is the record itself.
        answers = post_map(records, records) if post_map else [(r, [], False) for r in records]
        results: list[dict[str, Any] | None] = [
            {"statusCode": 200, "ignored": True, "errors": []} if ignored
            else {"statusCode": 422, "errors": errors} if data is None
            else None
            for data, errors, ignored in answers
        ]  # fmt: skip
        records = [data for data, _, _ in answers if data is not None]
        sent.append(records)
        submitted = iter(
            [
                {"statusCode": 422, "errors": [{"code": "422", "message": "refused"}]}
                if record.get("bad")
                else {"statusCode": 200, "id": record["id"], "errors": [], "ignored": False}
                for record in records
            ]
        )
        return [result if result is not None else next(submitted) for result in results]

    def no_lookup(doc: Mapping[str, Any], record: dict[str, Any]) -> list[dict[str, Any]]:
        raise AssertionError("no lookup step here")

    run = PageRun(FlowPlan.of(flow), resources, run_import, no_lookup, hooks, {}, CALLER)
    return run, sent


def hook(function: str) -> dict[str, str]:
    return {"_scriptId": "s" * 24, "function": function}


def test_a_page_without_hooks_never_calls_the_hook_runner() -> None:
    run, sent = page_run(NoHookRunner())
    outcome = run.process([{"id": 1}, {"id": 2, "bad": True}], 0, "p")
    assert sent == [[{"id": 1}, {"id": 2, "bad": True}]]
    assert (outcome.counts[0].success, outcome.counts[0].error) == (1, 1)
    assert outcome.failures[0].record == {"id": 2, "bad": True}
    assert outcome.clean == [0]


def test_a_configured_hook_without_a_runtime_fails_the_page_clearly() -> None:
    run, _ = page_run(NoHookRunner(), {"preMap": hook("preMap")})
    with pytest.raises(HookError, match="preMap hook cannot run"):
        run.process([{"id": 1}], 0, "p")


def test_pre_map_rejects_ignores_and_rewrites_records() -> None:
    def pre_map(options: dict[str, Any]) -> list[dict[str, Any]]:
        answer: list[dict[str, Any]] = []
        for record in options["data"]:
            if record["id"] == 1:
                answer.append({"errors": [{"code": "nope", "message": "rejected by preMap"}]})
            elif record["id"] == 2:
                answer.append({})
            else:
                answer.append({"data": {**record, "touched": True}})
        return answer

    hooks = PythonHooks(preMap=pre_map)
    run, sent = page_run(hooks, {"preMap": hook("preMap")})
    outcome = run.process([{"id": 1}, {"id": 2}, {"id": 3}], 0, "p")
    assert hooks.calls == ["preMap"]
    assert sent == [[{"id": 3, "touched": True}]]
    counts = outcome.counts[0]
    assert (counts.success, counts.error, counts.ignore) == (1, 1, 1)
    assert outcome.failures[0].errors[0]["message"] == "rejected by preMap"
    assert outcome.failures[0].source == "pre_map_hook"


def test_pre_map_returning_the_wrong_number_of_elements_fails_the_page() -> None:
    run, sent = page_run(PythonHooks(preMap=lambda options: []), {"preMap": hook("preMap")})
    with pytest.raises(HookError, match="must match"):
        run.process([{"id": 1}], 0, "p")
    assert sent == []


def test_post_submit_can_rewrite_messages_and_drop_errors() -> None:
    def post_submit(options: dict[str, Any]) -> list[dict[str, Any]]:
        rewritten = []
        for response in options["responseData"]:
            if response.get("errors"):
                response = {**response, "errors": [{"code": "x", "message": "friendlier"}]}
            rewritten.append(response)
        return rewritten

    run, _ = page_run(PythonHooks(postSubmit=post_submit), {"postSubmit": hook("postSubmit")})
    outcome = run.process([{"id": 1, "bad": True}, {"id": 2}], 0, "p")
    assert [f.errors[0]["message"] for f in outcome.failures] == ["friendlier"]
    assert outcome.counts[0].success == 1


def test_pre_save_page_results_are_checked() -> None:
    result = pre_save_page_result(
        {"data": [{"id": 1}], "errors": [{"code": "c", "message": "m"}], "abort": True}
    )
    assert (result.data, result.abort) == ([{"id": 1}], True)
    with pytest.raises(HookError):
        pre_save_page_result({"data": "not an array"})
    with pytest.raises(HookError):
        pre_save_page_result(["not", "an", "object"])


def test_response_mapping_hands_the_next_step_the_import_response() -> None:
    second = "j" * 24
    mapping = {"fields": [{"extract": "id", "generate": "targetId"}]}
    flow = {
        "pageGenerators": [{"_exportId": "e" * 24}],
        "pageProcessors": [
            {"type": "import", "_importId": IMPORT_ID, "responseMapping": mapping},
            {"type": "import", "_importId": second},
        ],
    }
    received: dict[str, list[dict[str, Any]]] = {}

    def run_import(
        doc: Mapping[str, Any], records: list[dict[str, Any]], post_map: Any = None
    ) -> list[dict[str, Any]]:
        received[str(doc["_id"])] = records
        return [{"statusCode": 201, "id": f"t{r['id']}", "errors": []} for r in records]

    def resources(step: Step) -> Mapping[str, Any]:
        return {"_id": step.resource_id}

    run = PageRun(
        FlowPlan.of(flow), resources, run_import, lambda d, r: [], NoHookRunner(), {}, CALLER
    )
    outcome = run.process([{"id": 7}], 0, "p")
    assert received[IMPORT_ID] == [{"id": 7}]
    assert received[second] == [{"id": 7, "targetId": "t7"}]
    assert outcome.clean == [0]


def test_post_map_sees_the_mapped_page_and_can_reject_or_edit_records() -> None:
    def post_map(options: dict[str, Any]) -> list[dict[str, Any]]:
        assert options["preMapData"] == [{"id": 1}, {"id": 2}]
        return [
            {"errors": [{"code": "nope", "message": "rejected by postMap"}]},
            {"data": {**options["postMapData"][1], "stamped": True}},
        ]

    hooks = PythonHooks(postMap=post_map)
    run, sent = page_run(hooks, {"postMap": hook("postMap")})
    outcome = run.process([{"id": 1}, {"id": 2}], 0, "p")
    assert hooks.calls == ["postMap"]
    assert sent == [[{"id": 2, "stamped": True}]]
    assert [f.errors[0]["message"] for f in outcome.failures] == ["rejected by postMap"]
    assert outcome.counts[0].success == 1
