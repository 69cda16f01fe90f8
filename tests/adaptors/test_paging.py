"""Paging strategies on their own: settings, Link headers, cursors and the loop guards."""

from __future__ import annotations

from typing import Any

import pytest

from integrator.adaptors.http import iter_pages
from integrator.adaptors.http.pages import RequestGuard
from integrator.adaptors.http.paging import (
    PAGINATORS,
    LinkHeaderPaginator,
    PagePaginator,
    PageRequest,
    PageResponse,
    SkipPaginator,
    TokenPaginator,
    paginator_for,
    paging_settings,
)
from integrator.adaptors.http.records import ExportError, PagingLimitError, PagingLoopError


def test_every_modern_paging_method_has_a_strategy() -> None:
    methods = {"linkheader", "page", "skip", "token", "url", "relativeuri", "body"}
    assert methods <= set(PAGINATORS)


@pytest.mark.parametrize(
    ("rest", "expected"),
    [
        (
            {"pagingMethod": "nextpageurl", "nextPagePath": "next_page"},
            {"method": "url", "path": "next_page"},
        ),
        (
            {"pagingMethod": "pageargument", "pageArgument": "p"},
            {"method": "page", "page": 1, "pageArgument": "p"},
        ),
        (
            {"pagingMethod": "relativeuri", "nextPageRelativeURI": "/x?after={{id}}"},
            {"method": "relativeuri", "relativeURI": "/x?after={{id}}"},
        ),
        (
            {"pagingMethod": "linkheader", "maxPagePath": "pages"},
            {"method": "linkheader", "maxPagePath": "pages"},
        ),
        ({}, {}),
    ],
    ids=["nextpageurl", "pageargument", "relativeuri", "linkheader", "none"],
)
def test_legacy_paging_methods_map_onto_modern_ones(
    rest: dict[str, Any], expected: dict[str, Any]
) -> None:
    assert paging_settings({"rest": rest}) == expected


def test_modern_paging_settings_are_read_from_http_paging() -> None:
    paging = {"method": "token", "path": "next"}
    assert paging_settings({"http": {"paging": paging}}) == paging
    assert paging_settings({"http": {"relativeURI": "/x"}}) == {}


def test_unknown_paging_methods_are_rejected_with_their_name() -> None:
    with pytest.raises(ExportError, match="'cursor'"):
        paginator_for({"method": "cursor"})
    with pytest.raises(ExportError, match="'bogus'"):
        paging_settings({"rest": {"pagingMethod": "bogus"}})


@pytest.mark.parametrize(
    "paging",
    [{"method": "url"}, {"method": "token"}, {"method": "relativeuri"}, {"method": "body"}],
)
def test_methods_missing_their_companion_field_say_which_field(paging: dict[str, Any]) -> None:
    with pytest.raises(ExportError, match=r"http\.paging\.\w+"):
        paginator_for(paging)


@pytest.mark.parametrize(
    ("link", "relation", "expected"),
    [
        (
            '<https://a/x?page=2>; rel="next", <https://a/x?page=9>; rel="last"',
            "next",
            "https://a/x?page=2",
        ),
        (
            '<https://a/x?page=9>; rel="last", <https://a/x?page=2>; rel="next"',
            "next",
            "https://a/x?page=2",
        ),
        ("<https://a/p?page_info=abc>; rel=next", "next", "https://a/p?page_info=abc"),
        ('<https://a/y>; rel="prev next"', "next", "https://a/y"),
        ('<https://a/y>; type="text/html"; rel="next"', "next", "https://a/y"),
        ('<https://a/y>; rel="Next"', "next", None),
        ('<https://a/z>; rel="forward"', "forward", "https://a/z"),
        ('<https://a/x>; rel="last"', "next", None),
        ("", "next", None),
    ],
    ids=["first", "second", "unquoted", "multi", "params", "case", "custom", "none", "empty"],
)
def test_link_header_finds_the_configured_relation(
    link: str, relation: str, expected: str | None
) -> None:
    assert LinkHeaderPaginator.find(link, relation) == expected


