"""OAuth refresh is single-flight across processes sharing a Redis: two clients of one
connection (as two worker processes would hold) with rotating refresh tokens send one refresh
request between them, and neither gets invalid_grant."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import httpx2
import pytest

from fakes import FakeSaas
from integrator.adaptors.http.auth import TokenSet
from integrator.adaptors.http.client import ConnectionClient
from integrator.adaptors.http.refresh import REFRESHES
from integrator.ids import new_object_id

from conftest import require_redis

REDIS_URL = "redis://127.0.0.1:6379/4"


@pytest.fixture
def fake() -> Iterator[FakeSaas]:
    with FakeSaas.running(records=10, require_token=True) as server:
        server.static_tokens = set()
        yield server


@pytest.fixture
def stored() -> Iterator[dict[str, tuple[str | None, str | None]]]:
    """The "database" every process stores renewed tokens in and reads them from."""
    require_redis(REDIS_URL)
    tokens: dict[str, tuple[str | None, str | None]] = {}
    REFRESHES.share_through(REDIS_URL, tokens.get)
    yield tokens
    REFRESHES.share_through(None, None)


def connection_with_tokens(fake: FakeSaas) -> dict[str, Any]:
    answer = httpx2.post(
        f"{fake.base_url}/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": "client-id",
            "client_secret": "client-secret",
        },
    ).json()
    return {
        "_id": new_object_id(),
        "type": "http",
        "http": {
            "baseURI": fake.base_url,
            "mediaType": "json",
            "auth": {
                "type": "oauth",
                "oauth": {
                    "tokenURI": f"{fake.base_url}/oauth/token",
                    "clientId": "client-id",
                    "clientSecret": "client-secret",
                },
                "token": {"token": answer["access_token"], "refreshToken": answer["refresh_token"]},
            },
        },
    }


def token_requests(fake: FakeSaas) -> list[int]:
    return [r.status for r in fake.requests if r.path == "/oauth/token"]


def test_two_processes_refresh_a_rotating_token_once(
    fake: FakeSaas, stored: dict[str, tuple[str | None, str | None]]
) -> None:
    connection = connection_with_tokens(fake)
    token = connection["http"]["auth"]["token"]
    stored[connection["_id"]] = (token["token"], token["refreshToken"])

    def keep(tokens: TokenSet) -> None:
        stored[connection["_id"]] = (tokens.access_token, tokens.refresh_token)

    clients = [ConnectionClient(connection, on_token=keep) for _ in range(2)]
    for client in clients:
        assert client.request("GET", "/ping").status_code == 200
    fake.expire_tokens()
    before = len(token_requests(fake))
    statuses: list[int] = []
    barrier = threading.Barrier(8)

    def call(client: ConnectionClient) -> None:
        barrier.wait()
        statuses.append(client.request("GET", "/ping").status_code)

    threads = [threading.Thread(target=call, args=(c,)) for c in clients for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    for client in clients:
        client.close()
    assert statuses == [200] * 8
    assert token_requests(fake)[before:] == [200]  # one refresh, no invalid_grant
    assert sum(getattr(c.auth, "refresh_count", 0) for c in clients) == 1


def test_tokens_adopted_after_they_expired_are_refreshed_within_the_request(
    fake: FakeSaas, stored: dict[str, tuple[str | None, str | None]]
) -> None:
    """Process B adopts the tokens process A stored; when those expired before B used them,
    B's request re-authenticates once more (a real refresh) instead of failing."""
    connection = connection_with_tokens(fake)
    token = connection["http"]["auth"]["token"]
    stored[connection["_id"]] = (token["token"], token["refreshToken"])

    def keep(tokens: TokenSet) -> None:
        stored[connection["_id"]] = (tokens.access_token, tokens.refresh_token)

    first, second = (ConnectionClient(connection, on_token=keep) for _ in range(2))
    fake.expire_tokens()
    assert first.request("GET", "/ping").status_code == 200  # A refreshes and stores
    fake.expire_tokens()  # ...and A's new token expires before B ever uses it
    before = len(token_requests(fake))
    assert second.request("GET", "/ping").status_code == 200  # B adopts, then refreshes
    assert token_requests(fake)[before:] == [200]  # with A's refresh token: no invalid_grant
    assert getattr(second.auth, "refresh_count", 0) == 1
    for client in (first, second):
        client.close()
