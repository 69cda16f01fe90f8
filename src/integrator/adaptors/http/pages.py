"""The export side of the HTTP adaptor: walk an API's pages, hand back platform pages.

``iter_pages`` renders the export's request templates, sends each request through ``send``
(supplied by the caller: the real one wraps the HTTP client with auth and retries; tests pass
a fake), follows the paginator (``paging.py``), extracts records (``records.py``) and re-chunks
them into pages of the export's ``pageSize`` (default 20), whatever size the API's pages are.
Memory holds one API page plus one platform page.

Templates (reference §3.3, §9): ``relativeURI`` renders in ``uri`` mode, bodies in ``body``
mode, headers in ``plain`` mode; legacy ``rest.query`` values render as in a URI and are then
decoded (the client encodes query parameters). They see ``template_context()`` with
``connection``, ``export`` (``{{export.http.paging.page}}``, ``.skip``, ``.token`` hold the
paging state, also for legacy ``rest`` exports), from page 2 ``previous_page``
(``full_response``, ``last_record``, ``headers`` with lower-case names), and whatever the
caller passes in ``context`` (``lastExportDateTime``, ``currentExportDateTime``, ``settings``,
``job``).

Stop rules shared by every paging method: ``lastPageStatusCode`` (default 404; ends a paged
export from its first page, an unpaged one only with an explicit code),
``lastPagePath``/``lastPageValues`` (default ``["true"]``), ``maxPagePath`` (total pages;
wins) or ``maxCountPath`` (total records).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Generator, Iterator, Mapping
from typing import Any
from urllib.parse import unquote

import orjson

from integrator.adaptors.http.paging import (
    PageRequest,
    PageResponse,
    paginator_for,
    paging_settings,
)
from integrator.adaptors.http.records import (
    ExportError,
    PagingLimitError,
    PagingLoopError,
    body_snippet,
    check_response,
    extract_records,
    read_path,
    value_text,
)
from integrator.mapping.datatypes import MISSING
from integrator.mapping.templates import render, template_context

__all__ = [
    "DEFAULT_MAX_PAGES",
    "DEFAULT_PAGE_SIZE",
    "RequestGuard",
    "Send",
    "iter_api_pages",
    "iter_pages",
]

#: integrator.io's default export page size (reference §3.1).
DEFAULT_PAGE_SIZE = 20
#: Hard cap on API requests per export run, whatever the API keeps answering.
DEFAULT_MAX_PAGES = 100_000
#: ``type: test`` exports stop after this many records unless ``test.limit`` says otherwise.
DEFAULT_TEST_LIMIT = 1

Send = Callable[[PageRequest], PageResponse]
Record = dict[str, Any]


def _pairs(value: Any) -> list[tuple[str, str]]:
    """``[{name, value}]`` (headers, modern) or ``{name: value}`` (legacy query) as pairs."""
    if isinstance(value, Mapping):
        return [(str(k), "" if v is None else str(v)) for k, v in value.items()]
    if isinstance(value, list):
        return [
            (str(item["name"]), "" if item.get("value") is None else str(item["value"]))
            for item in value
            if isinstance(item, Mapping) and item.get("name")
        ]
    return []


def _template_text(value: Any) -> str | None:
    """A body template as text: strings as written, JSON values serialised."""
    if value is None or value == "":
        return None
    return value if isinstance(value, str) else orjson.dumps(value).decode()


class _RequestBuilder:
    """Renders the export's request for given paging state and previous page."""

    def __init__(
        self,
        export: Mapping[str, Any],
        connection: Mapping[str, Any],
        paging: Mapping[str, Any],
        context: Mapping[str, Any],
    ) -> None:
        self.export = export
        self.connection = connection
        self.paging = paging
        self.context = dict(context)
        self.legacy = not isinstance(export.get("http"), Mapping)
        block: Mapping[str, Any] = export.get("rest" if self.legacy else "http") or {}
        self.block = block
        self.method = str(block.get("method") or "GET").upper()
        self.relative_uri = block.get("relativeURI") or ""
        self.body = _template_text(block.get("postBody") if self.legacy else block.get("body"))
        self.later_uri = paging.get("relativeURI") or self.relative_uri
        self.later_body = _template_text(paging.get("body")) or self.body
        conn_block = connection.get("rest") or connection.get("http") or {}
        headers: dict[str, tuple[str, str]] = {}
        for name, value in _pairs(conn_block.get("headers")) + _pairs(block.get("headers")):
            headers[name.lower()] = (name, value)  # the export's header overrides the connection's
        self.headers = list(headers.values())
        self.query = _pairs(block.get("query")) if self.legacy else []

    def _context(self, state: Mapping[str, Any], previous: Mapping[str, Any] | None) -> Any:
        http = self.export.get("http")
        http_view = dict(http) if isinstance(http, Mapping) else {}
        http_view["paging"] = {**self.paging, **state}
        extra = dict(self.context)
        record = None
        if previous is not None and self.legacy and self.paging.get("method") == "relativeuri":
            record = previous.get("last_record")  # legacy nextPageRelativeURI: {{id}}
        context = template_context(
            record,
            settings=extra.pop("settings", None),
            connection=self.connection,
            job=extra.pop("job", None),
            export={**self.export, "http": http_view},
            last_export_date_time=extra.pop("lastExportDateTime", None),
            current_export_date_time=extra.pop("currentExportDateTime", None),
            previous_page=previous,
        )
        context.update(extra)
        return context

    def build(self, state: Mapping[str, Any], previous: Mapping[str, Any] | None) -> PageRequest:
        """The request for the first page (``previous`` None) or a later one."""
        context = self._context(state, previous)
        uri = self.relative_uri if previous is None else self.later_uri
        body = self.body if previous is None else self.later_body
        return PageRequest(
            method=self.method,
            url=render(uri, context, "uri") if uri else "",
            # Query values are sent unencoded (the client encodes them): render as in a URI,
            # then decode, so a value means the same here as in relativeURI.
            query={name: unquote(render(value, context, "uri")) for name, value in self.query},
            headers={name: render(value, context, "plain") for name, value in self.headers},
            body=render(body, context, "body") if body is not None else None,
        )


