"""The paging styles of the fake SaaS app, one small route per real-world API shape.

Every style serves the same `fake.records`, ordered by position, so a correct client collects
ids 1..N exactly once. Opaque cursors encode a position; they are not meant to be decoded."""

from __future__ import annotations

import base64
import binascii
import json
import math
from typing import TYPE_CHECKING, Any

from .server import HttpError, Request, Response, dumps, json_response

if TYPE_CHECKING:
    from .saas import FakeSaas


def encode_cursor(kind: str, position: int) -> str:
    return base64.urlsafe_b64encode(f"{kind}:{position}".encode()).decode().rstrip("=")


def decode_cursor(kind: str, cursor: str) -> int:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        found_kind, position = raw.split(":")
        if found_kind == kind and int(position) >= 0:
            return int(position)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        pass
    raise HttpError(400, {"error": f"invalid cursor: {cursor!r}"})


def int_param(request: Request, name: str, default: int, minimum: int = 0) -> int:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise HttpError(400, {"error": f"{name} must be an integer"}) from None
    if value < minimum:
        raise HttpError(400, {"error": f"{name} must be at least {minimum}"})
    return value


def page_size(fake: FakeSaas, request: Request, name: str) -> int:
    """The requested page size, defaulting to fake.page_size and capped at fake.max_page_size."""
    return min(int_param(request, name, fake.page_size, minimum=1), fake.max_page_size)


def link_header(links: list[tuple[str, str]]) -> dict[str, str]:
    if not links:
        return {}
    return {"Link": ", ".join(f'<{url}>; rel="{rel}"' for url, rel in links)}


def github(fake: FakeSaas, request: Request) -> Response:
    """`GET /github/items?per_page=&page=` → bare array, `Link` rel next/last/first/prev."""
    size = page_size(fake, request, "per_page")
    page = int_param(request, "page", 1, minimum=1)
    last = max(1, math.ceil(len(fake.records) / size))

    def to(number: int) -> str:
        return fake.url(request.path, {**request.query, "page": number, "per_page": size})

    links = []
    if page < last:
        links += [(to(page + 1), "next"), (to(last), "last")]
    if page > 1:
        links += [(to(1), "first"), (to(page - 1), "prev")]
    return Response(200, fake.page_bytes((page - 1) * size, size), link_header(links))


def shopify(fake: FakeSaas, request: Request) -> Response:
    """`GET /shopify/items.json?limit=` then `?page_info=&limit=` from `Link` → `{"items": []}`."""
    size = page_size(fake, request, "limit")
    start = 0
    if "page_info" in request.query:
        extra = set(request.query) - {"page_info", "limit", "access_token"}
        if extra:
            raise HttpError(400, {"errors": f"page_info cannot be combined with {sorted(extra)}"})
        start = decode_cursor("shopify", request.query["page_info"])
    keep = {"access_token": request.query.get("access_token"), "limit": size}

    links = []
    if start + size < len(fake.records):
        page_info = encode_cursor("shopify", start + size)
        links.append((fake.url(request.path, {**keep, "page_info": page_info}), "next"))
    if start > 0:
        page_info = encode_cursor("shopify", max(0, start - size))
        links.append((fake.url(request.path, {**keep, "page_info": page_info}), "previous"))
    body = b'{"items":' + fake.page_bytes(start, size) + b"}"
    return Response(200, body, link_header(links))


def stripe(fake: FakeSaas, request: Request) -> Response:
    """`GET /stripe/items?limit=&starting_after=<id>` → `{"object":"list","data":[],"has_more"}`."""
    size = page_size(fake, request, "limit")
    start = 0
    after = request.query.get("starting_after")
    if after is not None:
        position = fake.position_of(after)
        if position is None:
            message = f"No such item: '{after}'"
            raise HttpError(400, {"error": {"code": "resource_missing", "message": message}})
        start = position + 1
    has_more = b"true" if start + size < len(fake.records) else b"false"
    return Response(
        200,
        b'{"object":"list","url":"/stripe/items","has_more":'
        + has_more
        + b',"data":'
        + fake.page_bytes(start, size)
        + b"}",
    )


