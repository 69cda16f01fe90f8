"""Send a page of records through a wrapper import (reference §8.4).

As HTTP imports do, ``import_records`` takes the page's records as they reach the import, maps
them with the import's mapping (static lookups only: a wrapper has no API to look records up
in), hands the mapped ones to the flow's postMap hook, then calls the function once for the
page::

    {"connection": {...}, "preMapData": [...], "postMapData": [...], "_importId": "i1",
     "configuration": {...import.wrapper.configuration...}, "bearerToken": "..."}

It answers one result per record it was given, in order::

    [{"statusCode": 200, "id": "17"}, {"statusCode": 422, "errors": [{"code", "message"}]},
     {"statusCode": 200, "ignored": true}]

which become the registry's results (``statusCode``, ``id``, ``_json``, ``errors``,
``ignored``; ``errors[].source`` is ``application``). Records that fail mapping are not sent
(422 with the mapper's errors). A result without ``statusCode`` is 422 when it has errors,
else 200.

Decisions: a result with ``statusCode`` 401 raises ``AuthFailed`` (the connection's
credentials are refused, so the caller sets it offline and the page fails, as for an HTTP
import answered 401); an answer that is not an array as long as the records sent fails the
page (``WrapperError``); so does a function that throws (the runner's ``HookError``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from integrator.adaptors.http.auth import AuthFailed
from integrator.adaptors.http.imports import PostMap
from integrator.adaptors.http.results import record_error, record_result
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
from integrator.mapping import map_records

__all__ = ["import_records", "record_results"]

Record = dict[str, Any]


def import_records(
    import_doc: Mapping[str, Any],
    connection: Mapping[str, Any],
    records: list[Record],
    extensions: Extensions,
    *,
    post_map: PostMap | None = None,
) -> list[Record]:
    """Map ``records``, send them through the import's wrapper function; one result per
    record, in input order (see the module docstring). Raises ``ValidationFailed`` for a
    mapping that cannot compile, ``AuthFailed``, ``WrapperError`` and the runner's
    ``HookError`` as described there."""
    ref = wrapper_ref(connection, wrapper_function(import_doc))
    function = ref.name
    results: list[Record | None] = [None] * len(records)
    positions: list[int] = []
    post: list[Record] = []
    for position, mapped in enumerate(map_records(dict(import_doc), records)):
        if mapped.record is None:
            results[position] = record_result(422, errors=list(mapped.errors))
        else:
            positions.append(position)
            post.append(mapped.record)
    if post_map is not None and positions:
        answers = post_map([records[p] for p in positions], post)
        kept: list[int] = []
        kept_post: list[Record] = []
        for position, (data, errors, ignored) in zip(positions, answers, strict=True):
            if ignored:
                results[position] = record_result(200, ignored=True)
            elif data is None:
                results[position] = record_result(422, errors=errors)
            else:
                kept.append(position)
                kept_post.append(data)
        positions, post = kept, kept_post
    if positions:
        options = {
            "connection": connection_options(connection),
            "preMapData": [records[p] for p in positions],
            "postMapData": post,
            "_importId": import_doc.get("_id"),
            "configuration": configuration(import_doc),
        }
        answer = extensions.call(ref, options, kind="wrapper")
        for position, result in zip(
            positions, record_results(function, answer, len(positions)), strict=True
        ):
            results[position] = result
    return [result if result is not None else record_result(500) for result in results]


def record_results(function: str, answer: Any, expected: int) -> list[Record]:
    """A wrapper import's answer as the registry's per-record results."""
    if not isinstance(answer, list) or len(answer) != expected:
        size = f"{len(answer)} results" if isinstance(answer, list) else "no array"
        raise WrapperError(
            f"The wrapper function {function} returned {size} for {expected} records: it must "
            "return one result per record.",
            code="invalid_response",
        )
    return [_result(function, position, item) for position, item in enumerate(answer)]


def _result(function: str, position: int, item: Any) -> Record:
    if not isinstance(item, Mapping):
        raise WrapperError(
            f"The wrapper function {function} must return an object per record "
            "{statusCode, id, ignored, errors}.",
            code="invalid_response",
        )
    entries = error_entries(item.get("errors"))
    status = item.get("statusCode")
    if status == 401:
        said = f": {error_text(entries)}" if entries else "."
        raise AuthFailed(
            f"The wrapper function {function} answered 401 for record {position + 1}{said}",
            status=401,
        )
    if not isinstance(status, int) or isinstance(status, bool):
        status = 422 if entries else 200
    errors = [
        record_error(
            str(entry.get("code") or status),
            str(entry.get("message") or entry.get("code")),
            "application",
        )
        for entry in entries
    ]
    if not 200 <= status < 300 and not errors:
        message = f"The wrapper function {function} answered statusCode {status}."
        errors = [record_error(str(status), message, "application")]
    return record_result(
        status,
        record_id=item.get("id"),
        body=item.get("_json"),
        errors=errors,
        ignored=item.get("ignored") is True,
    )