class RequestGuard:
    """Stops an export that asks for the same page twice or for too many pages.

    Requests are remembered by a digest of method, URL, query, headers and body, so memory
    stays small: 16 bytes per page.
    """

    def __init__(self, max_pages: int = DEFAULT_MAX_PAGES) -> None:
        self.max_pages = max_pages
        self.count = 0
        self._seen: set[bytes] = set()

    def check(self, request: PageRequest) -> None:
        self.count += 1
        if self.count > self.max_pages:
            raise PagingLimitError(
                f"The export fetched {self.max_pages} API pages and the API still offers more; "
                "stopping. Check the paging settings or raise the page limit."
            )
        key = orjson.dumps(
            [request.method, request.url, request.query, request.headers, request.body],
            option=orjson.OPT_SORT_KEYS,
        )
        digest = hashlib.blake2b(key, digest_size=16).digest()
        if digest in self._seen:
            where = request.url + (f" with body {request.body[:200]!r}" if request.body else "")
            raise PagingLoopError(
                f"Paging asked for the same page twice ({request.method} {where}"
                f"{' ' + str(request.query) if request.query else ''}); stopping. "
                "Does the URI or body use the paging state "
                "(e.g. {{export.http.paging.page}} or {{export.http.paging.token}})?"
            )
        self._seen.add(digest)


def _number(value: Any) -> int | None:
    if value is MISSING or value is None or isinstance(value, bool):
        return None
    try:
        return int(float(value))
    except (TypeError, ValueError):
        return None


def _is_last_page(
    paging: Mapping[str, Any], response: PageResponse, pages: int, count: int
) -> bool:
    """The stop rules every paging method shares (see the module docstring)."""
    last_path = paging.get("lastPagePath")
    if last_path:
        values = paging.get("lastPageValues") or ["true"]
        if value_text(read_path(response.body, last_path)) in values:
            return True
    if paging.get("maxPagePath"):
        max_pages = _number(read_path(response.body, paging["maxPagePath"]))
        return max_pages is not None and pages >= max_pages
    if paging.get("maxCountPath"):
        max_count = _number(read_path(response.body, paging["maxCountPath"]))
        return max_count is not None and count >= max_count
    return False


def _response_settings(export: Mapping[str, Any]) -> dict[str, Any]:
    http = export.get("http")
    if isinstance(http, Mapping):
        response = http.get("response")
        return dict(response) if isinstance(response, Mapping) else {}
    rest = export.get("rest") or {}
    return {"resourcePath": rest.get("resourcePath")}


def first_request(
    export: Mapping[str, Any],
    connection: Mapping[str, Any],
    *,
    context: Mapping[str, Any] | None = None,
) -> PageRequest:
    """The export's first request, rendered: what ``Integrator-Passthrough`` sends."""
    paging = paging_settings(export)
    paginator = paginator_for(paging)
    builder = _RequestBuilder(export, connection, paging, context or {})
    request = paginator.first_request(builder.build(paginator.state(), None))
    assert request is not None
    return request


