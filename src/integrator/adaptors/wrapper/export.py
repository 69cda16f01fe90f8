"""Run a wrapper export: call its function until it says ``lastPage`` (reference §8.4).

The function gets::

    {"connection": {"encrypted", "unencrypted", "_id"}, "type": "delta",
     "delta": {"dateField": "updated_at", "lastExecutionTime": 1717200000000},
     "state": <what the previous call returned>, "_exportId": "e1",
     "configuration": {...export.wrapper.configuration...}, "bearerToken": "..."}

(``once: {booleanField}`` and ``test: {limit}`` for those types, ``data`` with the upstream
records when the export is a lookup) and answers one page::

    {"data": [{...}, ...], "lastPage": false, "state": {"cursor": "abc"}}

Each answer's ``data`` is a page (empty pages are skipped). ``errors`` in an answer end the
export with those messages (``WrapperError``, the answer's data is not used);
``connectionOffline: true`` raises ``AuthFailed`` so the caller sets the connection offline,
as for an HTTP connection whose credentials are refused.

Guards: integrator.io stops after the same answer comes back more than 5 times in a row
(``PagingLoopError`` on the 6th); we also stop past ``max_pages`` calls (``PagingLimitError``,
the HTTP adaptor's cap), for a wrapper that never says ``lastPage`` while its answers change.
A ``type: test`` export stops after ``test.limit`` records (default 1), as HTTP exports do.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from integrator.adaptors.http.auth import AuthFailed
from integrator.adaptors.http.pages import DEFAULT_MAX_PAGES, DEFAULT_TEST_LIMIT
from integrator.adaptors.http.records import PagingLimitError, PagingLoopError
from integrator.adaptors.wrapper.calls import (
    WrapperError,
    configuration,
    connection_options,
    error_entries,
    error_text,
    wrapper_function,
    wrapper_ref,
)
from integrator.engine.hooks import Extensions

__all__ = ["MAX_IDENTICAL_RESPONSES", "export_options", "export_pages"]

#: integrator.io assumes a loop when the same answer comes back more than this many times.
MAX_IDENTICAL_RESPONSES = 5

Record = dict[str, Any]
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def export_pages(
    export: Mapping[str, Any],
    connection: Mapping[str, Any],
    extensions: Extensions,
    *,
    context: Mapping[str, Any] | None = None,
    max_pages: int = DEFAULT_MAX_PAGES,
) -> Iterator[list[Record]]:
    """The export's records, one page per answer of its wrapper function.

    ``context`` is what the engine gives HTTP exports: ``lastExportDateTime`` (delta runs;
    sent as ``delta.lastExecutionTime`` in epoch milliseconds) and, for lookups, ``data``
    (the upstream record or records, sent as the ``data`` array). Raises ``WrapperError``,
    ``AuthFailed``, ``PagingLoopError``, ``PagingLimitError``, and the runner's ``HookError``
    when the function throws, times out or cannot be reached.
    """
    ref = wrapper_ref(connection, wrapper_function(export))
    function = ref.name
    base = export_options(export, connection, context)
    limit = _test_limit(export)
    state: Any = None
    previous: bytes | None = None
    repeats = 0
    taken = 0
    for _ in range(max_pages):
        options = dict(base)
        if state is not None:
            options["state"] = state
        answer = extensions.call(ref, options, kind="wrapper")
        if not isinstance(answer, Mapping):
            raise WrapperError(
                f"The wrapper function {function} must return an object "
                "{data, lastPage, state, errors}.",
                code="invalid_response",
            )
        _check(function, answer)
        last = answer.get("lastPage") is True
        digest = _digest(answer)
        repeats = repeats + 1 if digest == previous else 1
        previous = digest
        if repeats > MAX_IDENTICAL_RESPONSES and not last:
            raise PagingLoopError(
                f"The wrapper returned the same response {repeats} times: assumed to loop."
            )
        records = _records(function, answer.get("data"))
        if limit is not None:
            records = records[: limit - taken]
            taken += len(records)
        if records:
            yield records
        if last or (limit is not None and taken >= limit):
            return
        state = answer.get("state")
    raise PagingLimitError(
        f"The wrapper function {function} was called {max_pages} times without answering "
        "lastPage: true; stopping."
    )


def export_options(
    export: Mapping[str, Any],
    connection: Mapping[str, Any],
    context: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The options every call of the export's function gets (``state`` is added per call)."""
    options: dict[str, Any] = {
        "connection": connection_options(connection),
        "_exportId": export.get("_id"),
        "configuration": configuration(export),
    }
    kind = export.get("type")
    if kind:
        options["type"] = kind
    if kind == "delta":
        delta = dict(_block(export, "delta"))
        last = _epoch_ms((context or {}).get("lastExportDateTime"))
        if last is not None:
            delta["lastExecutionTime"] = last
        options["delta"] = delta
    elif kind == "once":
        options["once"] = {"booleanField": _block(export, "once").get("booleanField")}
    elif kind == "test":
        options["test"] = {"limit": _test_limit(export)}
    data = (context or {}).get("data")
    if isinstance(data, Mapping):
        options["data"] = [dict(data)]
    elif isinstance(data, list):
        options["data"] = data
    return options


def _check(function: str, answer: Mapping[str, Any]) -> None:
    errors = error_entries(answer.get("errors"))
    if answer.get("connectionOffline") is True:
        said = f": {error_text(errors)}" if errors else "."
        raise AuthFailed(f"The wrapper function {function} reported the connection offline{said}")
    if errors:
        raise WrapperError(
            f"The wrapper function {function} answered errors: {error_text(errors)}",
            errors=errors,
        )


def _records(function: str, data: Any) -> list[Record]:
    if data is None:
        return []
    if not isinstance(data, list) or not all(isinstance(item, dict) for item in data):
        raise WrapperError(
            f"The wrapper function {function} must return data as an array of objects.",
            code="invalid_records",
        )
    return data


def _digest(answer: Mapping[str, Any]) -> bytes:
    """Answers are compared by digest: the records handed on may be changed by the time the
    next answer comes, and a digest is small."""
    encoded = orjson.dumps(answer, option=orjson.OPT_SORT_KEYS, default=str)
    return hashlib.blake2b(encoded, digest_size=16).digest()


def _block(export: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    block = export.get(name)
    return block if isinstance(block, Mapping) else {}


def _test_limit(export: Mapping[str, Any]) -> int | None:
    if export.get("type") != "test":
        return None
    limit = _block(export, "test").get("limit")
    return limit if isinstance(limit, int) and limit > 0 else DEFAULT_TEST_LIMIT


def _epoch_ms(value: Any) -> int | None:
    """``lastExportDateTime`` (ISO 8601, as the engine renders it) in epoch milliseconds."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str) and value:
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            return None
    else:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (moment - EPOCH) // timedelta(milliseconds=1)
