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
from typing import Any, Protocol

#: Legacy single-id hook fields (``hooks._preSavePageId``) by hook name.
LEGACY_FIELDS = {
    "preSavePage": "_preSavePageId",
    "preMap": "_preMapId",
    "postMap": "_postMapId",
    "postSubmit": "_postSubmitId",
}


class HookError(Exception):
    """A hook failed or returned the wrong shape: the page fails with this message."""


@dataclass(frozen=True)
class HookRef:
    """Which code to run: a script or a stack, and the function in it."""

    name: str
    function: str | None
    script_id: str | None = None
    stack_id: str | None = None


class HookRunner(Protocol):
    def call(self, ref: HookRef, options: dict[str, Any]) -> Any:
        """Run the hook with ``options`` (integrator.io's ``options`` object) and return what
        it returned; raise ``HookError`` when it throws or times out."""


class NoHookRunner:
    """Installed until a hook runtime exists: a configured hook fails its page, never runs
    silently as a no-op."""

    def call(self, ref: HookRef, options: dict[str, Any]) -> Any:
        raise HookError(
            f"The {ref.name} hook cannot run: no hook runtime is installed in this process."
        )


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
