"""The fake SaaS app behaves like the APIs it imitates: every paging style yields each record
exactly once, failures fire at the configured rate and reproducibly, and auth and CRUD keep state.

The client here is a few lines of http.client on purpose: the fake must be checked independently
of the HTTP adaptor it exists to test."""

from __future__ import annotations

import base64
import json
import re
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlencode

import pytest

from fakes.client import Client, next_link, ok
from fakes.saas import FakeSaas, fake_saas

__all__ = ["fake_saas"]  # the fixture, imported so pytest finds it

PAGE = 10


def walk(first: Any, step: Callable[[Any], tuple[list[dict[str, Any]], Any]]) -> list[int]:
    """Follow `step` from `first` until it returns no next state; collect record ids."""
    ids: list[int] = []
    state = first
    for _ in range(1000):
        records, state = step(state)
        ids += [r["id"] for r in records]
        if state is None:
            return ids
    raise AssertionError("paging never ended")


def walk_style(style: str, fake: FakeSaas) -> list[int]:
    client = Client(fake)

    def by_link(url: str) -> tuple[list[dict[str, Any]], Any]:
        headers, body = ok(client.get(url))
        return body if isinstance(body, list) else body["items"], next_link(headers)

    def stripe(after: str) -> tuple[list[dict[str, Any]], Any]:
        query = f"&starting_after={after}" if after else ""
        _, body = ok(client.get(f"/stripe/items?limit={PAGE}{query}"))
        return body["data"], str(body["data"][-1]["id"]) if body["has_more"] else None

    def hubspot(after: str) -> tuple[list[dict[str, Any]], Any]:
        _, body = ok(client.get(f"/hubspot/items?limit={PAGE}&after={after}"))
        return body["results"], body.get("paging", {}).get("next", {}).get("after")

    def zendesk(url: str) -> tuple[list[dict[str, Any]], Any]:
        _, body = ok(client.get(url))
        assert body["count"] == len(fake.records)
        return body["items"], body["next_page"]

    def salesforce(url: str) -> tuple[list[dict[str, Any]], Any]:
        _, body = ok(client.get(url))
        return body["records"], None if body["done"] else body["nextRecordsUrl"]

    def offset(start: int) -> tuple[list[dict[str, Any]], Any]:
        _, body = ok(client.get(f"/offset/items?offset={start}&limit={PAGE}"))
        end = start + len(body["data"])
        return body["data"], end if end < body["total"] else None

    def skip(start: int) -> tuple[list[dict[str, Any]], Any]:
        _, body = ok(client.get(f"/skip/items?skip={start}&take={PAGE}"))
        return body["data"], start + PAGE if len(body["data"]) == PAGE else None

    def pages(page: int) -> tuple[list[dict[str, Any]], Any]:
        _, body = ok(client.get(f"/pages/items?page={page}&pageSize={PAGE}"))
        return body["items"], page + 1 if page < body["totalPages"] else None

    def pages404(page: int) -> tuple[list[dict[str, Any]], Any]:
        status, _, body = client.get(f"/pages404/items?page={page}&pageSize={PAGE}")
        if status == 404:
            assert body == {"error": "not found"}
            return [], None
        assert status == 200
        return body["items"], page + 1

    def graphql(after: str | None) -> tuple[list[dict[str, Any]], Any]:
        query = {"query": "query($first:Int,$after:String){items(first:$first,after:$after){...}}"}
        payload = {**query, "variables": {"first": PAGE, "after": after}}
        _, body = ok(client.request("POST", "/graphql", body=payload))
        connection = body["data"]["items"]
        info = connection["pageInfo"]
        return connection["nodes"], info["endCursor"] if info["hasNextPage"] else None

    def token_header(token: str) -> tuple[list[dict[str, Any]], Any]:
        headers, body = ok(
            client.get(f"/token-header/items?limit={PAGE}", headers={"X-Page-Token": token})
        )
        return body, headers.get("X-Next-Page-Token")

    def token_query(token: str) -> tuple[list[dict[str, Any]], Any]:
        headers, body = ok(client.get(f"/token-header/items?limit={PAGE}&pageToken={token}"))
        return body, headers.get("X-Next-Page-Token")

    starts: dict[str, tuple[Any, Callable[[Any], tuple[list[dict[str, Any]], Any]]]] = {
        "github": (f"/github/items?per_page={PAGE}", by_link),
        "shopify": (f"/shopify/items.json?limit={PAGE}", by_link),
        "stripe": ("", stripe),
        "hubspot": ("", hubspot),
        "zendesk": (f"/zendesk/items.json?per_page={PAGE}", zendesk),
        "salesforce": ("/salesforce/query?q=SELECT+Id+FROM+Item", salesforce),
        "offset": (0, offset),
        "skip": (0, skip),
        "pages": (1, pages),
        "pages404": (1, pages404),
        "graphql": (None, graphql),
        "token-header": ("", token_header),
        "token-query": ("", token_query),
    }
    first, step = starts[style]
    return walk(first, step)


