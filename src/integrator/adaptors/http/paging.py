"""HTTP paging: one small class per ``http.paging.method``, all behind one interface.

Reference §3.3. A paginator knows one way to get from an API page to the next, nothing else
(modelled on dlt's REST paginators). The walker (``pages.py``) drives it:

1. ``first_request(request)``: adjust the first request (e.g. add ``?page=1``);
2. ``update_state(response, records)``: read the page just fetched; ``False`` means it was the
   last one. ``state()`` is what templates see as ``{{export.http.paging.*}}``;
3. ``update_request(request)``: given the next request as rendered from the export's templates
   (with the new ``state()`` and ``previous_page``), return the request to send, or ``None``.

Shared stop rules (``lastPageStatusCode``, ``lastPagePath``/``lastPageValues``, ``maxPagePath``,
``maxCountPath``) live in the walker; loop and size guards in ``pages.RequestGuard``.

Legacy ``rest.pagingMethod`` names map onto these (``paging_settings``): ``nextpageurl`` → ``url``
(``nextPagePath``), ``pageargument`` → ``page`` (``pageArgument``, from 1), ``relativeuri`` →
``relativeuri`` (``nextPageRelativeURI``), ``linkheader`` → ``linkheader``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar

from integrator.adaptors.http.records import ExportError, PagingLoopError, read_path
from integrator.mapping.datatypes import MISSING

__all__ = [
    "LEGACY_METHODS",
    "PAGINATORS",
    "BodyPaginator",
    "LinkHeaderPaginator",
    "PagePaginator",
    "PageRequest",
    "PageResponse",
    "Paginator",
    "RelativeUriPaginator",
    "SkipPaginator",
    "TokenPaginator",
    "UrlPaginator",
    "header_value",
    "paginator_for",
    "paging_settings",
]


@dataclass(frozen=True)
class PageRequest:
    """One API request. ``url`` is relative to the connection's ``baseURI`` or absolute."""

    method: str = "GET"
    url: str = ""
    query: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    body: str | None = None


@dataclass(frozen=True)
class PageResponse:
    """One API answer: status, headers and the parsed body (JSON value, text or ``None``)."""

    status: int = 200
    headers: Mapping[str, str] = field(default_factory=dict)
    body: Any = None


def header_value(headers: Mapping[str, str], name: str) -> str | None:
    """A response header by case-insensitive name."""
    if name in headers:
        return headers[name]
    lowered = name.lower()
    for key, value in headers.items():
        if key.lower() == lowered:
            return value
    return None


def _text(value: Any) -> str | None:
    """A token or URL read from a response: a non-empty string, or None."""
    if value is None or value is MISSING or isinstance(value, bool | dict | list):
        return None
    text = str(value).strip()
    return text or None


class Paginator:
    """No paging: the first response is the only page."""

    method: ClassVar[str] = "none"

    def __init__(self, paging: Mapping[str, Any]) -> None:
        self.paging = paging

    def state(self) -> dict[str, Any]:
        """Values templates read as ``{{export.http.paging.<name>}}``."""
        return {}

    def first_request(self, request: PageRequest) -> PageRequest:
        return request

    def update_state(self, response: PageResponse, records: list[dict[str, Any]]) -> bool:
        return False

    def update_request(self, request: PageRequest) -> PageRequest | None:
        return request


