"""Bearer tokens: tokenInfo, 401s, revocation, bootstrap, connector-bound tokens."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from integrator.api.app import build_context, create_app
from integrator.api.context import AppContext
from integrator.store import accounts

from conftest import Api, make_settings, new_account


def test_token_info_names_the_account(api: Api) -> None:
    response = api.get("/v1/tokenInfo")
    assert response.status_code == 200
    assert response.json() == {"_userId": api.account_id, "scope": "*"}


@pytest.mark.parametrize(
    "header",
    [None, "", "Bearer", "Bearer ", "Basic dXNlcjpwYXNz", "Bearer not-a-real-token-at-all"],
)
def test_every_v1_route_needs_a_valid_bearer_token(client: TestClient, header: str | None) -> None:
    headers = {} if header is None else {"Authorization": header}
    for method, path in (
        ("GET", "/v1/tokenInfo"),
        ("GET", "/v1/exports"),
        ("POST", "/v1/integrations"),
        ("GET", "/v1/state/x"),
        ("GET", "/v1/widgets"),
        ("GET", "/v1/audit"),
        ("POST", "/v1/e12345"),
    ):
        response = client.request(method, path, headers=headers, json={})
        assert response.status_code == 401, (method, path)
        assert response.json()["errors"][0]["code"] == "unauthorized"
        assert response.headers["www-authenticate"] == "Bearer"


def test_a_revoked_token_stops_working(context: AppContext, api: Api) -> None:
    assert api.get("/v1/tokenInfo").status_code == 200
    with context.transaction() as session:
        accounts.revoke_token(session, api.token)
    context.auth_cache.forget_all()
    assert api.get("/v1/tokenInfo").status_code == 401


def test_an_account_can_have_several_tokens(context: AppContext, api: Api) -> None:
    with context.transaction() as session:
        account = accounts.find_account(session, _account_name(context, api))
        second = accounts.create_token(session, account, name="ci")
    response = api.client.get("/v1/tokenInfo", headers={"Authorization": f"Bearer {second}"})
    assert response.json()["_userId"] == api.account_id


def _account_name(context: AppContext, api: Api) -> str:
    from integrator.store.models import Account

    with context.sessions() as session:
        account = session.get(Account, api.account_id)
        assert account is not None
        return account.name


def test_bootstrap_uses_the_given_token_only_on_an_empty_database(tmp_path: object) -> None:
    from pathlib import Path

    home = Path(str(tmp_path))
    context = build_context(make_settings(home, bootstrap_token="bootstrap-token-0123456789"))
    with context.transaction() as session:
        assert accounts.bootstrap(session, "bootstrap-token-0123456789") is not None
    with context.transaction() as session:
        assert accounts.bootstrap(session, "another-token-0123456789") is None
    client = TestClient(create_app(context))
    ok = client.get("/v1/tokenInfo", headers={"Authorization": "Bearer bootstrap-token-0123456789"})
    assert ok.status_code == 200
    no = client.get("/v1/tokenInfo", headers={"Authorization": "Bearer another-token-0123456789"})
    assert no.status_code == 401
    assert (home / "integrator.db").exists()


def test_secret_key_file_is_created_private(tmp_path: object) -> None:
    from pathlib import Path

    home = Path(str(tmp_path))
    build_context(make_settings(home, secret_key=None))
    key_file = home / "secret.key"
    assert key_file.exists()
    assert key_file.stat().st_mode & 0o777 == 0o600


def test_connector_tokens_only_change_their_connectors_resources(
    context: AppContext, client: TestClient, api: Api
) -> None:
    connector = api.create("connectors", {"name": "App"})
    with context.transaction() as session:
        from integrator.store.models import Account

        account = session.get(Account, api.account_id)
        assert account is not None
        token = accounts.create_token(session, account, connector_id=connector["_id"])
    app_api = Api(client, token, api.account_id)
    owned_by_user = api.create("integrations", {"name": "mine"})
    tagged = app_api.create("integrations", {"name": "app's"})
    assert tagged["_connectorId"] == connector["_id"]
    # The connector's token may change its own resources...
    assert app_api.put(f"/v1/integrations/{tagged['_id']}", json={"name": "v2"}).status_code == 200
    # ...but not the user's, and cannot re-tag or claim another connector.
    denied = app_api.put(f"/v1/integrations/{owned_by_user['_id']}", json={"name": "x"})
    assert denied.status_code == 403 and denied.json()["errors"][0]["code"] == "forbidden"
    assert app_api.delete(f"/v1/integrations/{owned_by_user['_id']}").status_code == 403
    other = app_api.post("/v1/integrations", json={"name": "x", "_connectorId": "f" * 24})
    assert other.status_code == 403
    # The account owner may change everything, including the connector's resources.
    assert api.put(f"/v1/integrations/{tagged['_id']}", json={"name": "owner"}).status_code == 200
    assert api.get(f"/v1/integrations/{owned_by_user['_id']}").json()["name"] == "mine"


def test_another_accounts_token_sees_its_own_token_info(
    context: AppContext, client: TestClient, api: Api
) -> None:
    other = new_account(context, client)
    assert other.get("/v1/tokenInfo").json()["_userId"] != api.account_id