STYLES = [
    "github",
    "shopify",
    "stripe",
    "hubspot",
    "zendesk",
    "salesforce",
    "offset",
    "skip",
    "pages",
    "pages404",
    "graphql",
    "token-header",
    "token-query",
]


@pytest.fixture(scope="module")
def fakes_by_size() -> Iterator[dict[int, FakeSaas]]:
    sizes = [0, 1, PAGE, 3 * PAGE + 7]
    fakes = [FakeSaas(n, page_size=PAGE, max_page_size=50) for n in sizes]
    for fake in fakes:
        fake.start()
    yield dict(zip(sizes, fakes, strict=True))
    for fake in fakes:
        assert fake.errors == []
        fake.stop()


@pytest.mark.parametrize("records", [0, 1, PAGE, 3 * PAGE + 7])
@pytest.mark.parametrize("style", STYLES)
def test_every_paging_style_returns_each_record_exactly_once(
    fakes_by_size: dict[int, FakeSaas], style: str, records: int
) -> None:
    assert walk_style(style, fakes_by_size[records]) == list(range(1, records + 1))


def test_records_have_ids_names_emails_and_increasing_update_times() -> None:
    fake = FakeSaas(3)
    assert [r["id"] for r in fake.records] == [1, 2, 3]
    assert fake.records[0]["email"] == "customer1@example.com"
    times = [r["updated_at"] for r in fake.records]
    assert times == sorted(times) and len(set(times)) == 3
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", times[0])


def test_last_page_has_no_next_link(fake_saas: FakeSaas) -> None:
    client = Client(fake_saas)
    headers, body = ok(client.get("/github/items?per_page=100&page=3"))
    assert [r["id"] for r in body] == list(range(201, 251))
    assert next_link(headers) is None
    assert 'rel="prev"' in headers["Link"]
    headers, _ = ok(client.get("/github/items?per_page=100"))
    assert 'page=3>; rel="last"' in headers["Link"]


def test_page_size_defaults_to_the_fake_page_size_and_is_capped() -> None:
    with FakeSaas.running(records=120, page_size=7, max_page_size=30) as fake:
        client = Client(fake)
        assert len(ok(client.get("/offset/items"))[1]["data"]) == 7
        assert len(ok(client.get("/offset/items?limit=1000"))[1]["data"]) == 30
        assert client.get("/offset/items?limit=0")[0] == 400
        assert client.get("/offset/items?limit=ten")[0] == 400


def test_shopify_rejects_other_parameters_next_to_page_info(fake_saas: FakeSaas) -> None:
    client = Client(fake_saas)
    url = next_link(ok(client.get("/shopify/items.json?limit=5&status=any"))[0])
    assert url is not None and "status" not in url
    assert client.get(url + "&status=any")[0] == 400
    assert client.get("/shopify/items.json?page_info=garbage")[0] == 400


def test_stripe_rejects_an_unknown_starting_after(fake_saas: FakeSaas) -> None:
    status, _, body = Client(fake_saas).get("/stripe/items?starting_after=9999")
    assert status == 400 and body["error"]["code"] == "resource_missing"


def test_salesforce_honours_batch_size_and_rejects_unknown_locators(fake_saas: FakeSaas) -> None:
    client = Client(fake_saas)
    options = {"Sforce-Query-Options": "batchSize=200"}
    _, body = ok(client.get("/salesforce/query?q=SELECT+Id", headers=options))
    assert len(body["records"]) == 200 and body["nextRecordsUrl"].endswith("-200")
    assert body["nextRecordsUrl"].startswith("/salesforce/query/")
    status, _, body = client.get("/salesforce/query/nope-100")
    assert status == 400 and body[0]["errorCode"] == "INVALID_QUERY_LOCATOR"
    assert client.get("/salesforce/query")[0] == 400


