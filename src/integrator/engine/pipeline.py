"""What happens to one page of records in a flow: its page processors, in order (reference §5).

``process_page`` takes the flow's plan, a page of records and the step to start at (0 for a
flow run; the failing step for a retry) and returns a ``PageOutcome``: per-step counts, the
records that failed with their retry data, and which records made it through every step. It
talks to adaptors and hooks but never to the database: the runner writes the outcome in one
transaction, which is what makes a page's effects all-or-nothing.

Per step:

* **import** (``type: "import"``): ``preMap`` hook → mapping and submit (the adaptor) →
  ``postSubmit`` hook → ``responseMapping`` → ``postResponseMap`` hook;
* **lookup** (``type: "export"``): the export runs once per record with the record in its
  template context (``{{record.id}}``, ``{{data.id}}``); its records become the step's
  response ``{"data": [...], "statusCode": 200}`` for ``responseMapping``.

A record that fails a step becomes an error of that step; it goes on to later steps only when
the step has ``proceedOnFailure: true``. ``responseMapping`` maps the step's response (for an
import ``{id, statusCode, _json, ignored}``, for a lookup ``{data, statusCode}``) with Mapper
1.0 and merges the result into the record.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from integrator.engine.hooks import (
    HookContext,
    HookError,
    HookRunner,
    elements,
    hook_ref,
    kept,
    same_length,
    script_ref,
)
from integrator.mapping import Mapper, compile_mapping

Record = dict[str, Any]
#: ``(import_doc, connection, records) -> results`` and ``(export_doc, connection, record)
#: -> records``: the adaptor calls, supplied by the runner (with debug logs and token storage).
ImportCall = Callable[..., list[Record]]
LookupCall = Callable[[Mapping[str, Any], Record], list[Record]]

#: Records a lookup returns to its record at most.
LOOKUP_MAX_RECORDS = 1000


@dataclass(frozen=True)
class Step:
    """One page processor as the pipeline needs it."""

    index: int
    kind: str  # "import" or "export" (lookup)
    resource_id: str
    proceed_on_failure: bool
    response_mapping: Mapping[str, Any] | None
    processor: Mapping[str, Any]


@dataclass(frozen=True)
class Generator:
    index: int
    export_id: str
    skip_retries: bool


@dataclass(frozen=True)
class FlowPlan:
    """A flow's page generators and page processors, legacy ``_exportId``/``_importId``
    flows included."""

    generators: tuple[Generator, ...]
    steps: tuple[Step, ...]

    @staticmethod
    def of(flow: Mapping[str, Any]) -> FlowPlan:
        skip = bool(flow.get("skipRetries"))
        generators = [
            Generator(index, str(entry["_exportId"]), skip or bool(entry.get("skipRetries")))
            for index, entry in enumerate(flow.get("pageGenerators") or [])
            if isinstance(entry, Mapping) and entry.get("_exportId")
        ]
        processors = list(flow.get("pageProcessors") or [])
        if not generators and flow.get("_exportId"):
            generators = [Generator(0, str(flow["_exportId"]), skip)]
        if not processors and flow.get("_importId"):
            processors = [{"type": "import", "_importId": flow["_importId"]}]
        steps = []
        for index, entry in enumerate(processors):
            kind = str(entry.get("type") or "import")
            resource_id = entry.get("_importId") if kind == "import" else entry.get("_exportId")
            steps.append(
                Step(
                    index=index,
                    kind=kind,
                    resource_id=str(resource_id),
                    proceed_on_failure=bool(entry.get("proceedOnFailure")),
                    response_mapping=entry.get("responseMapping") or None,
                    processor=entry,
                )
            )
        return FlowPlan(tuple(generators), tuple(steps))

    def step_index(self, resource_id: str) -> int | None:
        for step in self.steps:
            if step.resource_id == resource_id:
                return step.index
        return None


@dataclass
class Failure:
    """A record that failed at ``step``: ``record`` is what entered that step."""

    step: int
    record: Record
    errors: list[dict[str, Any]]
    trace_key: str | None
    source: str
    position: int


@dataclass
class StepCounts:
    success: int = 0
    error: int = 0
    ignore: int = 0


@dataclass
class PageOutcome:
    counts: dict[int, StepCounts] = field(default_factory=dict)
    failures: list[Failure] = field(default_factory=list)
    #: Positions (in the page) of records no step failed.
    clean: list[int] = field(default_factory=list)


def trace_key(record: Any, fallback: str) -> str:
    """integrator.io's ``traceKey``: the record's id when it has one."""
    if isinstance(record, Mapping):
        for name in ("id", "_id", "Id", "ID", "key"):
            value = record.get(name)
            if isinstance(value, str | int) and not isinstance(value, bool):
                return str(value)
    return fallback


def merge_into(target: Record, patch: Mapping[str, Any]) -> None:
    """Deep-merge a response mapping's result into the record."""
    for key, value in patch.items():
        current = target.get(key)
        if isinstance(current, dict) and isinstance(value, Mapping):
            merge_into(current, value)
        else:
            target[key] = value


