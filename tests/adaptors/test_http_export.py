"""HTTP exports over real HTTP: the page walker and the connection client against the fake
SaaS app, for every paging style, with injected 429s and 500s."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson
import pytest
import stamina

from fakes import FakeSaas
from integrator.adaptors.http.client import ConnectionClient, DebugLog
from integrator.adaptors.http.export import export_pages
from integrator.adaptors.http.records import PagingLoopError

GRAPHQL = "query($first:Int,$after:String){items(first:$first,after:$after){nodes{id}}}"

STYLES: dict[str, dict[str, Any]] = {
    "github_link_header": {
        "http": {"relativeURI": "/github/items?per_page=100", "paging": {"method": "linkheader"}}
    },
    "shopify_page_info_link": {
        "http": {
            "relativeURI": "/shopify/items.json?limit=100",
            "response": {"resourcePath": "items"},
            "paging": {"method": "linkheader"},
        }
    },
    "stripe_starting_after": {
        "http": {
            "relativeURI": "/stripe/items?limit=100",
            "response": {"resourcePath": "data"},
            "paging": {
                "method": "relativeuri",
                "relativeURI": "/stripe/items?limit=100"
                "&starting_after={{previous_page.last_record.id}}",
                "lastPagePath": "has_more",
                "lastPageValues": ["false"],
            },
        }
    },
    "hubspot_after_token": {
        "http": {
            "relativeURI": "/hubspot/items?limit=100&after={{export.http.paging.token}}",
            "response": {"resourcePath": "results"},
            "paging": {"method": "token", "path": "paging.next.after"},
        }
    },
    "zendesk_next_page_legacy": {
        "rest": {
            "relativeURI": "/zendesk/items.json?per_page=100",
            "resourcePath": "items",
            "pagingMethod": "nextpageurl",
            "nextPagePath": "next_page",
        }
    },
    "salesforce_next_records_url": {
        "http": {
            "relativeURI": "/salesforce/query?q=SELECT+Id+FROM+Item",
            "response": {"resourcePath": "records"},
            "paging": {"method": "url", "path": "nextRecordsUrl"},
        }
    },
    "offset_limit_total": {
        "http": {
            "relativeURI": "/offset/items?offset={{export.http.paging.skip}}&limit=100",
            "response": {"resourcePath": "data"},
            "paging": {"method": "skip", "maxCountPath": "total"},
        }
    },
    "skip_take": {
        "http": {
            "relativeURI": "/skip/items?skip={{export.http.paging.skip}}&take=100",
            "response": {"resourcePath": "data"},
            "paging": {"method": "skip"},
        }
    },
    "page_numbers": {
        "http": {
            "relativeURI": "/pages/items?page={{export.http.paging.page}}&pageSize=100",
            "response": {"resourcePath": "items"},
            "paging": {"method": "page", "page": 1, "maxPagePath": "totalPages"},
        }
    },
    "page_404_after_last": {
        "http": {
            "relativeURI": "/pages404/items?page={{export.http.paging.page}}&pageSize=100",
            "response": {"resourcePath": "items"},
            "paging": {"method": "page", "page": 1},
        }
    },
    "graphql_body_cursor": {
        "http": {
            "method": "POST",
            "relativeURI": "/graphql",
            "body": orjson.dumps({"query": GRAPHQL, "variables": {"first": 100}}).decode(),
            "response": {"resourcePath": "data.items.nodes"},
            "paging": {
                "method": "body",
                "body": orjson.dumps(
                    {
                        "query": GRAPHQL,
                        "variables": {
                            "first": 100,
                            "after": "{{previous_page.full_response"
                            ".data.items.pageInfo.endCursor}}",
                        },
                    }
                ).decode(),
                "lastPagePath": "data.items.pageInfo.hasNextPage",
                "lastPageValues": ["false"],
            },
        }
    },
    "token_in_headers": {
        "http": {
            "relativeURI": "/token-header/items?limit=100",
            "headers": [{"name": "X-Page-Token", "value": "{{export.http.paging.token}}"}],
            "paging": {"method": "token", "pathLocation": "header", "path": "X-Next-Page-Token"},
        }
    },
}


@pytest.fixture(autouse=True)
def fast_backoff() -> Iterator[None]:
    stamina.set_testing(True, attempts=100, cap=True)
    yield
    stamina.set_testing(False)


def connection_for(fake: FakeSaas) -> dict[str, Any]:
    return {
        "_id": "c" * 24,
        "type": "http",
        "http": {"baseURI": fake.base_url, "mediaType": "json"},
    }


def exported_ids(export: dict[str, Any], fake: FakeSaas, **kwargs: Any) -> list[int]:
    pages = list(export_pages({**export, "pageSize": 40}, connection_for(fake), **kwargs))
    assert all(len(page) == 40 for page in pages[:-1])
    return [record["id"] for page in pages for record in page]


@pytest.mark.parametrize("count", [0, 100, 357])
@pytest.mark.parametrize("style", sorted(STYLES))
def test_every_paging_style_exports_exactly_the_source(style: str, count: int) -> None:
    with FakeSaas.running(records=count, page_size=100) as fake:
        assert exported_ids(STYLES[style], fake) == list(range(1, count + 1))
        assert not fake.errors


def test_throttled_and_flaky_source_still_exports_everything_and_logs_retries() -> None:
    with FakeSaas.running(records=1500, page_size=100, seed=3) as fake:
        fake.fail_rate_429 = 0.2
        fake.fail_rate_500 = 0.05
        debug = DebugLog()
        client = ConnectionClient(connection_for(fake), debug=debug, sleep=lambda _: None)
        with client:
            ids = exported_ids(STYLES["stripe_starting_after"], fake, client=client)
        assert ids == list(range(1, 1501))
        statuses = [request.status for request in fake.requests]
        assert statuses.count(429) > 0 and statuses.count(500) > 0
        retries = [entry for entry in debug.entries() if entry.get("retry")]
        assert len(retries) == statuses.count(429) + statuses.count(500)


def test_an_api_that_repeats_its_next_link_stops_with_a_clear_error() -> None:
    with FakeSaas.running(records=50, page_size=10) as fake:
        export = {"http": {"relativeURI": "/broken/repeat", "paging": {"method": "linkheader"}}}
        with pytest.raises(PagingLoopError) as caught:
            list(export_pages(export, connection_for(fake)))
        assert "page=2" in str(caught.value.message)
