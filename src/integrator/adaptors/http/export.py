"""Run an HTTP export over the network: the page walker (``pages.py``) driven by the
connection client (``client.py``).

>>> # for page in export_pages(export_doc, unsealed_connection_doc):
>>> #     process(page)   # lists of at most pageSize records
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from typing import Any

import httpx2
import orjson

from integrator.adaptors.http.client import ConnectionClient, RequestFailed
from integrator.adaptors.http.pages import Send, first_request, iter_pages
from integrator.adaptors.http.paging import PageRequest, PageResponse
from integrator.adaptors.http.records import ExportError, body_snippet
from integrator.mapping.templates import render, template_context

logger = logging.getLogger(__name__)


def parse_body(content: bytes, content_type: str) -> Any:
    """JSON when the body is JSON (whatever the content type claims), else the text; an empty
    body is None."""
    if not content.strip():
        return None
    if "json" in content_type or content[:1] in (b"{", b"["):
        try:
            return orjson.loads(content)
        except orjson.JSONDecodeError:
            pass
    return content.decode("utf-8", errors="replace")


def send_request(client: ConnectionClient, request: PageRequest) -> httpx2.Response:
    """Send one export request through the client; a request that fails for good (5xx or
    network errors past ``maxAttempts``) is an ``ExportError`` saying what the API answered."""
    try:
        return client.request(
            request.method,
            request.url,
            params=request.query or None,
            headers=request.headers or None,
            content=request.body.encode() if request.body is not None else None,
        )
    except RequestFailed as exc:
        raise ExportError(
            f"{request.method} {exc.url or request.url} failed: {exc}",
            response_status=exc.status,
            snippet=body_snippet(exc.body) if exc.body else None,
        ) from exc


def client_send(client: ConnectionClient) -> Send:
    """A ``Send`` for the page walker that goes through the client (auth, retries, limits).

    A request that fails for good (5xx or network errors past ``maxAttempts``) ends the export
    with an ``ExportError`` that says what the API last answered.
    """

    def send(request: PageRequest) -> PageResponse:
        response = send_request(client, request)
        body = parse_body(response.content, response.headers.get("content-type", ""))
        return PageResponse(status=response.status_code, headers=response.headers, body=body)

    return send


def export_pages(
    export: Mapping[str, Any],
    connection: Mapping[str, Any],
    *,
    client: ConnectionClient | None = None,
    context: Mapping[str, Any] | None = None,
    page_size: int | None = None,
) -> Iterator[list[dict[str, Any]]]:
    """The export's records in platform pages of ``pageSize``, fetched page by page.

    ``connection`` is the unsealed connection document. Pass ``client`` to share one (its
    keep-alive connections, OAuth token and debug log) across exports.
    """
    own = client is None
    active = client or ConnectionClient(dict(connection))
    try:
        yield from iter_pages(
            dict(export),
            dict(connection),
            client_send(active),
            context=dict(context) if context is not None else None,
            page_size=page_size,
        )
    finally:
        if own:
            active.close()


def passthrough(export: Mapping[str, Any], connection: Mapping[str, Any]) -> tuple[int, str, bytes]:
    """Send only the export's first request and return the target's status, content type and
    body untouched (``Integrator-Passthrough: true``)."""
    request = first_request(export, connection)
    with ConnectionClient(dict(connection)) as client:
        response = send_request(client, request)
        content_type = response.headers.get("content-type", "application/octet-stream")
        return response.status_code, content_type, response.content


def mark_exported(
    export: Mapping[str, Any], records: list[dict[str, Any]], client: ConnectionClient
) -> int:
    """For ``type: "once"`` exports: send ``http.once`` (``relativeURI``, ``method``, ``body``,
    rendered per record) for each record; return how many marks failed.

    A failed mark is logged and not fatal: that record is exported again next time, which is
    what integrator.io does.
    """
    once = (export.get("http") or {}).get("once") if isinstance(export.get("http"), dict) else None
    if export.get("type") != "once" or not isinstance(once, dict) or not once.get("relativeURI"):
        return 0
    failures = 0
    for record in records:
        context = template_context(record)
        body = once.get("body")
        content = render(str(body), context, "body").encode() if body else None
        try:
            response = client.request(
                str(once.get("method") or "PUT"),
                render(str(once["relativeURI"]), context, "uri"),
                content=content,
            )
            failed = not response.is_success
        except RequestFailed:
            failed = True
        if failed:
            failures += 1
    if failures:
        logger.warning("once export: %d of %d records could not be marked", failures, len(records))
    return failures