def hubspot(fake: FakeSaas, request: Request) -> Response:
    """`GET /hubspot/items?limit=&after=` → `{"results":[],"paging":{"next":{"after","link"}}}`."""
    size = page_size(fake, request, "limit")
    after = request.query.get("after")
    start = decode_cursor("hubspot", after) if after else 0
    body = b'{"results":' + fake.page_bytes(start, size)
    if start + size < len(fake.records):
        token = encode_cursor("hubspot", start + size)
        link = fake.url(request.path, {**request.query, "after": token})
        body += b',"paging":' + dumps({"next": {"after": token, "link": link}})
    return Response(200, body + b"}")


def zendesk(fake: FakeSaas, request: Request) -> Response:
    """`GET /zendesk/items.json?per_page=&page=` → `{"items","next_page","previous_page","count"}`
    with absolute URLs or null."""
    size = page_size(fake, request, "per_page")
    page = int_param(request, "page", 1, minimum=1)
    total = len(fake.records)

    def to(number: int) -> bytes:
        return dumps(fake.url(request.path, {**request.query, "page": number, "per_page": size}))

    next_page = to(page + 1) if page * size < total else b"null"
    previous_page = to(page - 1) if page > 1 else b"null"
    body = (
        b'{"items":'
        + fake.page_bytes((page - 1) * size, size)
        + b',"next_page":'
        + next_page
        + b',"previous_page":'
        + previous_page
        + b',"count":'
        + str(total).encode()
        + b"}"
    )
    return Response(200, body)


def _salesforce_batch(fake: FakeSaas, locator: str, start: int, size: int) -> Response:
    total = len(fake.records)
    end = start + size
    body = b'{"totalSize":' + str(total).encode() + b',"done":'
    if end < total:
        next_url = dumps(f"/salesforce/query/{locator}-{end}")
        body += b'false,"nextRecordsUrl":' + next_url
    else:
        body += b"true"
    return Response(200, body + b',"records":' + fake.page_bytes(start, size) + b"}")


def salesforce(fake: FakeSaas, request: Request) -> Response:
    """`GET /salesforce/query?q=SOQL` → `{"totalSize","done","records","nextRecordsUrl"}`.

    The batch size comes from `Sforce-Query-Options: batchSize=N` or fake.page_size."""
    if not request.query.get("q"):
        raise HttpError(400, [{"errorCode": "MALFORMED_QUERY", "message": "q is required"}])
    size = fake.page_size
    for option in (request.header("sforce-query-options") or "").split(","):
        name, _, value = option.strip().partition("=")
        if name == "batchSize" and value.isdigit():
            size = min(max(int(value), 1), fake.max_page_size)
    with fake.lock:
        locator = f"01gFAKE{len(fake.query_locators) + 1:08d}"
        fake.query_locators[locator] = size
    return _salesforce_batch(fake, locator, 0, size)


def salesforce_more(fake: FakeSaas, request: Request, locator: str, offset: str) -> Response:
    """`GET /salesforce/query/<locator>-<offset>`: the batch a `nextRecordsUrl` points to."""
    size = fake.query_locators.get(locator)
    if size is None:
        message = "invalid query locator"
        raise HttpError(400, [{"errorCode": "INVALID_QUERY_LOCATOR", "message": message}])
    return _salesforce_batch(fake, locator, int(offset), size)


def offset(fake: FakeSaas, request: Request) -> Response:
    """`GET /offset/items?offset=&limit=&updated_since=&updated_before=` → `{"data","total"}`.

    `updated_since` is inclusive and `updated_before` exclusive, for delta exports."""
    since = request.query.get("updated_since") or None
    before = request.query.get("updated_before") or None
    start = int_param(request, "offset", 0)
    size = page_size(fake, request, "limit")
    total = len(fake.view(since, before))
    page = fake.page_bytes(start, size, since, before)
    return Response(200, b'{"data":' + page + b',"total":' + str(total).encode() + b"}")


def skip(fake: FakeSaas, request: Request) -> Response:
    """`GET /skip/items?skip=&take=` → `{"data","total"}`."""
    start = int_param(request, "skip", 0)
    size = page_size(fake, request, "take")
    total = str(len(fake.records)).encode()
    return Response(200, b'{"data":' + fake.page_bytes(start, size) + b',"total":' + total + b"}")


