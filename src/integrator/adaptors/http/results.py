"""The result of one imported record, as integrator.io reports it:
``{"statusCode", "id", "_json", "errors", "ignored"}`` (every key always present)."""

from __future__ import annotations

from typing import Any

from integrator.adaptors.http.records import body_snippet, read_path
from integrator.mapping.datatypes import MISSING, js_string

__all__ = ["api_errors", "count_results", "read_id", "record_error", "record_result"]

#: Most API errors one record result carries.
MAX_ERRORS = 10
#: Where the id of a created record is, when the import does not say.
DEFAULT_ID_PATHS = ("id", "_id")


def record_result(
    status: int,
    *,
    record_id: Any = None,
    body: Any = None,
    errors: list[dict[str, Any]] | None = None,
    ignored: bool = False,
) -> dict[str, Any]:
    shown = None if record_id is None or record_id is MISSING else js_string(record_id)
    return {
        "statusCode": status,
        "id": shown,
        "_json": body,
        "errors": errors or [],
        "ignored": ignored,
    }


def record_error(code: str, message: str, source: str, where: str | None = None) -> dict[str, Any]:
    entry = {"code": code, "message": message, "source": source}
    if where:
        entry["field"] = where
    return entry


def count_results(results: list[dict[str, Any]]) -> dict[str, int]:
    """``numSuccess``/``numError``/``numIgnore`` as a job counts them.

    A 2xx result that carries errors is a partial success and counts as a success.
    """
    counts = {"numSuccess": 0, "numError": 0, "numIgnore": 0}
    for result in results:
        if result.get("ignored"):
            counts["numIgnore"] += 1
        elif 200 <= int(result.get("statusCode") or 0) < 300:
            counts["numSuccess"] += 1
        else:
            counts["numError"] += 1
    return counts


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def read_id(body: Any, path: str | None) -> Any:
    if path:
        return read_path(body, path)
    for candidate in DEFAULT_ID_PATHS:
        value = read_path(body, candidate)
        if value is not MISSING and value is not None:
            return value
    return MISSING


def api_errors(status: int, body: Any) -> list[dict[str, Any]]:
    """The API's own words: ``errors[].message``, else ``message``/``error``, else a snippet."""
    code = str(status)
    found: list[dict[str, Any]] = []
    if isinstance(body, dict):
        for item in _as_list(body.get("errors"))[:MAX_ERRORS]:
            if isinstance(item, dict) and item.get("message"):
                where = item.get("field")
                found.append(
                    record_error(
                        code, js_string(item["message"]), "application", where and str(where)
                    )
                )
            elif isinstance(item, str):
                found.append(record_error(code, item, "application"))
        if not found:
            for key in ("message", "error_description", "error"):
                value = body.get(key)
                if isinstance(value, dict) and value.get("message"):
                    value = value["message"]
                if isinstance(value, str) and value:
                    found.append(record_error(code, value, "application"))
                    break
    if not found:
        snippet = body_snippet(body, 300) or f"HTTP {status} with an empty body"
        found.append(record_error(code, snippet, "application"))
    return found