def iter_api_pages(
    export: Mapping[str, Any],
    connection: Mapping[str, Any],
    send: Send,
    *,
    context: Mapping[str, Any] | None = None,
    max_pages: int = DEFAULT_MAX_PAGES,
) -> Generator[list[Record], None, None]:
    """The records of each API page, in order; empty pages are skipped.

    Raises ``ExportError`` for a non-2xx answer (other than the last-page status), a page that
    ``successPath``/``failPath`` marks as failed, or bad paging settings; ``PagingLoopError``
    when the same request or cursor comes round again; ``PagingLimitError`` past ``max_pages``.
    """
    paging = paging_settings(export)
    paginator = paginator_for(paging)
    builder = _RequestBuilder(export, connection, paging, context or {})
    guard = RequestGuard(max_pages)
    response_settings = _response_settings(export)
    first_path = response_settings.get("resourcePath")
    later_path = paging.get("resourcePath") or first_path
    last_status = paging.get("lastPageStatusCode")
    paged = bool(paging.get("method"))
    request: PageRequest | None = paginator.first_request(builder.build(paginator.state(), None))
    pages = count = 0
    while request is not None:
        guard.check(request)
        response = send(request)
        # "404 ends paging" holds from the first page when the export pages: an empty source of
        # an API that answers 404 past its last page answers 404 at once. Without paging a 404
        # is an error (most likely a wrong URI).
        if response.status == (last_status or 404) and (last_status or pages or paged):
            return
        if not 200 <= response.status < 300:
            snippet = body_snippet(response.body)
            raise ExportError(
                f"{request.method} {request.url} answered {response.status}: {snippet}",
                response_status=response.status,
                snippet=snippet,
            )
        check_response(response.status, response.body, response_settings)
        records = extract_records(response.body, first_path if pages == 0 else later_path)
        pages += 1
        count += len(records)
        if records:
            yield records
        if _is_last_page(paging, response, pages, count):
            return
        if not paginator.update_state(response, records):
            return
        previous = {
            "full_response": response.body,
            "last_record": records[-1] if records else None,
            # Lower-case names, as Node (and so integrator.io) hands headers to templates.
            "headers": {name.lower(): value for name, value in response.headers.items()},
        }
        request = paginator.update_request(builder.build(paginator.state(), previous))


def _test_limit(export: Mapping[str, Any]) -> int | None:
    if export.get("type") != "test":
        return None
    test = export.get("test")
    limit = test.get("limit") if isinstance(test, Mapping) else None
    return int(limit) if limit else DEFAULT_TEST_LIMIT


def iter_pages(
    export: Mapping[str, Any],
    connection: Mapping[str, Any],
    send: Send,
    *,
    context: Mapping[str, Any] | None = None,
    page_size: int | None = None,
    max_pages: int = DEFAULT_MAX_PAGES,
) -> Iterator[list[Record]]:
    """Platform pages of ``page_size`` records (default: the export's ``pageSize``, else 20).

    Every page but the last is full; an export with no records yields nothing. A ``type: test``
    export stops after ``test.limit`` records (default 1) and fetches no further API pages.

    >>> export = {"http": {"relativeURI": "/items"}, "pageSize": 2}
    >>> send = lambda request: PageResponse(200, {}, [{"id": 1}, {"id": 2}, {"id": 3}])
    >>> list(iter_pages(export, {}, send))
    [[{'id': 1}, {'id': 2}], [{'id': 3}]]
    """
    size = page_size or export.get("pageSize") or DEFAULT_PAGE_SIZE
    limit = _test_limit(export)
    api_pages = iter_api_pages(export, connection, send, context=context, max_pages=max_pages)
    buffer: list[Record] = []
    taken = 0
    try:
        for records in api_pages:
            if limit is not None:
                records = records[: limit - taken]
            taken += len(records)
            start = 0
            if buffer:  # top up the partial page first
                start = min(size - len(buffer), len(records))
                buffer.extend(records[:start])
                if len(buffer) == size:
                    yield buffer
                    buffer = []
            while len(records) - start >= size:
                yield records[start : start + size]
                start += size
            buffer.extend(records[start:])
            if limit is not None and taken >= limit:
                break
    finally:
        api_pages.close()
    if buffer:
        yield buffer