def _numbered_page(fake: FakeSaas, request: Request, not_found_after_last: bool) -> Response:
    size = page_size(fake, request, "pageSize")
    page = int_param(request, "page", 1, minimum=1)
    total_pages = math.ceil(len(fake.records) / size)
    if not_found_after_last and page > total_pages:
        return json_response(404, {"error": "not found"})
    body = (
        b'{"items":'
        + fake.page_bytes((page - 1) * size, size)
        + f',"page":{page},"pageSize":{size},"totalPages":{total_pages}}}'.encode()
    )
    return Response(200, body)


def pages(fake: FakeSaas, request: Request) -> Response:
    """`GET /pages/items?page=&pageSize=` (1-based) → `{"items","page","pageSize","totalPages"}`."""
    return _numbered_page(fake, request, not_found_after_last=False)


def pages404(fake: FakeSaas, request: Request) -> Response:
    """`GET /pages404/items?page=&pageSize=`: like /pages but 404 after the last page."""
    return _numbered_page(fake, request, not_found_after_last=True)


def graphql(fake: FakeSaas, request: Request) -> Response:
    """`POST /graphql {"query","variables":{"first","after"}}` → relay-style connection."""
    try:
        payload: Any = json.loads(request.body)
    except ValueError:
        raise HttpError(400, {"errors": [{"message": "body is not JSON"}]}) from None
    if not isinstance(payload, dict) or not isinstance(payload.get("query"), str):
        raise HttpError(400, {"errors": [{"message": "query is required"}]})
    variables = payload.get("variables") or {}
    first = variables.get("first") or fake.page_size
    after = variables.get("after")
    if not isinstance(first, int) or first < 1:
        return json_response(200, {"errors": [{"message": "first must be a positive integer"}]})
    size = min(first, fake.max_page_size)
    try:
        start = decode_cursor("graphql", after) if after else 0
    except HttpError:
        return json_response(200, {"errors": [{"message": f"invalid cursor: {after!r}"}]})
    end = min(start + size, len(fake.records))
    page_info = {
        "hasNextPage": end < len(fake.records),
        "endCursor": encode_cursor("graphql", end) if end > start else None,
    }
    body = (
        b'{"data":{"items":{"nodes":'
        + fake.page_bytes(start, size)
        + b',"pageInfo":'
        + dumps(page_info)
        + b"}}}"
    )
    return Response(200, body)


def token_header(fake: FakeSaas, request: Request) -> Response:
    """`GET /token-header/items?limit=` with `X-Page-Token` (or `?pageToken=`) → bare array and
    `X-Next-Page-Token` while more pages remain."""
    size = page_size(fake, request, "limit")
    token = request.header("x-page-token") or request.query.get("pageToken")
    start = decode_cursor("token", token) if token else 0
    headers = {}
    if start + size < len(fake.records):
        headers["X-Next-Page-Token"] = encode_cursor("token", start + size)
    return Response(200, fake.page_bytes(start, size), headers)


def broken_repeat(fake: FakeSaas, request: Request) -> Response:
    """`GET /broken/repeat?page=`: always the first page and the same `Link` next (page=2)."""
    size = fake.page_size
    next_url = fake.url(request.path, {**request.query, "page": 2})
    return Response(200, fake.page_bytes(0, size), link_header([(next_url, "next")]))


def broken_same_cursor(fake: FakeSaas, request: Request) -> Response:
    """`GET /broken/same-cursor?cursor=`: always the first page and `"next_cursor":"same"`."""
    body = b'{"items":' + fake.page_bytes(0, fake.page_size) + b',"next_cursor":"same"}'
    return Response(200, body, {"X-Next-Page-Token": "same"})


GET_ROUTES = {
    "/github/items": github,
    "/shopify/items.json": shopify,
    "/stripe/items": stripe,
    "/hubspot/items": hubspot,
    "/zendesk/items.json": zendesk,
    "/salesforce/query": salesforce,
    "/offset/items": offset,
    "/skip/items": skip,
    "/pages/items": pages,
    "/pages404/items": pages404,
    "/token-header/items": token_header,
    "/broken/repeat": broken_repeat,
    "/broken/same-cursor": broken_same_cursor,
}
