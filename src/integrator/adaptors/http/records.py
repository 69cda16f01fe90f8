"""Reading an HTTP export's response: which records it holds and whether it succeeded.

Reference §3.1 and §3.4. ``resourcePath`` is a dot path (``data.items``, ``result.0.rows``,
``[odd key].list``) read with the mapper's path reader, so paths mean the same everywhere:

* no ``resourcePath``: a bare JSON array gives its items; an object is one record;
* the path holds an array: its items; an object: one record; nothing (or ``null``): no records.

``successPath``/``successValues`` and ``failPath``/``failValues`` compare as strings, as
integrator.io does (``true``, ``"null"``, ``""`` for a missing field). A page that fails raises
``ExportError`` with the status and the start of the body, so the job error says what the API said.

>>> extract_records({"data": {"items": [{"id": 1}, {"id": 2}]}}, "data.items")
[{'id': 1}, {'id': 2}]
>>> extract_records([{"id": 1}], None)
[{'id': 1}]
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import orjson

from integrator.errors import ErrorItem, IntegratorError
from integrator.mapping.datatypes import MISSING
from integrator.mapping.javascript import js_string
from integrator.mapping.paths import Getter, compile_getter

__all__ = [
    "ExportError",
    "PagingLimitError",
    "PagingLoopError",
    "body_snippet",
    "check_response",
    "extract_records",
    "read_path",
    "value_text",
]

#: How much of a failing response body an error carries.
SNIPPET_CHARS = 500


class ExportError(IntegratorError):
    """An export cannot go on: the API said no, or paging went wrong.

    ``status`` is 502 (the upstream system failed us); ``response_status`` and ``snippet`` are
    what that system answered, when there was an answer.
    """

    def __init__(
        self,
        message: str,
        *,
        code: str = "export_failed",
        response_status: int | None = None,
        snippet: str | None = None,
    ) -> None:
        super().__init__(502, [ErrorItem(code, message)])
        self.message = message
        self.response_status = response_status
        self.snippet = snippet


class PagingLoopError(ExportError):
    """The API sent us back to a page or cursor we already fetched: paging would never end."""

    def __init__(self, message: str) -> None:
        super().__init__(message, code="paging_loop")


class PagingLimitError(ExportError):
    """An export asked for more API pages than one run may fetch."""

    def __init__(self, message: str) -> None:
        super().__init__(message, code="paging_limit")


@lru_cache(maxsize=1024)
def _getter(path: str) -> Getter:
    return compile_getter(path)


def read_path(body: Any, path: str | None) -> Any:
    """The value at the dot ``path`` of ``body`` (the body itself for no path), or ``MISSING``."""
    if not path:
        return body
    return _getter(path)(body)


def value_text(value: Any) -> str:
    """A value as integrator.io compares it with ``*Values`` lists: ``null``, ``true``, ``""``."""
    if value is MISSING:
        return ""
    if value is None:
        return "null"
    return js_string(value)


def body_snippet(body: Any, limit: int = SNIPPET_CHARS) -> str:
    """The start of a response body as text, for error messages."""
    if body is None:
        return ""
    if isinstance(body, bytes):
        text = body.decode("utf-8", "replace")
    elif isinstance(body, str):
        text = body
    else:
        try:
            text = orjson.dumps(body, default=str).decode()
        except TypeError:
            text = repr(body)
    return text if len(text) <= limit else text[:limit] + "…"


def _records_of(value: Any, where: str) -> list[dict[str, Any]]:
    if value is MISSING or value is None:
        return []
    if isinstance(value, dict):
        return [value]
    if isinstance(value, list):
        for item in value:
            if not isinstance(item, dict):
                raise ExportError(
                    f"{where} holds {js_string(item)!r}, not an object; records must be JSON "
                    "objects (point resourcePath at the array of objects).",
                    code="invalid_records",
                )
        return value
    raise ExportError(
        f"{where} holds {body_snippet(value, 80)!r}, not an object or an array of objects.",
        code="invalid_records",
    )


def extract_records(body: Any, resource_path: str | None) -> list[dict[str, Any]]:
    """The records of one API page (see the module docstring for the rules)."""
    if not resource_path:
        if isinstance(body, str) and not body.strip():
            return []
        return _records_of(body, "The response body")
    return _records_of(read_path(body, resource_path), f"resourcePath '{resource_path}'")


def _matches(value: Any, values: Sequence[str] | None, allow_array: bool) -> bool:
    """Does ``value`` equal one of ``values`` as text? No list means: present and truthy."""
    candidates = value if allow_array and isinstance(value, list) else [value]
    for candidate in candidates:
        if values:
            if value_text(candidate) in values:
                return True
        elif candidate is not MISSING and value_text(candidate) not in ("", "null", "false", "0"):
            return True
    return False


def check_response(status: int, body: Any, response: dict[str, Any] | None) -> None:
    """Raise ``ExportError`` when ``http.response`` says this 2xx page failed.

    ``failPath`` wins over ``successPath``; ``errorPath`` (when set) supplies the message.
    """
    if not response:
        return
    allow_array = bool(response.get("allowArrayforSuccessPath"))
    reason = ""
    fail_path = response.get("failPath")
    success_path = response.get("successPath")
    if fail_path and _matches(read_path(body, fail_path), response.get("failValues"), allow_array):
        reason = f"failPath '{fail_path}' marks it as failed"
    elif success_path and not _matches(
        read_path(body, success_path), response.get("successValues"), allow_array
    ):
        reason = f"successPath '{success_path}' does not mark it as successful"
    if not reason:
        return
    snippet = body_snippet(body)
    error_path = response.get("errorPath")
    if error_path:
        found = read_path(body, error_path)
        if found is not MISSING and found is not None:
            reason += f" ({body_snippet(found, 200)})"
    raise ExportError(
        f"The API answered {status} but {reason}. Response: {snippet}",
        response_status=status,
        snippet=snippet,
    )
