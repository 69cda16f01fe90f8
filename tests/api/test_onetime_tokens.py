"""Hooks' one-time tokens against the real API: what they may call, when they stop working,
and how a connector's token sees only its connector's resources."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from fakes import FakeSaas
from integrator.api.context import AppContext
from integrator.hooks import tokens
from integrator.store.accounts import hash_token
from integrator.store.models import ApiToken, utcnow

from conftest import Api

ITEMS = {"relativeURI": "/stripe/items?limit=10", "response": {"resourcePath": "data"}}


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeSaas]:
    with FakeSaas.running(records=5, page_size=10) as server:
        yield server


def setup_account(api: Api, fake: FakeSaas, connector_id: str | None = None) -> dict[str, Any]:
    """A connection on the fake SaaS, an export, an import and a flow of both (tagged with
    ``connector_id`` when given)."""
    tag = {"_connectorId": connector_id} if connector_id else {}
    connection = api.create(
        "connections",
        {"name": "Fake", "type": "http", "http": {"baseURI": fake.base_url}, **tag},
    )
    export = api.create(
        "exports", {"name": "Items", "_connectionId": connection["_id"], "http": ITEMS, **tag}
    )
    imp = api.create(
        "imports",
        {
            "name": "Customers",
            "_connectionId": connection["_id"],
            "http": {"relativeURI": "/api/customers", "method": "POST"},
            "mapping": {"fields": [{"extract": "mail", "generate": "email"}]},
            **tag,
        },
    )
    flow = api.create(
        "flows",
        {
            "name": "Items to customers",
            "pageGenerators": [{"_exportId": export["_id"]}],
            "pageProcessors": [{"type": "import", "_importId": imp["_id"]}],
            **tag,
        },
    )
    return {"connection": connection, "export": export, "import": imp, "flow": flow}


def as_token(api: Api, token: str) -> Api:
    return Api(api.client, token, api.account_id)


def forbidden(response: Any) -> bool:
    return response.status_code == 403 and response.json()["errors"][0]["code"] == "forbidden"


def test_a_hook_token_invokes_exports_and_imports_runs_flows_and_uses_state(
    context: AppContext, api: Api, fake: FakeSaas
) -> None:
    made = setup_account(api, fake)
    export, imp, flow = made["export"], made["import"], made["flow"]
    with tokens.one_time_token(context.sessions, api.account_id) as token:
        assert token.startswith("ot_")
        hook = as_token(api, token)
        assert hook.get("/v1/tokenInfo").json() == {"_userId": api.account_id, "scope": "invoke"}
        by_identifier = hook.post(f"/v1/{export['apiIdentifier']}", json={})
        assert by_identifier.status_code == 200, by_identifier.text
        by_id = hook.post(f"/v1/exports/{export['_id']}/invoke")
        assert by_id.status_code == 200, by_id.text
        assert by_id.json() == by_identifier.json() and len(by_id.json()["data"]) == 5
        imported = hook.post(
            f"/v1/imports/{imp['_id']}/invoke", json=[{"mail": f"{uuid.uuid4().hex}@example.com"}]
        )
        assert imported.status_code == 200, imported.text
        assert imported.json()[0]["statusCode"] == 200
        assert hook.post(f"/v1/imports/{imp['_id']}/invoke", json={"a": 1}).status_code == 422
        run = hook.post(f"/v1/flows/{flow['_id']}/run")
        assert run.status_code == 201, run.text
        assert hook.put("/v1/state/cursor", json={"at": 3}).status_code == 201
        assert hook.get("/v1/state/cursor").json() == {"at": 3}
        flow_state = f"/v1/flows/{flow['_id']}/state/seen"
        assert hook.put(flow_state, json=[1, 2]).status_code == 201
        assert hook.get(f"/v1/flows/{flow['_id']}/state").json() == {"keys": ["seen"]}
        assert hook.delete(flow_state).status_code == 204
        connection = hook.get(f"/v1/connections/{made['connection']['_id']}")
        assert connection.status_code == 200 and connection.json()["name"] == "Fake"
    # What the hook stored is the account's: its own token reads it.
    assert api.get("/v1/state/cursor").json() == {"at": 3}


def test_invoking_by_id_is_an_account_token_route_too(api: Api, fake: FakeSaas) -> None:
    made = setup_account(api, fake)
    response = api.post(f"/v1/exports/{made['export']['_id']}/invoke")
    assert response.status_code == 200 and len(response.json()["data"]) == 5
    assert api.post(f"/v1/exports/{made['import']['_id']}/invoke").status_code == 404
    assert api.post(f"/v1/imports/{'e' * 24}/invoke", json=[]).status_code == 404


def test_a_hook_token_may_not_read_change_or_run_anything_else(
    context: AppContext, api: Api, fake: FakeSaas
) -> None:
    made = setup_account(api, fake)
    export_id, connection_id = made["export"]["_id"], made["connection"]["_id"]
    with tokens.one_time_token(context.sessions, api.account_id) as token:
        hook = as_token(api, token)
        for method, path, body in (
            ("GET", "/v1/exports", None),
            ("GET", f"/v1/exports/{export_id}", None),
            ("POST", "/v1/exports", {"name": "x", "_connectionId": connection_id}),
            ("PUT", f"/v1/exports/{export_id}", {"name": "x"}),
            ("PATCH", f"/v1/exports/{export_id}", []),
            ("DELETE", f"/v1/exports/{export_id}", None),
            ("GET", "/v1/connections", None),
            ("PUT", f"/v1/connections/{connection_id}", {"name": "x"}),
            ("POST", "/v1/exports/preview", {"_connectionId": connection_id, "http": ITEMS}),
            ("POST", f"/v1/connections/{connection_id}/export", {"export": {"http": ITEMS}}),
            ("GET", f"/v1/connections/{connection_id}/ping", None),
            ("GET", "/v1/jobs", None),
            ("GET", "/v1/audit", None),
            ("GET", f"/v1/scripts/{'e' * 24}/logs", None),
            ("GET", "/v1/widgets", None),
        ):
            response = hook.request(method, path, json=body)
            assert forbidden(response), (method, path, response.status_code)
            assert "invoke exports and imports" in response.json()["errors"][0]["message"]
    assert api.get(f"/v1/exports/{export_id}").json()["name"] == "Items"


def test_a_token_stops_working_when_its_call_returns_even_if_it_raised(
    context: AppContext, api: Api
) -> None:
    with tokens.one_time_token(context.sessions, api.account_id) as token:
        assert as_token(api, token).get("/v1/tokenInfo").status_code == 200
    used = as_token(api, token).get("/v1/tokenInfo")
    assert used.status_code == 401 and used.json()["errors"][0]["code"] == "unauthorized"
    with pytest.raises(RuntimeError), tokens.one_time_token(context.engine, api.account_id) as t:
        failed = t
        raise RuntimeError("the hook threw")
    assert as_token(api, failed).get("/v1/tokenInfo").status_code == 401


def test_a_revoked_token_is_refused_at_once_as_one_time_tokens_are_never_cached(
    context: AppContext, api: Api
) -> None:
    assert context.auth_cache.ttl > 0  # account tokens are cached in this app
    with context.transaction() as session:
        token = tokens.mint(session, api.account_id, connector_id=None)
    hook = as_token(api, token)
    assert hook.get("/v1/tokenInfo").status_code == 200
    assert context.auth_cache.get(hash_token(token)) is None
    with context.transaction() as session:
        assert tokens.revoke(session, token)
    assert hook.get("/v1/tokenInfo").status_code == 401  # no forget_all needed
    with context.transaction() as session:
        assert not tokens.revoke(session, api.token)  # an account's own token is not one-time
    assert api.get("/v1/tokenInfo").status_code == 200


def test_an_expired_token_is_refused_and_purged(context: AppContext, api: Api) -> None:
    with context.transaction() as session:
        token = tokens.mint(
            session, api.account_id, connector_id=None, now=utcnow() - timedelta(minutes=16)
        )
        fresh = tokens.mint(session, api.account_id, connector_id=None, ttl_seconds=60)
    assert as_token(api, token).get("/v1/tokenInfo").status_code == 401
    assert as_token(api, fresh).get("/v1/tokenInfo").status_code == 200
    tokens.purge_expired_tokens(context.sessions)  # the scheduler's housekeeping does this too
    with context.sessions() as session:
        hashes = set(session.scalars(select(ApiToken.token_hash)))
    assert hash_token(token) not in hashes and hash_token(fresh) in hashes
    assert hash_token(api.token) in hashes


def test_a_token_finds_nothing_of_another_account(
    context: AppContext, api: Api, other_api: Api, fake: FakeSaas
) -> None:
    theirs = setup_account(other_api, fake)
    with tokens.one_time_token(context.sessions, api.account_id) as token:
        hook = as_token(api, token)
        assert hook.post(f"/v1/{theirs['export']['apiIdentifier']}", json={}).status_code == 404
        assert hook.post(f"/v1/exports/{theirs['export']['_id']}/invoke").status_code == 404
        assert (
            hook.post(f"/v1/imports/{theirs['import']['_id']}/invoke", json=[]).status_code == 404
        )
        assert hook.post(f"/v1/flows/{theirs['flow']['_id']}/run").status_code == 404
        assert hook.get(f"/v1/flows/{theirs['flow']['_id']}/state").status_code == 404
        assert hook.get(f"/v1/connections/{theirs['connection']['_id']}").status_code == 404


def test_a_connector_token_sees_only_its_connectors_resources(
    context: AppContext, client: TestClient, api: Api, fake: FakeSaas
) -> None:
    connector_id = api.create("connectors", {"name": "App"})["_id"]
    app = setup_account(api, fake, connector_id)
    users = setup_account(api, fake)
    integration = api.create("integrations", {"name": "the user's"})
    with tokens.one_time_token(context.sessions, api.account_id, connector_id) as token:
        hook = as_token(api, token)
        info = hook.get("/v1/tokenInfo").json()
        assert info == {"_userId": api.account_id, "scope": "connector"}
        # Its own resources: read, list, invoke, run, change.
        assert hook.get(f"/v1/exports/{app['export']['_id']}").status_code == 200
        listed = hook.get("/v1/exports")
        assert [e["_id"] for e in listed.json()] == [app["export"]["_id"]]
        assert hook.get(f"/v1/exports?_connectorId={'f' * 24}").status_code == 204
        assert hook.post(f"/v1/{app['export']['apiIdentifier']}", json={}).status_code == 200
        assert hook.post(f"/v1/exports/{app['export']['_id']}/invoke").status_code == 200
        assert hook.post(f"/v1/flows/{app['flow']['_id']}/run").status_code == 201
        created = hook.post("/v1/integrations", json={"name": "installed"})
        assert created.status_code == 201 and created.json()["_connectorId"] == connector_id
        renamed = hook.put(f"/v1/exports/{app['export']['_id']}", json={**_body(app), "name": "v2"})
        assert renamed.status_code == 200, renamed.text
        # The user's resources are absent to it.
        assert hook.get(f"/v1/exports/{users['export']['_id']}").status_code == 404
        assert hook.get(f"/v1/integrations/{integration['_id']}").status_code == 404
        assert hook.post(f"/v1/{users['export']['apiIdentifier']}", json={}).status_code == 404
        assert hook.post(f"/v1/exports/{users['export']['_id']}/invoke").status_code == 404
        assert hook.post(f"/v1/flows/{users['flow']['_id']}/run").status_code == 404
        assert (
            hook.put(f"/v1/integrations/{integration['_id']}", json={"name": "x"}).status_code
            == 404
        )
        assert hook.delete(f"/v1/integrations/{integration['_id']}").status_code == 404
        assert hook.get(f"/v1/flows/{users['flow']['_id']}/state").status_code == 404
        borrowed = hook.post(
            "/v1/exports", json={"name": "x", "_connectionId": users["connection"]["_id"]}
        )
        assert borrowed.status_code == 422
        assert borrowed.json()["errors"][0]["code"] == "invalid_reference"
        # Account-wide records are not tied to one resource: refused.
        for path in ("/v1/jobs", "/v1/audit", f"/v1/exports/{app['export']['_id']}/audit"):
            assert forbidden(hook.get(path)), path
    # The account's own token still sees everything.
    assert api.get(f"/v1/exports/{app['export']['_id']}").json()["name"] == "v2"
    assert api.get(f"/v1/integrations/{integration['_id']}").status_code == 200


def _body(made: dict[str, Any]) -> dict[str, Any]:
    server = {"_id", "apiIdentifier", "createdAt", "lastModified"}
    return {k: v for k, v in made["export"].items() if k not in server}
