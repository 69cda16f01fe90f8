"""Exports run on request: POST /v1/{apiIdentifier}, /v1/exports/preview and
/v1/connections/{id}/export, over real HTTP against the fake SaaS app."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from fakes import FakeSaas
from integrator.api.context import AppContext

from conftest import Api

STRIPE = {
    "relativeURI": "/stripe/items?limit=10",
    "response": {"resourcePath": "data"},
    "paging": {
        "method": "relativeuri",
        "relativeURI": "/stripe/items?limit=10&starting_after={{previous_page.last_record.id}}",
        "lastPagePath": "has_more",
        "lastPageValues": ["false"],
    },
}


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeSaas]:
    with FakeSaas.running(records=35, page_size=10) as server:
        yield server


@pytest.fixture
def connection(api: Api, fake: FakeSaas) -> dict[str, Any]:
    return api.create(
        "connections",
        {"name": "Fake", "type": "http", "http": {"baseURI": fake.base_url, "mediaType": "json"}},
    )


def test_invoking_a_saved_export_returns_all_its_records(
    api: Api, connection: dict[str, Any]
) -> None:
    export = api.create(
        "exports", {"name": "Items", "_connectionId": connection["_id"], "http": STRIPE}
    )
    response = api.post(f"/v1/{export['apiIdentifier']}", json={})
    assert response.status_code == 200, response.text
    assert [record["id"] for record in response.json()["data"]] == list(range(1, 36))
    assert "truncated" not in response.json()


def test_integrator_relative_uri_overrides_the_export_for_one_call(
    api: Api, connection: dict[str, Any]
) -> None:
    export = api.create(
        "exports",
        {"name": "Items", "_connectionId": connection["_id"], "http": {"relativeURI": "/nowhere"}},
    )
    response = api.post(
        f"/v1/{export['apiIdentifier']}",
        json={},
        headers={"Integrator-Relative-URI": "/github/items?per_page=50"},
    )
    assert response.status_code == 200, response.text
    assert len(response.json()["data"]) == 35


def test_preview_runs_an_unsaved_export_in_test_mode(api: Api, connection: dict[str, Any]) -> None:
    body = {"_connectionId": connection["_id"], "http": STRIPE, "test": {"limit": 12}}
    response = api.post("/v1/exports/preview", json=body)
    assert response.status_code == 200, response.text
    assert [record["id"] for record in response.json()["data"]] == list(range(1, 13))
    assert api.get("/v1/exports").status_code == 204  # nothing saved


def test_virtual_export_on_a_connection(api: Api, connection: dict[str, Any]) -> None:
    response = api.post(
        f"/v1/connections/{connection['_id']}/export", json={"export": {"http": STRIPE}}
    )
    assert response.status_code == 200, response.text
    assert len(response.json()["data"]) == 35
    bad = api.post(
        f"/v1/connections/{connection['_id']}/export", json={"export": {"pageSize": "x"}}
    )
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "export.pageSize"


def test_an_offline_connection_does_not_run(api: Api, connection: dict[str, Any]) -> None:
    path = f"/v1/connections/{connection['_id']}"
    offline = {k: v for k, v in api.get(path).json().items() if k != "_id"}
    offline["offline"] = True
    assert api.put(path, json=offline).status_code == 200
    export = api.create(
        "exports", {"name": "Items", "_connectionId": connection["_id"], "http": STRIPE}
    )
    response = api.post(f"/v1/{export['apiIdentifier']}", json={})
    assert response.status_code == 422
    assert response.json()["errors"][0]["code"] == "connection_offline"


def test_an_api_error_says_what_the_target_answered(api: Api, connection: dict[str, Any]) -> None:
    export = api.create(
        "exports",
        {"name": "Broken", "_connectionId": connection["_id"], "http": {"relativeURI": "/nothing"}},
    )
    response = api.post(f"/v1/{export['apiIdentifier']}", json={})
    assert response.status_code == 502
    error = response.json()["errors"][0]
    assert error["code"] == "export_failed" and "404" in error["message"]


def test_unknown_identifiers_and_other_accounts_are_404(
    api: Api, other_api: Api, connection: dict[str, Any]
) -> None:
    export = api.create(
        "exports", {"name": "Items", "_connectionId": connection["_id"], "http": STRIPE}
    )
    assert api.post("/v1/e0000000000", json={}).status_code == 404
    assert other_api.post(f"/v1/{export['apiIdentifier']}", json={}).status_code == 404


def customer_import(connection_id: str) -> dict[str, Any]:
    return {
        "name": "Customers",
        "_connectionId": connection_id,
        "http": {"relativeURI": "/api/customers", "method": "POST"},
        "mapping": {
            "fields": [
                {"extract": "mail", "generate": "email"},
                {"extract": "{first} {last}", "generate": "name"},
            ]
        },
    }


def test_invoking_a_saved_import_sends_the_records(
    api: Api, fake: FakeSaas, connection: dict[str, Any]
) -> None:
    saved = api.create("imports", customer_import(connection["_id"]))
    records = [{"mail": "a@example.com", "first": "Ann", "last": "Lee"}, {"first": "No mail"}]
    fake.customers.clear()
    response = api.post(f"/v1/{saved['apiIdentifier']}", json=records)
    assert response.status_code == 200, response.text
    first, second = response.json()
    assert first["statusCode"] == 200 and first["errors"] == [] and not first["ignored"]
    assert fake.customers[int(first["id"])]["email"] == "a@example.com"
    assert fake.customers[int(first["id"])]["name"] == "Ann Lee"
    # The API refuses the second (no email): its error comes back, the first is unaffected.
    assert second["statusCode"] == 422
    assert second["errors"][0]["message"] == "email is required"
    assert second["errors"][0]["source"] == "application"
    assert api.post(f"/v1/{saved['apiIdentifier']}", json={"not": "a list"}).status_code == 422


def test_virtual_import_on_a_connection(
    api: Api, fake: FakeSaas, connection: dict[str, Any]
) -> None:
    fake.customers.clear()
    body = {
        "import": {k: v for k, v in customer_import("x").items() if k != "_connectionId"},
        "data": [{"mail": "b@example.com", "first": "Bo", "last": "Ek"}],
    }
    response = api.post(f"/v1/connections/{connection['_id']}/import", json=body)
    assert response.status_code == 200, response.text
    [result] = response.json()
    assert result["statusCode"] == 200 and result["_json"]["email"] == "b@example.com"
    assert result["_json"]["name"] == "Bo Ek"


def test_virtual_paged_export_walks_every_page_with_the_state(
    api: Api, connection: dict[str, Any]
) -> None:
    path = f"/v1/connections/{connection['_id']}/export/pages"
    body: dict[str, Any] = {"export": {"http": STRIPE, "pageSize": 8}}
    seen: list[int] = []
    for _ in range(10):
        answer = api.post(path, json=body)
        assert answer.status_code == 200, answer.text
        payload = answer.json()
        seen += [record["id"] for record in payload["data"]]
        if payload["pagedExportState"]["done"]:
            break
        body["pagedExportState"] = payload["pagedExportState"]
    assert seen == list(range(1, 36))
    assert payload["pagedExportState"]["pageIndex"] == 5


def test_a_modified_or_foreign_paged_export_state_is_rejected(
    api: Api, other_api: Api, connection: dict[str, Any]
) -> None:
    path = f"/v1/connections/{connection['_id']}/export/pages"
    first = api.post(path, json={"export": {"http": STRIPE, "pageSize": 8}}).json()
    state = first["pagedExportState"]
    for tampered in (
        {**state, "sig": "0" * 64},
        {**state, "pageIndex": state["pageIndex"] + 1},
        {**state, "issuedAt": state["issuedAt"] + 10},
    ):
        response = api.post(
            path, json={"export": {"http": STRIPE, "pageSize": 8}, "pagedExportState": tampered}
        )
        assert response.status_code == 400, tampered
        assert response.json()["errors"][0]["code"] == "invalid_state"
    other_export = {"http": {**STRIPE, "relativeURI": "/stripe/items?limit=5"}, "pageSize": 8}
    response = api.post(path, json={"export": other_export, "pagedExportState": state})
    assert response.status_code == 400  # a state is bound to its export document


def test_a_paged_export_resumes_even_when_the_server_forgot_the_cursor(
    api: Api, context: AppContext, connection: dict[str, Any]
) -> None:
    path = f"/v1/connections/{connection['_id']}/export/pages"
    body: dict[str, Any] = {"export": {"http": STRIPE, "pageSize": 8}}
    first = api.post(path, json=body).json()
    context.paged_exports._sessions.clear()  # as if another API process answered
    body["pagedExportState"] = first["pagedExportState"]
    second = api.post(path, json=body).json()
    assert [record["id"] for record in second["data"]] == list(range(9, 17))


def test_debug_mode_keeps_every_request_with_secrets_redacted(api: Api, fake: FakeSaas) -> None:
    fake.require_token = False
    connection = api.create(
        "connections",
        {
            "name": "Debugged",
            "type": "http",
            "debugDate": "2999-01-01T00:00:00.000Z",
            "http": {
                "baseURI": fake.base_url,
                "mediaType": "json",
                "auth": {"type": "token", "token": {"token": "very-secret-token-value"}},
            },
        },
    )
    export = api.create(
        "exports", {"name": "Items", "_connectionId": connection["_id"], "http": STRIPE}
    )
    fake.fail_next(429)
    assert api.post(f"/v1/{export['apiIdentifier']}", json={}).status_code == 200
    log = api.get(f"/v1/connections/{connection['_id']}/debug?limit=1000")
    assert log.status_code == 200, log.text
    entries = log.json()
    assert len(entries) == 5  # one 429, then four pages
    assert [entry["status"] for entry in entries].count(429) == 1
    assert all(entry["_resourceId"] == export["_id"] for entry in entries)
    assert "very-secret-token-value" not in log.text
    one = api.get(f"/v1/connections/{connection['_id']}/debug/{export['_id']}").json()
    assert len(one) == 5
    assert api.get(f"/v1/connections/{connection['_id']}/debug/{'a' * 24}").status_code == 204


def test_without_debug_mode_nothing_is_kept(api: Api, connection: dict[str, Any]) -> None:
    export = api.create(
        "exports", {"name": "Items", "_connectionId": connection["_id"], "http": STRIPE}
    )
    assert api.post(f"/v1/{export['apiIdentifier']}", json={}).status_code == 200
    assert api.get(f"/v1/connections/{connection['_id']}/debug").status_code == 204


def test_passthrough_returns_the_targets_own_answer(api: Api, connection: dict[str, Any]) -> None:
    export = api.create(
        "exports", {"name": "Items", "_connectionId": connection["_id"], "http": STRIPE}
    )
    raw = api.post(
        f"/v1/{export['apiIdentifier']}", json={}, headers={"Integrator-Passthrough": "true"}
    )
    assert raw.status_code == 200
    body = raw.json()
    assert body["object"] == "list" and body["has_more"] is True
    assert [item["id"] for item in body["data"]] == list(range(1, 11))
    missing = api.post(
        f"/v1/{export['apiIdentifier']}",
        json={},
        headers={"Integrator-Passthrough": "true", "Integrator-Relative-URI": "/nothing"},
    )
    assert missing.status_code == 404  # the target's status, passed through


def test_a_once_export_marks_what_it_exported_and_not_again(
    api: Api, fake: FakeSaas, connection: dict[str, Any]
) -> None:
    fake.exported.clear()
    export = api.create(
        "exports",
        {
            "name": "Unexported items",
            "type": "once",
            "_connectionId": connection["_id"],
            "pageSize": 10,
            "http": {
                "relativeURI": "/api/items?exported=false&limit=1000",
                "once": {"relativeURI": "/api/items/{{record.id}}/exported", "method": "PUT"},
            },
        },
    )
    first = api.post(f"/v1/{export['apiIdentifier']}", json={})
    assert first.status_code == 200, first.text
    assert [record["id"] for record in first.json()["data"]] == list(range(1, 36))
    assert fake.exported == set(range(1, 36))
    again = api.post(f"/v1/{export['apiIdentifier']}", json={})
    assert again.json()["data"] == []


def test_refused_credentials_set_the_connection_offline(api: Api, fake: FakeSaas) -> None:
    fake.require_token = True
    try:
        connection = api.create(
            "connections",
            {
                "name": "Wrong token",
                "type": "http",
                "http": {
                    "baseURI": fake.base_url,
                    "auth": {"type": "token", "token": {"token": "not-the-token"}},
                },
            },
        )
        export = api.create(
            "exports", {"name": "Items", "_connectionId": connection["_id"], "http": STRIPE}
        )
        response = api.post(f"/v1/{export['apiIdentifier']}", json={})
        assert response.status_code == 422
        assert response.json()["errors"][0]["code"] == "auth_failed"
        assert "not-the-token" not in response.text
        assert api.get(f"/v1/connections/{connection['_id']}").json()["offline"] is True
        again = api.post(f"/v1/{export['apiIdentifier']}", json={})
        assert again.json()["errors"][0]["code"] == "connection_offline"
    finally:
        fake.require_token = False


def test_renewed_oauth_tokens_are_stored_so_rotated_refresh_tokens_keep_working(
    api: Api, fake: FakeSaas
) -> None:
    fake.require_token = True
    try:
        connection = api.create(
            "connections",
            {
                "name": "OAuth",
                "type": "http",
                "http": {
                    "baseURI": fake.base_url,
                    "auth": {
                        "type": "oauth",
                        "oauth": {
                            "tokenURI": f"{fake.base_url}/oauth/token",
                            "clientId": "client-id",
                            "clientSecret": "client-secret",
                        },
                    },
                },
            },
        )
        export = api.create(
            "exports", {"name": "Items", "_connectionId": connection["_id"], "http": STRIPE}
        )
        start = len(fake.requests)
        for _ in range(3):  # each run after the first must use the refresh token stored last
            response = api.post(f"/v1/{export['apiIdentifier']}", json={})
            assert response.status_code == 200, response.text
            assert len(response.json()["data"]) == 35
            fake.expire_tokens()
        stored = api.get(f"/v1/connections/{connection['_id']}").json()["http"]["auth"]["token"]
        assert stored == {"token": "******", "refreshToken": "******"}
        grants = [r.body for r in fake.requests[start:] if r.path == "/oauth/token"]
        assert len(grants) == 3  # client credentials once, then one refresh per expiry
        assert sum("refresh_token" in str(body) for body in grants) == 2
    finally:
        fake.require_token = False


def test_debug_mode_keeps_the_requests_of_each_virtual_export_page(
    api: Api, fake: FakeSaas
) -> None:
    fake.require_token = False
    connection = api.create(
        "connections",
        {
            "name": "Debugged pages",
            "type": "http",
            "debugDate": "2999-01-01T00:00:00.000Z",
            "http": {"baseURI": fake.base_url, "mediaType": "json"},
        },
    )
    path = f"/v1/connections/{connection['_id']}/export/pages"
    body: dict[str, Any] = {"export": {"http": STRIPE, "pageSize": 10}}
    pages = 0
    while True:
        answer = api.post(path, json=body)
        assert answer.status_code == 200, answer.text
        pages += 1
        state = answer.json()["pagedExportState"]
        if state["done"]:
            break
        body["pagedExportState"] = state
    log = api.get(f"/v1/connections/{connection['_id']}/debug?limit=1000")
    assert log.status_code == 200, log.text
    # 35 records, 10 per request: four requests, each kept once however many calls it took.
    assert pages == 4
    assert len(log.json()) == 4