class PageRun:
    """Runs the steps of one page. ``resources`` gives each step's export or import document."""

    def __init__(
        self,
        plan: FlowPlan,
        resources: Callable[[Step], Mapping[str, Any]],
        run_import: ImportCall,
        run_lookup: LookupCall,
        hooks: HookRunner,
        hook_options: Mapping[str, Any],
        hook_context: HookContext,
    ) -> None:
        self.plan = plan
        self.resources = resources
        self.run_import = run_import
        self.run_lookup = run_lookup
        self.hooks = hooks
        self.hook_options = dict(hook_options)
        self.hook_context = hook_context
        self._mappers: dict[int, Mapper] = {}

    def process(self, records: list[Record], start: int, key_prefix: str) -> PageOutcome:
        outcome = PageOutcome()
        alive: list[tuple[int, Record]] = list(enumerate(records))
        failed: set[int] = set()
        for step in self.plan.steps[start:]:
            counts = outcome.counts.setdefault(step.index, StepCounts())
            if not alive:
                break
            resource = self.resources(step)
            keys = {pos: trace_key(rec, f"{key_prefix}.{pos}") for pos, rec in alive}
            if step.kind == "import":
                answers = self._import(step, resource, alive)
            else:
                answers = self._lookup(step, resource, alive)
            survivors: list[tuple[int, Record]] = []
            for (position, before), (record, errors, ignored, source) in zip(
                alive, answers, strict=True
            ):
                if errors:
                    counts.error += 1
                    failed.add(position)
                    outcome.failures.append(
                        Failure(step.index, before, errors, keys[position], source, position)
                    )
                    if step.proceed_on_failure and record is not None:
                        survivors.append((position, record))
                elif ignored:
                    counts.ignore += 1
                else:
                    counts.success += 1
                    if record is not None:
                        survivors.append((position, record))
            alive = survivors
        outcome.clean = [position for position, _ in alive if position not in failed]
        if start >= len(self.plan.steps):
            outcome.clean = list(range(len(records)))
        return outcome

    # -- steps -------------------------------------------------------------------------------

    def _call(self, resource: Mapping[str, Any], name: str, **options: Any) -> Any:
        ref = hook_ref(resource, name)
        if ref is None:
            return None
        return self.hooks.call(ref, {**self.hook_options, **options}, self.hook_context)

    def _import(
        self, step: Step, resource: Mapping[str, Any], alive: list[tuple[int, Record]]
    ) -> list[tuple[Record | None, list[dict[str, Any]], bool, str]]:
        """``(record after the step, errors, ignored, error source)`` per record."""
        records = [record for _, record in alive]
        answers: list[tuple[Record | None, list[dict[str, Any]], bool, str]] = [
            (record, [], False, "application") for record in records
        ]
        to_send: list[int] = list(range(len(records)))
        ref = script_ref(resource, "filter")
        if ref is not None:
            options = {**self.hook_options, "_importId": step.resource_id}
            answer = self.hooks.call(ref, options, self.hook_context, each=records)
            keep = kept(answer, len(records))
            for index in range(len(records)):
                if not keep[index]:
                    answers[index] = (None, [], True, "filter")
            to_send = [index for index in to_send if keep[index]]
        if hook_ref(resource, "preMap") is not None and to_send:
            data = [records[index] for index in to_send]
            result = self._call(resource, "preMap", data=data, _importId=step.resource_id)
            passed, to_send = to_send, []
            for index, element in zip(passed, elements("preMap", result, len(data)), strict=True):
                if element.ignored:
                    answers[index] = (None, [], True, "pre_map_hook")
                elif element.data is None:
                    answers[index] = (None, element.errors, False, "pre_map_hook")
                else:
                    records[index] = element.data
                    to_send.append(index)
        batch = [records[index] for index in to_send]
        post_map = None
        if hook_ref(resource, "postMap") is not None:

            def post_map(
                pre: list[Record], post: list[Record]
            ) -> list[tuple[Record | None, list[dict[str, Any]], bool]]:
                result = self._call(
                    resource, "postMap", preMapData=pre, postMapData=post,
                    _importId=step.resource_id,
                )  # fmt: skip
                return [
                    (e.data, e.errors, e.ignored) for e in elements("postMap", result, len(post))
                ]

        results = self.run_import(resource, batch, post_map=post_map) if batch else []
        if hook_ref(resource, "postSubmit") is not None and results:
            edited = self._call(
                resource,
                "postSubmit",
                preMapData=batch,
                postMapData=batch,
                responseData=results,
                _importId=step.resource_id,
            )
            results = same_length("postSubmit", edited, len(batch))
        responses: list[Record] = []
        for index, result in zip(to_send, results, strict=True):
            errors = [e for e in result.get("errors") or [] if isinstance(e, Mapping)]
            ignored = bool(result.get("ignored"))
            merged = self._respond(step, records[index], result) if not errors else None
            answers[index] = (merged or records[index], errors, ignored, "application")  # type: ignore[assignment]
            responses.append(result)
        return self._post_response_map(step, resource, answers, responses)

    def _lookup(
        self, step: Step, resource: Mapping[str, Any], alive: list[tuple[int, Record]]
    ) -> list[tuple[Record | None, list[dict[str, Any]], bool, str]]:
        answers: list[tuple[Record | None, list[dict[str, Any]], bool, str]] = []
        responses: list[Record] = []
        for _, record in alive:
            try:
                found = self.run_lookup(resource, record)
            except Exception as exc:  # the lookup failed for this record only
                message = str(exc) or type(exc).__name__
                error = {"code": "lookup_failed", "message": message}
                answers.append((record, [error], False, "lookup"))
                continue
            response = {"data": found, "statusCode": 200}
            responses.append(response)
            answers.append((self._respond(step, record, response), [], False, "lookup"))
        return answers

    def _respond(self, step: Step, record: Record, response: Mapping[str, Any]) -> Record:
        """The record with the step's ``responseMapping`` applied to ``response``."""
        mapping = step.response_mapping
        if not mapping:
            return record
        mapper = self._mappers.get(step.index)
        if mapper is None:
            mapper = self._mappers[step.index] = compile_mapping(dict(mapping))
        result = mapper.map(dict(response))
        if result.record is None:
            return record
        merged = dict(record)
        merge_into(merged, result.record)
        return merged

    def _post_response_map(
        self,
        step: Step,
        resource: Mapping[str, Any],
        answers: list[tuple[Record | None, list[dict[str, Any]], bool, str]],
        responses: list[Record],
    ) -> list[tuple[Record | None, list[dict[str, Any]], bool, str]]:
        if hook_ref(step.processor, "postResponseMap") is None:
            return answers
        data = [record for record, _, _, _ in answers]
        edited = self._call(
            step.processor,
            "postResponseMap",
            postResponseMapData=data,
            responseData=responses,
            _importId=step.resource_id if step.kind == "import" else None,
            _exportId=step.resource_id if step.kind == "export" else None,
        )
        checked = same_length("postResponseMap", edited, len(answers))
        return [
            (new if isinstance(new, dict) else record, errors, ignored, source)
            for new, (record, errors, ignored, source) in zip(checked, answers, strict=True)
        ]


__all__ = ["FlowPlan", "HookError", "PageOutcome", "PageRun", "Step"]
