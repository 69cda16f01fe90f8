"""The HTTP export walker against in-memory APIs that page the way real ones do.

Each fake below answers ``PageRequest``s like one well-known API (GitHub, Shopify, Stripe,
HubSpot, Zendesk, Salesforce, GraphQL, …) over records ``{"id": 1..N}``, five per API page.
Every style must hand back exactly those records, in order, re-chunked into platform pages.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import orjson
import pytest

from integrator.adaptors.http import (
    ExportError,
    PageRequest,
    PageResponse,
    PagingLoopError,
    iter_pages,
)

API_PAGE = 5
PLATFORM_PAGE = 7
BASE = "https://api.example.com"

Api = Callable[[list[dict[str, Any]]], Callable[[PageRequest], PageResponse]]


def _params(request: PageRequest) -> dict[str, str]:
    """Query parameters from the URL and from ``request.query`` (as a client would send)."""
    return {**dict(parse_qsl(urlsplit(request.url).query)), **request.query}


def _cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(f"offset:{offset}".encode()).decode()


def _offset(cursor: str | None) -> int:
    return int(base64.urlsafe_b64decode(cursor).decode().split(":")[1]) if cursor else 0


def github(data: list[dict[str, Any]]) -> Callable[[PageRequest], PageResponse]:
    def send(request: PageRequest) -> PageResponse:
        page = int(_params(request).get("page", "1"))
        chunk = data[(page - 1) * API_PAGE : page * API_PAGE]
        links = [f'<{BASE}/items?page=1&per_page={API_PAGE}>; rel="first"']
        if page * API_PAGE < len(data):
            links.insert(0, f'<{BASE}/items?page={page + 1}&per_page={API_PAGE}>; rel="next"')
        return PageResponse(200, {"link": ", ".join(links)}, chunk)

    return send


def shopify(data: list[dict[str, Any]]) -> Callable[[PageRequest], PageResponse]:
    def send(request: PageRequest) -> PageResponse:
        start = _offset(_params(request).get("page_info"))
        links = []
        if start:
            links.append(
                f"<{BASE}/admin/products.json?limit=5&page_info={_cursor(0)}>; rel=previous"
            )
        if start + API_PAGE < len(data):
            cursor = _cursor(start + API_PAGE)
            links.append(f"<{BASE}/admin/products.json?limit=5&page_info={cursor}>; rel=next")
        headers = {"Link": ", ".join(links)} if links else {}
        return PageResponse(200, headers, {"products": data[start : start + API_PAGE]})

    return send


def stripe(data: list[dict[str, Any]]) -> Callable[[PageRequest], PageResponse]:
    def send(request: PageRequest) -> PageResponse:
        after = _params(request).get("starting_after")
        start = next(i + 1 for i, r in enumerate(data) if str(r["id"]) == after) if after else 0
        chunk = data[start : start + API_PAGE]
        body = {"object": "list", "data": chunk, "has_more": start + API_PAGE < len(data)}
        return PageResponse(200, {}, body)

    return send


def hubspot(data: list[dict[str, Any]]) -> Callable[[PageRequest], PageResponse]:
    def send(request: PageRequest) -> PageResponse:
        start = _offset(_params(request).get("after"))
        body: dict[str, Any] = {"results": data[start : start + API_PAGE]}
        if start + API_PAGE < len(data):
            body["paging"] = {"next": {"after": _cursor(start + API_PAGE), "link": "?after=…"}}
        return PageResponse(200, {}, body)

    return send


def zendesk(data: list[dict[str, Any]]) -> Callable[[PageRequest], PageResponse]:
    def send(request: PageRequest) -> PageResponse:
        page = int(_params(request).get("page", "1"))
        more = page * API_PAGE < len(data)
        next_page = f"{BASE}/api/v2/customers.json?page={page + 1}" if more else None
        chunk = data[(page - 1) * API_PAGE : page * API_PAGE]
        return PageResponse(200, {}, {"customers": chunk, "next_page": next_page})

    return send


def salesforce(data: list[dict[str, Any]]) -> Callable[[PageRequest], PageResponse]:
    def send(request: PageRequest) -> PageResponse:
        path = urlsplit(request.url).path
        start = int(path.rsplit("-", 1)[1]) if "/query/01g" in path else 0
        body: dict[str, Any] = {
            "totalSize": len(data),
            "done": start + API_PAGE >= len(data),
            "records": data[start : start + API_PAGE],
        }
        if not body["done"]:
            body["nextRecordsUrl"] = f"/services/data/v58.0/query/01gxx-{start + API_PAGE}"
        return PageResponse(200, {}, body)

    return send


def offset_limit(data: list[dict[str, Any]]) -> Callable[[PageRequest], PageResponse]:
    def send(request: PageRequest) -> PageResponse:
        params = _params(request)
        start, limit = int(params["offset"]), int(params["limit"])
        return PageResponse(200, {}, {"results": data[start : start + limit], "count": len(data)})

    return send


def numbered(data: list[dict[str, Any]], *, missing: int = 200) -> Any:
    """Pages 1, 2, …; past the end an empty list, or ``missing`` (e.g. 404) when set."""

    def send(request: PageRequest) -> PageResponse:
        page = int(_params(request)["page"])
        chunk = data[(page - 1) * API_PAGE : page * API_PAGE]
        if not chunk and page > 1 and missing != 200:
            return PageResponse(missing, {}, {"error": "Not Found"})
        return PageResponse(200, {}, {"items": chunk, "total_pages": -(-len(data) // API_PAGE)})

    return send


def graphql(data: list[dict[str, Any]]) -> Callable[[PageRequest], PageResponse]:
    def send(request: PageRequest) -> PageResponse:
        assert request.method == "POST" and request.body is not None
        after = (orjson.loads(request.body).get("variables") or {}).get("after")
        start = _offset(after)
        chunk = data[start : start + API_PAGE]
        info = {"hasNextPage": start + API_PAGE < len(data), "endCursor": _cursor(start + 5)}
        return PageResponse(200, {}, {"data": {"products": {"nodes": chunk, "pageInfo": info}}})

    return send


def header_cursor(data: list[dict[str, Any]]) -> Callable[[PageRequest], PageResponse]:
    def send(request: PageRequest) -> PageResponse:
        start = _offset(request.headers.get("X-Cursor"))
        more = start + API_PAGE < len(data)
        headers = {"x-next-cursor": _cursor(start + API_PAGE)} if more else {}
        return PageResponse(200, headers, data[start : start + API_PAGE])

    return send


GRAPHQL_QUERY = "query($after: String) { products(first: 5, after: $after) { nodes { id } } }"

#: style → (fake API, export). Legacy ``rest`` exports are marked so in the name.
STYLES: dict[str, tuple[Any, dict[str, Any]]] = {
    "github_link_header": (
        github,
        {"http": {"relativeURI": "/items?per_page=5", "paging": {"method": "linkheader"}}},
    ),
    "shopify_page_info_link": (
        shopify,
        {
            "http": {
                "relativeURI": "/admin/products.json?limit=5",
                "response": {"resourcePath": "products"},
                "paging": {"method": "linkheader", "linkHeaderRelation": "next"},
            }
        },
    ),
    "legacy_linkheader": (
        github,
        {"rest": {"relativeURI": "/items", "pagingMethod": "linkheader"}},
    ),
    "stripe_starting_after": (
        stripe,
        {
            "http": {
                "relativeURI": "/v1/customers?limit=5",
                "response": {"resourcePath": "data"},
                "paging": {
                    "method": "relativeuri",
                    "relativeURI": "/v1/customers?limit=5"
                    "&starting_after={{previous_page.last_record.id}}",
                    "lastPagePath": "has_more",
                    "lastPageValues": ["false"],
                },
            }
        },
    ),
    "legacy_relativeuri_from_last_record": (
        stripe,
        {
            "rest": {
                "relativeURI": "/v1/customers",
                "resourcePath": "data",
                "pagingMethod": "relativeuri",
                "nextPageRelativeURI": "/v1/customers?starting_after={{id}}",
            }
        },
    ),
    "hubspot_after_token": (
        hubspot,
        {
            "http": {
                "relativeURI": "/crm/v3/objects/contacts?limit=5"
                "{{#if export.http.paging.token}}&after={{export.http.paging.token}}{{/if}}",
                "response": {"resourcePath": "results"},
                "paging": {"method": "token", "path": "paging.next.after"},
            }
        },
    ),
    "zendesk_next_page_url_legacy_seed": (
        zendesk,
        {
            "rest": {
                "relativeURI": "/api/v2/customers.json",
                "method": "GET",
                "resourcePath": "customers",
                "pagingMethod": "nextpageurl",
                "nextPagePath": "next_page",
            }
        },
    ),
    "salesforce_relative_next_records_url": (
        salesforce,
        {
            "http": {
                "relativeURI": "/services/data/v58.0/query?q=SELECT+Id+FROM+Account",
                "response": {"resourcePath": "records"},
                "paging": {"method": "url", "path": "nextRecordsUrl"},
            }
        },
    ),
    "offset_limit_skip": (
        offset_limit,
        {
            "http": {
                "relativeURI": "/results?offset={{export.http.paging.skip}}&limit=5",
                "response": {"resourcePath": "results"},
                "paging": {"method": "skip", "maxCountPath": "count"},
            }
        },
    ),
    "page_numbers_until_empty": (
        numbered,
        {
            "http": {
                "relativeURI": "/items?page={{export.http.paging.page}}",
                "response": {"resourcePath": "items"},
                "paging": {"method": "page", "page": 1},
            }
        },
    ),
    "page_numbers_max_page_path": (
        numbered,
        {
            "http": {
                "relativeURI": "/items?page={{export.http.paging.page}}",
                "response": {"resourcePath": "items"},
                "paging": {"method": "page", "page": 1, "maxPagePath": "total_pages"},
            }
        },
    ),
    "legacy_pageargument": (
        numbered,
        {
            "rest": {
                "relativeURI": "/items",
                "resourcePath": "items",
                "pagingMethod": "pageargument",
                "pageArgument": "page",
            }
        },
    ),
    "not_found_after_last_page": (
        lambda data: numbered(data, missing=404),
        {
            "http": {
                "relativeURI": "/items?page={{export.http.paging.page}}",
                "response": {"resourcePath": "items"},
                "paging": {"method": "page", "page": 1},
            }
        },
    ),
    "graphql_post_body_cursor": (
        graphql,
        {
            "http": {
                "method": "POST",
                "relativeURI": "/graphql",
                "body": orjson.dumps({"query": GRAPHQL_QUERY}).decode(),
                "response": {"resourcePath": "data.products.nodes"},
                "paging": {
                    "method": "body",
                    "body": orjson.dumps(
                        {
                            "query": GRAPHQL_QUERY,
                            "variables": {
                                "after": "{{previous_page.full_response"
                                ".data.products.pageInfo.endCursor}}"
                            },
                        }
                    ).decode(),
                    "lastPagePath": "data.products.pageInfo.hasNextPage",
                    "lastPageValues": ["false"],
                },
            }
        },
    ),
    "token_in_response_header": (
        header_cursor,
        {
            "http": {
                "relativeURI": "/events",
                "headers": [{"name": "X-Cursor", "value": "{{{export.http.paging.token}}}"}],
                "paging": {"method": "token", "pathLocation": "header", "path": "X-Next-Cursor"},
            }
        },
    ),
}


def _records(n: int) -> list[dict[str, Any]]:
    return [{"id": i, "name": f"record {i}"} for i in range(1, n + 1)]


@pytest.mark.parametrize("n", [0, API_PAGE, 4 * API_PAGE + 3], ids=["none", "one_page", "many"])
@pytest.mark.parametrize("style", sorted(STYLES))
def test_every_paging_style_exports_each_record_once_in_order(style: str, n: int) -> None:
    api, export = STYLES[style]
    sent: list[PageRequest] = []
    send: Callable[[PageRequest], PageResponse] = api(_records(n))

    def recording_send(request: PageRequest) -> PageResponse:
        sent.append(request)
        return send(request)

    pages = list(iter_pages(export, {}, recording_send, page_size=PLATFORM_PAGE))

    assert [record["id"] for page in pages for record in page] == list(range(1, n + 1))
    assert all(len(page) == PLATFORM_PAGE for page in pages[:-1])
    assert len(sent) <= n // API_PAGE + 2  # no runaway requests


def test_platform_pages_default_to_the_exports_page_size() -> None:
    export = {"http": {"relativeURI": "/items"}, "pageSize": 4}
    pages = list(iter_pages(export, {}, lambda request: PageResponse(200, {}, _records(10))))
    assert [len(page) for page in pages] == [4, 4, 2]


def test_platform_pages_default_to_twenty_records() -> None:
    export = {"http": {"relativeURI": "/items", "paging": {"method": "linkheader"}}}
    pages = list(iter_pages(export, {}, github(_records(45))))
    assert [len(page) for page in pages] == [20, 20, 5]


def test_test_export_stops_after_its_limit_without_fetching_more_pages() -> None:
    sent: list[PageRequest] = []
    api = github(_records(50))

    def send(request: PageRequest) -> PageResponse:
        sent.append(request)
        return api(request)

    export = {
        "type": "test",
        "test": {"limit": 7},
        "http": {"relativeURI": "/items", "paging": {"method": "linkheader"}},
    }
    pages = list(iter_pages(export, {}, send, page_size=3))
    assert [[r["id"] for r in page] for page in pages] == [[1, 2, 3], [4, 5, 6], [7]]
    assert len(sent) == 2


def test_test_export_without_a_limit_returns_one_record() -> None:
    export = {"type": "test", "http": {"relativeURI": "/items"}}
    assert list(iter_pages(export, {}, github(_records(3)))) == [[_records(3)[0]]]


def test_delta_export_puts_last_export_date_time_in_the_uri_encoded() -> None:
    sent: list[PageRequest] = []

    def send(request: PageRequest) -> PageResponse:
        sent.append(request)
        return PageResponse(200, {}, [])

    export = {"http": {"relativeURI": "/orders?updated_since={{lastExportDateTime}}&q={{q}}"}}
    context = {"lastExportDateTime": "2024-01-31T09:30:00.000Z", "q": "a&b"}
    assert list(iter_pages(export, {}, send, context=context)) == []
    assert sent[0].url == "/orders?updated_since=2024-01-31T09%3A30%3A00.000Z&q=a%26b"


def test_headers_merge_connection_and_export_with_the_export_winning() -> None:
    sent: list[PageRequest] = []

    def send(request: PageRequest) -> PageResponse:
        sent.append(request)
        return PageResponse(200, {}, [])

    connection = {
        "http": {
            "headers": [
                {"name": "Accept", "value": "application/json"},
                {"name": "X-Version", "value": "1"},
            ]
        }
    }
    export = {"http": {"relativeURI": "/x", "headers": [{"name": "x-version", "value": "{{v}}"}]}}
    list(iter_pages(export, connection, send, context={"v": "2"}))
    assert sent[0].headers == {"Accept": "application/json", "x-version": "2"}


def test_legacy_query_and_post_body_are_rendered() -> None:
    sent: list[PageRequest] = []

    def send(request: PageRequest) -> PageResponse:
        sent.append(request)
        return PageResponse(200, {}, {"ok": True})

    export = {
        "rest": {
            "relativeURI": "/search",
            "method": "POST",
            "query": {"since": "{{lastExportDateTime}}"},
            "postBody": {"name": "{{who}}"},
        }
    }
    context = {"lastExportDateTime": "2024-01-01T00:00:00.000Z", "who": 'Ann "A"'}
    assert list(iter_pages(export, {}, send, context=context)) == [[{"ok": True}]]
    assert sent[0].query == {"since": "2024-01-01T00:00:00.000Z"}
    assert orjson.loads(sent[0].body or "") == {"name": 'Ann "A"'}


@pytest.mark.parametrize(
    ("body", "path", "expected"),
    [
        ([{"id": 1}, {"id": 2}], None, [{"id": 1}, {"id": 2}]),
        ({"id": 1}, None, [{"id": 1}]),
        ({"data": {"customer": {"id": 1}}}, "data.customer", [{"id": 1}]),
        ({"data": {"items": [{"id": 1}]}}, "data.items", [{"id": 1}]),
        ({"data": {}}, "data.items", []),
        ({"data": {"items": None}}, "data.items", []),
        ({"results": [{"rows": [{"id": 9}]}]}, "results.0.rows", [{"id": 9}]),
    ],
    ids=["bare_array", "object", "object_at_path", "array_at_path", "missing", "null", "index"],
)
def test_resource_path_picks_the_records(body: Any, path: str | None, expected: Any) -> None:
    export = {"http": {"relativeURI": "/x", "response": {"resourcePath": path}}}
    pages = list(iter_pages(export, {}, lambda request: PageResponse(200, {}, body)))
    assert [r for page in pages for r in page] == expected


def test_resource_path_holding_plain_values_is_a_clear_error() -> None:
    export = {"http": {"relativeURI": "/x", "response": {"resourcePath": "ids"}}}
    with pytest.raises(ExportError, match="resourcePath 'ids'"):
        list(iter_pages(export, {}, lambda request: PageResponse(200, {}, {"ids": [1, 2]})))


def test_fail_path_stops_the_export_with_status_and_body() -> None:
    export = {
        "http": {
            "relativeURI": "/x",
            "response": {
                "resourcePath": "items",
                "failPath": "status",
                "failValues": ["error"],
                "errorPath": "message",
            },
        }
    }
    body = {"status": "error", "message": "quota exceeded", "items": []}
    with pytest.raises(ExportError) as caught:
        list(iter_pages(export, {}, lambda request: PageResponse(200, {}, body)))
    assert caught.value.response_status == 200
    assert "quota exceeded" in str(caught.value)
    assert caught.value.snippet is not None and '"status":"error"' in caught.value.snippet


@pytest.mark.parametrize(("ok", "fails"), [(True, False), ("true", False), (False, True)])
def test_success_path_must_hold_a_success_value(ok: Any, fails: bool) -> None:
    export = {
        "http": {
            "relativeURI": "/x",
            "response": {"resourcePath": "items", "successPath": "ok", "successValues": ["true"]},
        }
    }
    body = {"ok": ok, "items": [{"id": 1}]}

    def run() -> list[list[dict[str, Any]]]:
        return list(iter_pages(export, {}, lambda request: PageResponse(200, {}, body)))

    if fails:
        with pytest.raises(ExportError, match="successPath 'ok'"):
            run()
    else:
        assert run() == [[{"id": 1}]]


def test_an_error_status_raises_with_the_status_and_a_body_snippet() -> None:
    send = lambda request: PageResponse(500, {}, {"error": "boom"})  # noqa: E731
    with pytest.raises(ExportError, match=re.escape('answered 500: {"error":"boom"}')) as caught:
        list(iter_pages({"http": {"relativeURI": "/x"}}, {}, send))
    assert caught.value.response_status == 500


def test_a_404_on_the_first_page_is_an_error_unless_configured_as_last_page() -> None:
    send = lambda request: PageResponse(404, {}, {"error": "no such path"})  # noqa: E731
    with pytest.raises(ExportError, match="answered 404"):
        list(iter_pages({"http": {"relativeURI": "/x"}}, {}, send))
    export = {
        "http": {"relativeURI": "/x", "paging": {"method": "page", "lastPageStatusCode": 404}}
    }
    assert list(iter_pages(export, {}, send)) == []


def test_a_next_url_pointing_back_to_the_same_page_raises_a_paging_loop_error() -> None:
    send = lambda request: PageResponse(  # noqa: E731
        200, {}, {"items": [{"id": 1}], "next": f"{BASE}/items?page=2"}
    )
    export = {
        "http": {
            "relativeURI": "/items",
            "response": {"resourcePath": "items"},
            "paging": {"method": "url", "path": "next"},
        }
    }
    with pytest.raises(PagingLoopError, match=r"same page twice \(GET https://api\.example"):
        list(iter_pages(export, {}, send))


def test_page_paging_without_the_page_in_the_uri_raises_instead_of_looping() -> None:
    send = lambda request: PageResponse(200, {}, [{"id": 1}])  # noqa: E731
    export = {"http": {"relativeURI": "/items", "paging": {"method": "page"}}}
    with pytest.raises(PagingLoopError, match=r"export\.http\.paging\.page"):
        list(iter_pages(export, {}, send))


def test_a_cursor_returned_twice_raises_a_paging_loop_error() -> None:
    cursors = iter(["c1", "c2", "c1"])
    send = lambda request: PageResponse(200, {}, {"items": [{"id": 1}], "next": next(cursors)})  # noqa: E731
    export = {
        "http": {
            "relativeURI": "/items?cursor={{export.http.paging.token}}",
            "response": {"resourcePath": "items"},
            "paging": {"method": "token", "path": "next"},
        }
    }
    with pytest.raises(PagingLoopError, match="paging token 'c1'"):
        list(iter_pages(export, {}, send))


def test_paging_resource_path_overrides_the_records_path_for_later_pages() -> None:
    bodies = iter(
        [
            {"first": [{"id": 1}], "more": "yes"},
            {"later": [{"id": 2}], "more": "yes"},
            {"later": [{"id": 3}], "done": True},
        ]
    )
    export = {
        "http": {
            "relativeURI": "/x?p={{export.http.paging.page}}",
            "response": {"resourcePath": "first"},
            "paging": {"method": "page", "resourcePath": "later", "lastPagePath": "done"},
        }
    }
    pages = list(iter_pages(export, {}, lambda request: PageResponse(200, {}, next(bodies))))
    assert pages == [[{"id": 1}, {"id": 2}, {"id": 3}]]


def test_later_page_templates_see_the_previous_pages_headers_in_lower_case() -> None:
    sent: list[PageRequest] = []

    def send(request: PageRequest) -> PageResponse:
        sent.append(request)
        if len(sent) == 1:
            return PageResponse(200, {"X-Continue": "t 2"}, [{"id": 1}])
        return PageResponse(200, {}, [])

    export = {
        "http": {
            "relativeURI": "/x",
            "paging": {
                "method": "relativeuri",
                "relativeURI": "/x?c={{previous_page.headers.x-continue}}",
            },
        }
    }
    assert list(iter_pages(export, {}, send)) == [[{"id": 1}]]
    assert [request.url for request in sent] == ["/x", "/x?c=t%202"]