class LinkHeaderPaginator(Paginator):
    """Follow the RFC 8288 ``Link`` header (GitHub, Shopify ``page_info``, our own API).

    Response headers::

        Link: <https://api.github.com/repos/o/r/issues?page=2>; rel="next",
              <https://api.github.com/repos/o/r/issues?page=5>; rel="last"

    Export: ``{"http": {"relativeURI": "/repos/o/r/issues?per_page=100",
    "paging": {"method": "linkheader", "linkHeaderRelation": "next"}}}``.
    ``linkHeaderRelation`` defaults to ``next`` and is case-sensitive. No link: last page.
    The next URL replaces the request's URL and query (it carries its own).
    """

    method = "linkheader"
    _LINK = re.compile(r"<([^>]*)>((?:\s*;\s*[^;,]+)*)")
    _REL = re.compile(r"""rel\s*=\s*(?:"([^"]*)"|([^\s;,"]+))""")

    def __init__(self, paging: Mapping[str, Any]) -> None:
        super().__init__(paging)
        self.relation = paging.get("linkHeaderRelation") or "next"
        self.next_url: str | None = None

    def update_state(self, response: PageResponse, records: list[dict[str, Any]]) -> bool:
        self.next_url = self.find(header_value(response.headers, "Link") or "", self.relation)
        return self.next_url is not None

    def update_request(self, request: PageRequest) -> PageRequest | None:
        return replace(request, url=self.next_url or "", query={})

    @classmethod
    def find(cls, link: str, relation: str) -> str | None:
        """The target of the first link whose ``rel`` lists ``relation``."""
        for match in cls._LINK.finditer(link):
            for rel in cls._REL.finditer(match.group(2)):
                if relation in (rel.group(1) or rel.group(2) or "").split():
                    return _text(match.group(1))
        return None


class UrlPaginator(Paginator):
    """The body holds the next page's URL (Zendesk, Salesforce, seed ``nextpageurl``).

    Response: ``{"tickets": [...], "next_page": "https://x.zendesk.com/api/v2/tickets.json?page=2"}``
    or Salesforce's relative
    ``{"records": [...], "nextRecordsUrl": "/services/data/v58.0/query/01g-2000"}``.

    Export: ``{"http": {"relativeURI": "/api/v2/tickets.json", "response": {"resourcePath":
    "tickets"}, "paging": {"method": "url", "path": "next_page"}}}`` (legacy:
    ``rest.pagingMethod: "nextpageurl", rest.nextPagePath: "next_page"``). A relative URL is
    relative to the connection's ``baseURI``, like ``relativeURI``. No URL (or null): last page.
    """

    method = "url"

    def __init__(self, paging: Mapping[str, Any]) -> None:
        super().__init__(paging)
        if not paging.get("path"):
            raise ExportError(
                "Paging by next page URL needs http.paging.path (legacy: rest.nextPagePath).",
                code="invalid_paging",
            )
        self.path: str = paging["path"]
        self.next_url: str | None = None

    def update_state(self, response: PageResponse, records: list[dict[str, Any]]) -> bool:
        self.next_url = _text(read_path(response.body, self.path))
        return self.next_url is not None

    def update_request(self, request: PageRequest) -> PageRequest | None:
        return replace(request, url=self.next_url or "", query={})


class PagePaginator(Paginator):
    """A page number: ``?page=1``, ``?page=2``… until a page comes back empty.

    Response: ``{"items": [...], "total_pages": 7}``. Export: ``{"http": {"relativeURI":
    "/items?page={{export.http.paging.page}}&per_page=50", "paging": {"method": "page",
    "page": 1, "maxPagePath": "total_pages"}}}``. ``page`` is the first number (default 0).
    ``pageArgument`` (legacy ``rest.pageArgument``, pages from 1) names a query parameter that is
    added to every request instead of templating the URI.
    """

    method = "page"

    def __init__(self, paging: Mapping[str, Any]) -> None:
        super().__init__(paging)
        self.page = int(paging.get("page") or 0)
        self.argument: str | None = paging.get("pageArgument")

    def state(self) -> dict[str, Any]:
        return {"page": self.page}

    def first_request(self, request: PageRequest) -> PageRequest:
        if not self.argument:
            return request
        return replace(request, query={**request.query, self.argument: str(self.page)})

    def update_state(self, response: PageResponse, records: list[dict[str, Any]]) -> bool:
        self.page += 1
        return bool(records)

    def update_request(self, request: PageRequest) -> PageRequest | None:
        return self.first_request(request)