def test_link_header_next_request_replaces_url_and_query() -> None:
    paginator = LinkHeaderPaginator({"method": "linkheader"})
    response = PageResponse(200, {"LINK": '<https://a/x?page=2>; rel="next"'}, [])
    assert paginator.update_state(response, [])
    request = PageRequest(url="/x", query={"page": "1"}, headers={"A": "b"})
    assert paginator.update_request(request) == PageRequest(
        url="https://a/x?page=2", headers={"A": "b"}
    )


def test_page_paging_counts_from_the_start_and_stops_on_an_empty_page() -> None:
    paginator = PagePaginator({"method": "page", "page": 1, "pageArgument": "p"})
    assert paginator.first_request(PageRequest(url="/x")).query == {"p": "1"}
    assert paginator.update_state(PageResponse(), [{"id": 1}])
    assert paginator.state() == {"page": 2}
    assert paginator.update_request(PageRequest(url="/x")) == PageRequest(
        url="/x", query={"p": "2"}
    )
    assert not paginator.update_state(PageResponse(), [])


def test_skip_paging_counts_the_records_each_page_held() -> None:
    paginator = SkipPaginator({"method": "skip", "skip": 10})
    assert paginator.state() == {"skip": 10}
    assert paginator.update_state(PageResponse(), [{"id": 1}, {"id": 2}])
    assert paginator.state() == {"skip": 12}
    assert not paginator.update_state(PageResponse(), [])


def test_token_paging_reads_a_different_path_after_the_first_request() -> None:
    paginator = TokenPaginator(
        {"method": "token", "path": "meta.next", "pathAfterFirstRequest": "next", "token": "0"}
    )
    assert paginator.state() == {"token": "0"}
    assert paginator.update_state(PageResponse(body={"meta": {"next": "a"}}), [])
    assert paginator.state() == {"token": "a"}
    assert paginator.update_state(PageResponse(body={"next": "b"}), [])
    assert not paginator.update_state(PageResponse(body={"next": None}), [])


def test_token_paging_rejects_a_cursor_seen_before_naming_it() -> None:
    paginator = TokenPaginator({"method": "token", "path": "X-Cursor", "pathLocation": "header"})
    assert paginator.update_state(PageResponse(headers={"x-cursor": "abc"}), [])
    with pytest.raises(PagingLoopError, match="'abc'"):
        paginator.update_state(PageResponse(headers={"X-Cursor": "abc"}), [])


def test_request_guard_rejects_the_same_request_twice() -> None:
    guard = RequestGuard()
    guard.check(PageRequest(url="/x", query={"a": "1"}))
    guard.check(PageRequest(url="/x", query={"a": "2"}))
    guard.check(PageRequest(url="/x", headers={"X-Cursor": "2"}))
    guard.check(PageRequest(method="POST", url="/x", body='{"after": "1"}'))
    guard.check(PageRequest(method="POST", url="/x", body='{"after": "2"}'))
    with pytest.raises(PagingLoopError, match=r"same page twice \(POST /x with body"):
        guard.check(PageRequest(method="POST", url="/x", body='{"after": "1"}'))


def test_request_guard_caps_the_number_of_pages() -> None:
    guard = RequestGuard(max_pages=3)
    for page in range(3):
        guard.check(PageRequest(url=f"/x?page={page}"))
    with pytest.raises(PagingLimitError, match="3 API pages"):
        guard.check(PageRequest(url="/x?page=4"))


def test_iter_pages_stops_at_the_page_cap() -> None:
    calls = iter(range(1, 10**6))

    def send(request: PageRequest) -> PageResponse:
        page = next(calls)
        return PageResponse(200, {}, {"items": [{"id": page}], "next": f"/x?page={page + 1}"})

    export = {
        "http": {
            "relativeURI": "/x",
            "response": {"resourcePath": "items"},
            "paging": {"method": "url", "path": "next"},
        }
    }
    with pytest.raises(PagingLimitError):
        list(iter_pages(export, {}, send, max_pages=50))