def test_delta_filter_includes_since_and_excludes_before(fake_saas: FakeSaas) -> None:
    since, before = fake_saas.records[9]["updated_at"], fake_saas.records[19]["updated_at"]
    query = urlencode({"updated_since": since, "updated_before": before, "limit": 100})
    _, body = ok(Client(fake_saas).get(f"/offset/items?{query}"))
    assert [r["id"] for r in body["data"]] == list(range(10, 20))
    assert body["total"] == 10


def test_broken_endpoints_repeat_the_same_page_and_next_link_forever(fake_saas: FakeSaas) -> None:
    client = Client(fake_saas)
    first_headers, first = ok(client.get("/broken/repeat?page=1"))
    again_headers, again = ok(client.get(next_link(first_headers) or ""))
    assert first == again and next_link(first_headers) == next_link(again_headers)
    _, one = ok(client.get("/broken/same-cursor"))
    _, two = ok(client.get(f"/broken/same-cursor?cursor={one['next_cursor']}"))
    assert one == two and one["next_cursor"] == "same"


def test_rate_limit_failures_fire_at_roughly_the_configured_rate() -> None:
    with FakeSaas.running(fail_rate_429=0.3, seed=1) as fake:
        client = Client(fake)
        statuses = [client.get("/ping")[0] for _ in range(400)]
        assert 0.2 < statuses.count(429) / 400 < 0.4
        assert set(statuses) == {200, 429}
        fake.fail_next(429)
        assert client.get("/ping")[1]["Retry-After"] == "0"


def test_server_errors_fire_at_roughly_the_configured_rate() -> None:
    with FakeSaas.running(fail_rate_500=0.2, seed=2) as fake:
        client = Client(fake)
        statuses = [client.get("/ping")[0] for _ in range(400)]
        assert 0.12 < statuses.count(500) / 400 < 0.28


def test_failures_are_the_same_for_the_same_seed() -> None:
    def statuses(seed: int) -> list[int]:
        with FakeSaas.running(fail_rate_429=0.2, fail_rate_500=0.2, seed=seed) as fake:
            client = Client(fake)
            return [client.get("/ping")[0] for _ in range(50)]

    assert statuses(7) == statuses(7)
    assert statuses(7) != statuses(8)


def test_retry_after_value_and_header_name_are_configurable(fake_saas: FakeSaas) -> None:
    fake_saas.retry_after, fake_saas.retry_after_header = 2, "X-Retry-In"
    fake_saas.fail_next(429)
    status, headers, _ = Client(fake_saas).get("/ping")
    assert status == 429 and headers["X-Retry-In"] == "2" and "Retry-After" not in headers


def test_fail_next_answers_exactly_that_many_requests_with_the_status(fake_saas: FakeSaas) -> None:
    fake_saas.fail_next(503, count=2)
    client = Client(fake_saas)
    assert [client.get("/ping")[0] for _ in range(3)] == [503, 503, 200]


def test_delay_seconds_slows_every_answer(fake_saas: FakeSaas) -> None:
    fake_saas.delay_seconds = 0.05
    started = time.perf_counter()
    ok(Client(fake_saas).get("/ping"))
    assert time.perf_counter() - started >= 0.05


def test_keep_alive_responses_are_not_delayed_by_nagle(fake_saas: FakeSaas) -> None:
    client = Client(fake_saas)
    started = time.perf_counter()
    for page in range(1, 201):
        ok(client.get(f"/pages/items?page={page % 3 + 1}"))
    # 40 ms per response (Nagle + delayed ACK) would take 8 s.
    assert time.perf_counter() - started < 2


def test_request_log_records_what_was_sent_and_answered(fake_saas: FakeSaas) -> None:
    client = Client(fake_saas)
    client.request("POST", "/api/customers?x=1", body={"email": "a@b.c"}, headers={"X-Trace": "t"})
    client.get("/nowhere")
    first, second = fake_saas.requests
    assert (first.method, first.path, first.query, first.status) == (
        "POST",
        "/api/customers",
        {"x": "1"},
        201,
    )
    assert first.headers["x-trace"] == "t" and json.loads(first.body) == {"email": "a@b.c"}
    assert (second.path, second.status) == ("/nowhere", 404)