class SkipPaginator(Paginator):
    """An offset counting records: ``?offset=0&limit=100``, then ``offset=100``…

    Response: ``{"results": [...], "count": 1234}``. Export: ``{"http": {"relativeURI":
    "/results?limit=100&offset={{export.http.paging.skip}}", "paging": {"method": "skip",
    "maxCountPath": "count"}}}``. ``skip`` is the first offset (default 0); it grows by the
    number of records each page actually held. An empty page is the last.
    """

    method = "skip"

    def __init__(self, paging: Mapping[str, Any]) -> None:
        super().__init__(paging)
        self.skip = int(paging.get("skip") or 0)

    def state(self) -> dict[str, Any]:
        return {"skip": self.skip}

    def update_state(self, response: PageResponse, records: list[dict[str, Any]]) -> bool:
        self.skip += len(records)
        return bool(records)


class TokenPaginator(Paginator):
    """A cursor read from the body or a header, sent back through a template.

    HubSpot: ``{"results": [...], "paging": {"next": {"after": "NTI1Cg=="}}}`` with
    ``{"http": {"relativeURI": "/crm/v3/objects/contacts?limit=100{{#if export.http.paging.token}}
    &after={{export.http.paging.token}}{{/if}}", "paging": {"method": "token",
    "path": "paging.next.after"}}}``. A header cursor: ``"pathLocation": "header", "path":
    "X-Next-Cursor"``, sent back in the URI, a header (``{{export.http.paging.token}}`` in
    ``http.headers``) or the body. ``token`` is the first value (default none);
    ``pathAfterFirstRequest`` reads the token at another path from page 2 on.
    ``relativeURI``/``body`` in ``http.paging`` override the request for pages ≥ 2.
    No token: last page. A token seen before raises ``PagingLoopError``.
    """

    method = "token"

    def __init__(self, paging: Mapping[str, Any]) -> None:
        super().__init__(paging)
        if not paging.get("path"):
            raise ExportError("Paging by token needs http.paging.path.", code="invalid_paging")
        self.path: str = paging["path"]
        self.later_path: str = paging.get("pathAfterFirstRequest") or self.path
        self.in_header = paging.get("pathLocation") == "header"
        self.token: str | None = _text(paging.get("token"))
        self.seen: set[str] = {self.token} if self.token else set()
        self.pages = 0

    def state(self) -> dict[str, Any]:
        return {"token": self.token or ""}

    def update_state(self, response: PageResponse, records: list[dict[str, Any]]) -> bool:
        path = self.path if self.pages == 0 else self.later_path
        self.pages += 1
        if self.in_header:
            token = _text(header_value(response.headers, path))
        else:
            token = _text(read_path(response.body, path))
        if token is None:
            return False
        if token in self.seen:
            raise PagingLoopError(
                f"The API returned the paging token {token!r} (at '{path}') a second time; "
                "stopping instead of fetching the same pages forever."
            )
        self.seen.add(token)
        self.token = token
        return True


class RelativeUriPaginator(Paginator):
    """Pages ≥ 2 use ``http.paging.relativeURI``, rendered from the previous page.

    Stripe: ``{"object": "list", "data": [..., {"id": "cus_9"}], "has_more": true}`` with
    ``{"http": {"relativeURI": "/v1/customers?limit=100", "paging": {"method": "relativeuri",
    "relativeURI": "/v1/customers?limit=100&starting_after={{previous_page.last_record.id}}",
    "lastPagePath": "has_more", "lastPageValues": ["false"]}}}``. The template sees
    ``previous_page.full_response``, ``previous_page.last_record`` and ``previous_page.headers``
    (legacy ``rest.nextPageRelativeURI`` also sees the last record's fields, ``{{id}}``).
    An empty page, or a template that renders empty, ends paging.
    """

    method = "relativeuri"

    def __init__(self, paging: Mapping[str, Any]) -> None:
        super().__init__(paging)
        if not paging.get("relativeURI"):
            raise ExportError(
                "Paging by relative URI needs http.paging.relativeURI "
                "(legacy: rest.nextPageRelativeURI).",
                code="invalid_paging",
            )

    def update_state(self, response: PageResponse, records: list[dict[str, Any]]) -> bool:
        return bool(records)

    def update_request(self, request: PageRequest) -> PageRequest | None:
        return request if request.url.strip() else None


