"""Hook call points of the flow pipeline, behind one interface (reference §8.2-8.3).

The pipeline asks ``hook_ref(resource, name)`` whether a hook is configured; when it is not,
nothing else happens (an unconfigured hook costs one dict lookup). When it is, the pipeline
calls ``HookRunner.call(ref, options)`` and applies integrator.io's return contract here:

* ``preSavePage`` → ``{data, errors, abort, newErrorsAndRetryData}``;
* ``preMap`` / ``postMap`` → an array as long as the records, each element ``{data}`` (go on),
  ``{errors}`` (fail the record), ``{data, errors}`` (go on and log) or ``{}`` (ignore);
* ``postSubmit`` → ``responseData`` as long as the records;
* ``postResponseMap`` → ``postResponseMapData`` as long as the records.

A wrong shape raises ``HookError``, which fails the page with a clear message, as a hook that
throws does. The runner for JavaScript, Python and stack hooks is the hooks package's (issue
7); until one is installed, ``NoHookRunner`` refuses configured hooks with that message.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol

#: Legacy single-id hook fields (``hooks._preSavePageId``) by hook name.
LEGACY_FIELDS = {
    "preSavePage": "_preSavePageId",
    "preMap": "_preMapId",
    "postMap": "_postMapId",
    "postSubmit": "_postSubmitId",
}


class HookError(Exception):
    """A hook failed or returned the wrong shape: the page fails with this message.

    ``code`` says why (``script_error``, ``script_timeout``, ``script_memory``,
    ``invalid_response``...); ``logs`` carries what the script logged before it failed."""

    def __init__(
        self, message: str, code: str = "hook_error", logs: list[Any] | None = None
    ) -> None:
        super().__init__(message)
        self.code = code
        self.logs = logs or []


@dataclass(frozen=True)
class HookRef:
    """Which code to run: a script or a stack, and the function in it."""

    name: str
    function: str | None
    script_id: str | None = None
    stack_id: str | None = None
    #: The hook entry's ``configuration``, handed to the function as ``options.configuration``.
    configuration: Any = None


@dataclass(frozen=True)
class HookContext:
    """On whose behalf a hook runs: the account (its scripts, its one-time token), and the
    flow, integration, connector and job the call belongs to (they reach ``options``)."""

    account_id: str
    flow_id: str | None = None
    integration_id: str | None = None
    connector_id: str | None = None
    job_id: str | None = None
    test_mode: bool = False


#: What a call is, in the stack protocol's words (``type`` of ``POST /function``).
CallKind = Literal["hook", "wrapper", "installer", "uninstaller", "setting", "utility"]


class HookRunner(Protocol):
    def call(
        self,
        ref: HookRef,
        options: dict[str, Any],
        context: HookContext,
        kind: CallKind = "hook",
        each: list[Any] | None = None,
    ) -> Any:
        """Run the function ``ref`` names with ``options`` (integrator.io's ``options``
        object; the runner adds ``bearerToken``, ``_flowId``, ``settings``...) and return what
        it returned; raise ``HookError`` when it throws, times out or is refused. With
        ``each`` (filter and transform), the function runs once per element with ``options``
        plus ``record``, and the answers come back as a list."""


@dataclass(frozen=True)
class Extensions:
    """A hook runner bound to the caller: what adaptors that run custom code (wrapper
    connections) are handed."""

    runner: HookRunner
    context: HookContext

    def call(self, ref: HookRef, options: dict[str, Any], kind: CallKind = "hook") -> Any:
        return self.runner.call(ref, options, self.context, kind)


class NoHookRunner:
    """Used where no hook runtime is installed: a configured hook fails its page, never runs
    silently as a no-op."""

    def call(
        self,
        ref: HookRef,
        options: dict[str, Any],
        context: HookContext,
        kind: CallKind = "hook",
        each: list[Any] | None = None,
    ) -> Any:
        raise HookError(
            f"The {ref.name} hook cannot run: no hook runtime is installed in this process."
        )


def script_ref(resource: Mapping[str, Any] | None, name: str) -> HookRef | None:
    """A script ``filter`` or ``transform`` (``{type: "script", script: {_scriptId,
    function}}``); None when there is none or it is an expression (not run by hooks)."""
    block = (resource or {}).get(name)
    if not isinstance(block, Mapping) or block.get("type") != "script":
        return None
    script = block.get("script")
    if not isinstance(script, Mapping) or not (script.get("_scriptId") or script.get("_stackId")):
        return None
    return HookRef(
        name=name,
        function=script.get("function"),
        script_id=script.get("_scriptId"),
        stack_id=script.get("_stackId"),
    )


def kept(result: Any, expected: int) -> list[bool]:
    """A filter's answers: one per record, true keeps it."""
    if not isinstance(result, list) or len(result) != expected:
        raise HookError("The filter must answer once per record.")
    return [bool(answer) for answer in result]