def test_ping_and_ping_fail(fake_saas: FakeSaas) -> None:
    client = Client(fake_saas)
    assert ok(client.get("/ping"))[1] == {"ok": True}
    assert ok(client.get("/ping-fail"))[1] == {"ok": False}
    assert client.request("POST", "/ping")[0] == 405


def test_required_token_is_accepted_in_the_header_or_the_query(fake_saas: FakeSaas) -> None:
    fake_saas.require_token = True
    client = Client(fake_saas)
    status, headers, _ = client.get("/stripe/items")
    assert status == 401 and headers["WWW-Authenticate"] == "Bearer"
    assert client.get("/stripe/items", headers={"Authorization": "Bearer test-token"})[0] == 200
    assert client.get("/stripe/items?access_token=test-token")[0] == 200
    status, _, body = client.get("/stripe/items?access_token=wrong")
    assert status == 401 and body["error"] == "invalid_token"


def test_basic_auth_checks_user_and_password(fake_saas: FakeSaas) -> None:
    fake_saas.basic_auth = ("user", "pass")
    client = Client(fake_saas)

    def basic(user: str, password: str) -> dict[str, str]:
        return {
            "Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
        }

    assert client.get("/ping", headers=basic("user", "pass"))[0] == 200
    assert client.get("/ping", headers=basic("user", "nope"))[0] == 401
    assert client.get("/ping")[0] == 401


def test_oauth_client_credentials_then_refresh_tokens_rotate(fake_saas: FakeSaas) -> None:
    fake_saas.require_token = True
    client = Client(fake_saas)
    credentials = {"client_id": "client-id", "client_secret": "client-secret"}
    _, first = ok(
        client.request(
            "POST", "/oauth/token", form={"grant_type": "client_credentials", **credentials}
        )
    )
    assert first["token_type"] == "Bearer" and first["expires_in"] == 3600
    bearer = {"Authorization": f"Bearer {first['access_token']}"}
    assert client.get("/ping", headers=bearer)[0] == 200

    refresh = {
        "grant_type": "refresh_token",
        "refresh_token": first["refresh_token"],
        **credentials,
    }
    _, second = ok(client.request("POST", "/oauth/token", form=refresh))
    assert second["refresh_token"] != first["refresh_token"]
    status, _, body = client.request("POST", "/oauth/token", form=refresh)
    assert (status, body) == (400, {"error": "invalid_grant"})

    fake_saas.expire_tokens()
    status, _, body = client.get("/ping", headers=bearer)
    assert status == 401 and body["error"] == "invalid_token"


def test_access_tokens_expire_after_the_ttl(fake_saas: FakeSaas) -> None:
    fake_saas.require_token, fake_saas.token_ttl_seconds = True, 0.05
    client = Client(fake_saas)
    form = {
        "grant_type": "client_credentials",
        "client_id": "client-id",
        "client_secret": "client-secret",
    }
    _, token = ok(client.request("POST", "/oauth/token", form=form))
    bearer = {"Authorization": f"Bearer {token['access_token']}"}
    assert client.get("/ping", headers=bearer)[0] == 200
    time.sleep(0.06)
    assert client.get("/ping", headers=bearer)[0] == 401


def test_oauth_rejects_bad_clients_and_unknown_grants(fake_saas: FakeSaas) -> None:
    client = Client(fake_saas)
    bad = {"grant_type": "client_credentials", "client_id": "client-id", "client_secret": "x"}
    assert client.request("POST", "/oauth/token", form=bad)[2] == {"error": "invalid_client"}
    basic = "Basic " + base64.b64encode(b"client-id:client-secret").decode()
    status, _, body = client.request(
        "POST", "/oauth/token", form={"grant_type": "password"}, headers={"Authorization": basic}
    )
    assert (status, body) == (400, {"error": "unsupported_grant_type"})


