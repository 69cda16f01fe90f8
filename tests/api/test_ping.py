"""Pinging connections against the fake SaaS app: `{"code": 200}` or an envelope that says why;
a failure sets the connection offline and a success clears it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from fakes import FakeSaas

from conftest import Api


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeSaas]:
    with FakeSaas.running(records=5) as server:
        server.static_tokens = {"good-token"}
        yield server


def http_connection(fake: FakeSaas, ping_uri: str, token: str = "good-token") -> dict[str, Any]:
    return {
        "name": "Fake SaaS",
        "type": "http",
        "http": {
            "baseURI": fake.base_url,
            "mediaType": "json",
            "auth": {"type": "token", "token": {"token": token, "location": "header"}},
            "ping": {"relativeURI": ping_uri, "successPath": "ok", "successValues": ["true"]},
        },
    }


def test_a_working_connection_answers_code_200(api: Api, fake: FakeSaas) -> None:
    fake.require_token = True
    connection = api.create("connections", http_connection(fake, "/ping"))
    response = api.get(f"/v1/connections/{connection['_id']}/ping")
    assert response.status_code == 200, response.text
    assert response.json() == {"code": 200}
    assert "offline" not in api.get(f"/v1/connections/{connection['_id']}").json()


def test_a_failed_ping_sets_offline_and_a_good_one_clears_it(api: Api, fake: FakeSaas) -> None:
    fake.require_token = True
    connection = api.create("connections", http_connection(fake, "/ping-fail"))
    path = f"/v1/connections/{connection['_id']}"
    failed = api.get(f"{path}/ping")
    assert failed.status_code == 422
    error = failed.json()["errors"][0]
    assert error["code"] == "ping_failed" and "ok" in error["message"]
    assert api.get(path).json()["offline"] is True
    fixed = api.get(path).json()
    fixed["http"]["ping"]["relativeURI"] = "/ping"
    assert api.put(path, json=fixed).status_code == 200
    assert api.get(f"{path}/ping").json() == {"code": 200}
    assert "offline" not in api.get(path).json()
    sources = [record["source"] for record in api.get(f"{path}/audit").json()]
    assert sources.count("system") == 2


def test_rejected_credentials_set_the_connection_offline(api: Api, fake: FakeSaas) -> None:
    fake.require_token = True
    connection = api.create("connections", http_connection(fake, "/ping", token="wrong"))
    response = api.get(f"/v1/connections/{connection['_id']}/ping")
    assert response.status_code == 422
    assert "wrong" not in response.text  # the secret never comes back
    assert api.get(f"/v1/connections/{connection['_id']}").json()["offline"] is True


def test_legacy_rest_connection_pings_its_ping_relative_uri(api: Api, fake: FakeSaas) -> None:
    fake.require_token = False
    connection = api.create(
        "connections",
        {
            "name": "Legacy",
            "type": "rest",
            "rest": {"baseURI": fake.base_url, "mediaType": "json", "pingRelativeURI": "/ping"},
        },
    )
    assert api.get(f"/v1/connections/{connection['_id']}/ping").json() == {"code": 200}


def test_an_unsaved_connection_can_be_pinged(api: Api, fake: FakeSaas) -> None:
    fake.require_token = True
    good = api.post("/v1/connections/ping", json=http_connection(fake, "/ping"))
    assert good.status_code == 200 and good.json() == {"code": 200}
    bad = api.post("/v1/connections/ping", json=http_connection(fake, "/ping-fail"))
    assert bad.status_code == 422 and bad.json()["errors"][0]["code"] == "ping_failed"
    invalid = api.post("/v1/connections/ping", json={"type": "http", "http": {}})
    assert invalid.status_code == 422
    assert api.get("/v1/connections").status_code == 204  # nothing was saved


def test_unreachable_hosts_and_types_without_an_adaptor_say_why(api: Api) -> None:
    unreachable = api.post(
        "/v1/connections/ping",
        json={
            "name": "down",
            "type": "http",
            "http": {"baseURI": "http://127.0.0.1:1", "ping": {"relativeURI": "/ping"}},
        },
    )
    assert unreachable.status_code == 422
    ftp = api.post(
        "/v1/connections/ping",
        json={"name": "f", "type": "ftp", "ftp": {"hostURI": "ftp.example.com"}},
    )
    assert ftp.status_code == 422 and "ftp" in ftp.json()["errors"][0]["message"]


def test_another_accounts_connection_cannot_be_pinged(
    api: Api, other_api: Api, fake: FakeSaas
) -> None:
    connection = api.create("connections", http_connection(fake, "/ping"))
    assert other_api.get(f"/v1/connections/{connection['_id']}/ping").status_code == 404