def transformed(result: Any, expected: int) -> list[Any]:
    """A transform's answers: the new record, one per record."""
    if not isinstance(result, list) or len(result) != expected:
        raise HookError("The transform must answer once per record.")
    if any(not isinstance(record, Mapping | list) for record in result):
        raise HookError("A transform must return the transformed record (an object).")
    return result


def hook_ref(resource: Mapping[str, Any] | None, name: str) -> HookRef | None:
    """The hook ``name`` configured on an export, import or page processor, if any."""
    if not resource:
        return None
    hooks = resource.get("hooks")
    if not isinstance(hooks, Mapping):
        return None
    entry = hooks.get(name)
    if isinstance(entry, Mapping) and (entry.get("_scriptId") or entry.get("_stackId")):
        return HookRef(
            name=name,
            function=entry.get("function"),
            script_id=entry.get("_scriptId"),
            stack_id=entry.get("_stackId"),
            configuration=entry.get("configuration"),
        )
    legacy = LEGACY_FIELDS.get(name)
    if legacy and isinstance(hooks.get(legacy), str):
        return HookRef(name=name, function=None, script_id=hooks[legacy])
    return None


@dataclass
class PreSavePage:
    data: list[Any]
    errors: list[dict[str, Any]]
    abort: bool
    #: ``[{retryData: <record>, errors: [...]}]``: records the hook failed, with retry data.
    new_errors: list[dict[str, Any]]


def pre_save_page_result(result: Any) -> PreSavePage:
    """Check and unpack what a preSavePage hook returned."""
    if not isinstance(result, Mapping):
        raise HookError("preSavePage must return an object {data, errors, abort}.")
    data = result.get("data")
    if data is None:
        data = []
    if not isinstance(data, list):
        raise HookError("preSavePage must return data as an array.")
    errors = result.get("errors") or []
    new_errors = result.get("newErrorsAndRetryData") or []
    if not isinstance(errors, list) or not isinstance(new_errors, list):
        raise HookError("preSavePage errors and newErrorsAndRetryData must be arrays.")
    return PreSavePage(
        data=data,
        errors=[e for e in errors if isinstance(e, Mapping)],  # type: ignore[misc]
        abort=bool(result.get("abort")),
        new_errors=[e for e in new_errors if isinstance(e, Mapping)],  # type: ignore[misc]
    )


@dataclass
class Element:
    """One element of a preMap/postMap answer: go on with ``data`` (None: ignore the record),
    and log ``errors`` (a record with errors and no data fails)."""

    data: Any
    errors: list[dict[str, Any]]
    ignored: bool


def elements(name: str, result: Any, expected: int) -> list[Element]:
    """Check a preMap/postMap answer: same length as the records, element rules applied."""
    if not isinstance(result, list):
        raise HookError(f"{name} must return an array.")
    if len(result) != expected:
        raise HookError(
            f"{name} returned {len(result)} elements for {expected} records: the number of "
            "elements in the return value must match the number of records."
        )
    answer: list[Element] = []
    for item in result:
        if not isinstance(item, Mapping):
            raise HookError(f"Each element {name} returns must be an object.")
        errors = [e for e in item.get("errors") or [] if isinstance(e, Mapping)]
        data = item.get("data")
        answer.append(Element(data=data, errors=errors, ignored=data is None and not errors))  # type: ignore[arg-type]
    return answer


def same_length(name: str, result: Any, expected: int) -> list[Any]:
    """A postSubmit/postResponseMap answer: an array as long as the records."""
    if not isinstance(result, list) or len(result) != expected:
        size = len(result) if isinstance(result, list) else "no array"
        raise HookError(
            f"{name} returned {size} for {expected} records: the number of elements in the "
            "return value must match the number of records."
        )
    return result