def test_customers_can_be_created_looked_up_and_updated(fake_saas: FakeSaas) -> None:
    client = Client(fake_saas)
    new = {"email": "ada@example.com", "name": "Ada", "ns_id": "42"}
    status, _, created = client.request("POST", "/api/customers", body=new)
    assert status == 201 and created["id"] == 1 and created["name"] == "Ada"
    assert ok(client.get("/api/customers?email=ada@example.com"))[1] == [created]
    assert ok(client.get("/api/customers?ns_id=42"))[1][0]["id"] == 1
    assert ok(client.get("/api/customers?email=nobody@example.com"))[1] == []

    status, _, updated = client.request("PUT", "/api/customers/1", body={"name": "Ada L."})
    assert status == 200 and updated["name"] == "Ada L." and updated["email"] == new["email"]
    assert ok(client.get("/api/customers/1"))[1]["name"] == "Ada L."
    assert client.request("PUT", "/api/customers/99", body={"name": "x"})[0] == 404
    assert client.get("/api/customers/99")[0] == 404
    assert fake_saas.customers[1]["name"] == "Ada L."


def test_invalid_customers_get_422_with_messages(fake_saas: FakeSaas) -> None:
    client = Client(fake_saas)
    status, _, body = client.request("POST", "/api/customers", body={"name": "No email"})
    assert status == 422 and body["errors"][0]["message"] == "email is required"
    client.request("POST", "/api/customers", body={"email": "a@example.com"})
    status, _, body = client.request("POST", "/api/customers", body={"email": "a@example.com"})
    assert status == 422 and "already taken" in body["errors"][0]["message"]
    assert client.request("POST", "/api/customers", body=[1])[0] == 422


def test_batch_returns_one_result_per_item_in_order(fake_saas: FakeSaas) -> None:
    client = Client(fake_saas)
    client.request("POST", "/api/customers", body={"email": "old@example.com"})
    items = [
        {"email": "b@example.com"},
        {"name": "no email"},
        {"id": 1, "name": "Renamed"},
        {"id": 77, "name": "missing"},
    ]
    _, results = ok(client.request("POST", "/api/customers/batch", body=items))
    assert [r["statusCode"] for r in results] == [201, 422, 200, 404]
    assert results[0]["id"] == 2 and results[2]["id"] == 1
    assert fake_saas.customers[1]["name"] == "Renamed"


def test_marking_items_exported_removes_them_from_the_unexported_list(fake_saas: FakeSaas) -> None:
    client = Client(fake_saas)
    assert ok(client.request("PUT", "/api/items/2/exported"))[1] == {"id": 2, "exported": True}
    headers, rows = ok(client.get("/api/items?exported=false&limit=3"))
    assert [r["id"] for r in rows] == [1, 3, 4] and headers["X-Total-Count"] == "249"
    assert [r["id"] for r in ok(client.get("/api/items?exported=true"))[1]] == [2]
    assert client.request("PUT", "/api/items/999/exported")[0] == 404


def test_unknown_paths_are_404(fake_saas: FakeSaas) -> None:
    assert Client(fake_saas).get("/nope")[0] == 404


def test_concurrent_clients_each_see_every_record() -> None:
    with FakeSaas.running(records=3 * PAGE + 7, page_size=PAGE) as fake:
        with ThreadPoolExecutor(max_workers=8) as pool:
            walks = list(pool.map(lambda style: walk_style(style, fake), STYLES))
        assert walks == [list(range(1, 3 * PAGE + 8))] * len(STYLES)
        assert fake.errors == []


def test_next_links_keep_the_access_token_when_auth_is_in_the_query(fake_saas: FakeSaas) -> None:
    fake_saas.require_token = True
    client = Client(fake_saas)
    url: str | None = "/shopify/items.json?limit=100&access_token=test-token"
    pages = 0
    while url:
        headers, _ = ok(client.get(url))
        url, pages = next_link(headers), pages + 1
    assert pages == 3


def test_chunked_request_bodies_are_read(fake_saas: FakeSaas) -> None:
    connection = Client(fake_saas).connection
    body = b'{"email": "chunked@example.com"}'
    connection.request(
        "POST", "/api/customers", body=iter([body]), headers={"Content-Type": "application/json"}
    )
    assert connection.getresponse().status == 201
    assert fake_saas.customers[1]["email"] == "chunked@example.com"