class BodyPaginator(Paginator):
    """Pages ≥ 2 POST ``http.paging.body``, rendered from the previous page (GraphQL cursors).

    Response: ``{"data": {"products": {"nodes": [...], "pageInfo": {"hasNextPage": true,
    "endCursor": "eyJsYXN0X2lkIjo0fQ"}}}}``. Export: ``{"http": {"method": "POST", "body": <first>,
    "paging": {"method": "body", "body": <next>, "lastPagePath":
    "data.products.pageInfo.hasNextPage", "lastPageValues": ["false"]}}}`` where the templates are::

        first: {"query": "query($after: String) { products(first: 50, after: $after) {...} }"}
        next:  {"query": "...same...", "variables":
                {"after": "{{previous_page.full_response.data.products.pageInfo.endCursor}}"}}

    (``method: "token"`` with ``{{export.http.paging.token}}`` in ``http.paging.body`` works too.)
    An empty page, or a body that renders empty, ends paging.
    """

    method = "body"

    def __init__(self, paging: Mapping[str, Any]) -> None:
        super().__init__(paging)
        if not paging.get("body"):
            raise ExportError(
                "Paging by request body needs http.paging.body.", code="invalid_paging"
            )

    def update_state(self, response: PageResponse, records: list[dict[str, Any]]) -> bool:
        return bool(records)

    def update_request(self, request: PageRequest) -> PageRequest | None:
        return request if request.body and request.body.strip() else None


PAGINATORS: dict[str, type[Paginator]] = {
    cls.method: cls
    for cls in (
        Paginator,
        LinkHeaderPaginator,
        UrlPaginator,
        PagePaginator,
        SkipPaginator,
        TokenPaginator,
        RelativeUriPaginator,
        BodyPaginator,
    )
}

#: Legacy ``rest.pagingMethod`` → modern ``http.paging.method``.
LEGACY_METHODS = {
    "nextpageurl": "url",
    "pageargument": "page",
    "relativeuri": "relativeuri",
    "linkheader": "linkheader",
}


def paging_settings(export: Mapping[str, Any]) -> dict[str, Any]:
    """The export's paging as a modern ``http.paging`` dict (``{}``: no paging).

    >>> paging_settings({"rest": {"pagingMethod": "nextpageurl", "nextPagePath": "next_page"}})
    {'method': 'url', 'path': 'next_page'}
    """
    http = export.get("http")
    if isinstance(http, Mapping):
        paging = http.get("paging")
        return dict(paging) if isinstance(paging, Mapping) else {}
    rest = export.get("rest")
    if not isinstance(rest, Mapping) or not rest.get("pagingMethod"):
        return {}
    legacy = rest["pagingMethod"]
    method = LEGACY_METHODS.get(legacy)
    if method is None:
        raise ExportError(f"Unknown rest.pagingMethod {legacy!r}.", code="invalid_paging")
    settings: dict[str, Any] = {"method": method}
    if legacy == "nextpageurl":
        settings["path"] = rest.get("nextPagePath")
    elif legacy == "pageargument":
        settings.update(page=1, pageArgument=rest.get("pageArgument") or "page")
    elif legacy == "relativeuri":
        settings["relativeURI"] = rest.get("nextPageRelativeURI")
    for name in ("maxPagePath", "maxCountPath"):
        if rest.get(name):
            settings[name] = rest[name]
    return settings


def paginator_for(paging: Mapping[str, Any]) -> Paginator:
    """A fresh paginator for ``paging`` (from ``paging_settings``); one per export run."""
    method = paging.get("method") or "none"
    cls = PAGINATORS.get(method)
    if cls is None:
        raise ExportError(f"Unknown http.paging.method {method!r}.", code="invalid_paging")
    return cls(paging)
