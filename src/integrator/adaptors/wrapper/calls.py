"""What every wrapper call shares: which function to run (``wrapper_ref``), the connection as
the function sees it (``connection_options``), and the error a wrapper's answer raises."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from integrator.engine.hooks import HookRef
from integrator.errors import ErrorItem, IntegratorError

__all__ = [
    "WrapperError",
    "configuration",
    "connection_options",
    "error_entries",
    "error_text",
    "wrapper_block",
    "wrapper_function",
    "wrapper_ref",
]


class WrapperError(IntegratorError):
    """A wrapper call cannot go on: the function answered ``errors``, an answer of the wrong
    shape, or the connection/export/import does not say which function to run.

    Fails the export (or the import's page) with the function's own messages: one error item
    per entry of ``errors`` (its ``code``, else ``code``), else one item with ``message``.
    ``status`` is 502, as for an API that failed us (``ExportError``).
    """

    def __init__(
        self,
        message: str,
        *,
        code: str = "wrapper_error",
        errors: list[dict[str, Any]] | None = None,
    ) -> None:
        entries = errors or []
        items = [
            ErrorItem(
                str(entry.get("code") or code),
                str(entry.get("message") or entry.get("code") or message),
            )
            for entry in entries
        ] or [ErrorItem(code, message)]
        super().__init__(502, items)
        self.message = message
        self.code = code
        self.errors = entries


def wrapper_block(connection: Mapping[str, Any]) -> Mapping[str, Any]:
    block = connection.get("wrapper")
    return block if isinstance(block, Mapping) else {}


def wrapper_ref(connection: Mapping[str, Any], function: Any) -> HookRef:
    """The ``HookRef`` of ``function`` on the connection's stack or script."""
    block = wrapper_block(connection)
    stack_id, script_id = block.get("_stackId"), block.get("_scriptId")
    if not isinstance(function, str) or not function:
        raise WrapperError("No wrapper function is configured.", code="wrapper_misconfigured")
    if bool(stack_id) == bool(script_id):
        raise WrapperError(
            "A wrapper connection names either a stack (wrapper._stackId) or a script "
            "(wrapper._scriptId).",
            code="wrapper_misconfigured",
        )
    return HookRef(
        name=function,
        function=function,
        script_id=str(script_id) if script_id else None,
        stack_id=str(stack_id) if stack_id else None,
    )


def wrapper_function(resource: Mapping[str, Any]) -> Any:
    """An export's or import's ``wrapper.function``."""
    block = resource.get("wrapper")
    return block.get("function") if isinstance(block, Mapping) else None


def connection_options(connection: Mapping[str, Any]) -> dict[str, Any]:
    """``options.connection``: ``{encrypted, unencrypted, _id}`` (secrets in clear)."""
    block = wrapper_block(connection)
    encrypted = block.get("encrypted")
    unencrypted = block.get("unencrypted")
    return {
        "encrypted": dict(encrypted) if isinstance(encrypted, Mapping) else {},
        "unencrypted": dict(unencrypted) if isinstance(unencrypted, Mapping) else {},
        "_id": connection.get("_id"),
    }


def configuration(resource: Mapping[str, Any]) -> dict[str, Any]:
    """An export's or import's ``wrapper.configuration`` (``{}`` when absent)."""
    block = resource.get("wrapper")
    found = block.get("configuration") if isinstance(block, Mapping) else None
    return dict(found) if isinstance(found, Mapping) else {}


def error_entries(errors: Any) -> list[dict[str, Any]]:
    """A wrapper's ``errors`` as ``[{code, message}]``; strings become messages."""
    if errors is None:
        return []
    items = errors if isinstance(errors, list) else [errors]
    entries: list[dict[str, Any]] = []
    for item in items:
        if isinstance(item, Mapping) and (item.get("message") or item.get("code")):
            entries.append({"code": item.get("code"), "message": item.get("message")})
        elif isinstance(item, str) and item:
            entries.append({"code": None, "message": item})
    return entries


def error_text(entries: list[dict[str, Any]]) -> str:
    return "; ".join(str(entry.get("message") or entry.get("code")) for entry in entries)
