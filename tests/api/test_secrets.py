"""Secrets are encrypted at rest (bound to account, resource and field), masked in responses,
kept when the mask is sent back, removed when omitted, and never logged."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy import select

from integrator.api.context import AppContext
from integrator.resources import REGISTRY
from integrator.resources.service import ResourceService
from integrator.store.accounts import Principal
from integrator.store.crypto import SecretDecryptError
from integrator.store.models import Resource

from conftest import Api, sample_bodies


def stored_doc(context: AppContext, id_: str) -> dict[str, object]:
    with context.sessions() as session:
        doc = session.scalar(select(Resource.doc).where(Resource.id == id_))
    assert doc is not None
    return doc


def unsealed(context: AppContext, api: Api, type_: str, id_: str) -> dict[str, object]:
    with context.sessions() as session:
        service = ResourceService(session, context.cipher, Principal(api.account_id, "t"))
        return service.unsealed(REGISTRY[type_], id_)


def test_secrets_are_masked_in_every_response(api: Api) -> None:
    made = sample_bodies(api)
    assert made["connections"]["rest"]["bearerToken"] == "******"
    assert made["iclients"]["oauth2"]["clientSecret"] == "******"
    assert made["stacks"]["server"]["systemToken"] == "******"
    listed = api.get("/v1/connections").json()
    assert listed[0]["rest"]["bearerToken"] == "******"
    assert "s3cret-bearer" not in api.get(f"/v1/connections/{made['connections']['_id']}").text


def test_secrets_are_encrypted_at_rest(context: AppContext, api: Api) -> None:
    made = sample_bodies(api)
    raw = stored_doc(context, made["connections"]["_id"])
    assert "s3cret-bearer" not in str(raw)
    rest = raw["rest"]
    assert isinstance(rest, dict) and "bearerToken" not in rest
    assert str(rest["bearerToken_crypt"]).startswith("v1:")
    assert unsealed(context, api, "connections", made["connections"]["_id"])["rest"] == {
        "baseURI": "https://shop.example.com/api",
        "mediaType": "json",
        "bearerToken": "s3cret-bearer",
    }


def test_sending_the_mask_back_keeps_the_secret(context: AppContext, api: Api) -> None:
    made = sample_bodies(api)
    connection = made["connections"]
    body = {**connection, "name": "Renamed"}
    response = api.put(f"/v1/connections/{connection['_id']}", json=body)
    assert response.status_code == 200
    secret = unsealed(context, api, "connections", connection["_id"])["rest"]
    assert isinstance(secret, dict) and secret["bearerToken"] == "s3cret-bearer"


def test_sending_a_new_value_replaces_and_omitting_removes(context: AppContext, api: Api) -> None:
    connection = sample_bodies(api)["connections"]
    path = f"/v1/connections/{connection['_id']}"
    rest = {**connection["rest"], "bearerToken": "new-token"}
    api.put(path, json={**connection, "rest": rest})
    stored = unsealed(context, api, "connections", connection["_id"])["rest"]
    assert isinstance(stored, dict) and stored["bearerToken"] == "new-token"
    rest.pop("bearerToken")
    response = api.put(path, json={**connection, "rest": rest})
    assert "bearerToken" not in response.json()["rest"]
    stored = unsealed(context, api, "connections", connection["_id"])["rest"]
    assert isinstance(stored, dict) and "bearerToken" not in stored


def test_mask_without_a_stored_secret_is_rejected(api: Api) -> None:
    response = api.post(
        "/v1/connections",
        json={
            "type": "ftp",
            "name": "f",
            "ftp": {"hostURI": "ftp.example.com", "password": "******"},
        },
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "ftp.password"


def test_whole_encrypted_blocks_are_secret(context: AppContext, api: Api) -> None:
    created = api.create(
        "connections",
        {
            "type": "http",
            "name": "h",
            "http": {
                "baseURI": "https://api.example.com",
                "mediaType": "json",
                "encrypted": {"apiKey": "k-123", "other": "o-456"},
            },
        },
    )
    assert created["http"]["encrypted"] == "******"
    stored = unsealed(context, api, "connections", created["_id"])["http"]
    assert isinstance(stored, dict) and stored["encrypted"] == {"apiKey": "k-123", "other": "o-456"}


def test_a_sealed_value_moved_to_another_resource_does_not_open(
    context: AppContext, api: Api
) -> None:
    first = api.create(
        "connections",
        {"type": "ftp", "name": "a", "ftp": {"hostURI": "ftp.example.com", "password": "pw-1"}},
    )
    second = api.create(
        "connections",
        {"type": "ftp", "name": "b", "ftp": {"hostURI": "ftp.example.com", "password": "pw-2"}},
    )
    sealed = stored_doc(context, first["_id"])["ftp"]["password_crypt"]  # type: ignore[index]
    with context.transaction() as session:
        row = session.get(Resource, second["_id"])
        assert row is not None
        row.doc = {**row.doc, "ftp": {**row.doc["ftp"], "password_crypt": sealed}}
    with pytest.raises(SecretDecryptError):
        unsealed(context, api, "connections", second["_id"])


def test_secrets_never_reach_the_logs(
    api: Api, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level(logging.DEBUG)
    made = sample_bodies(api)
    api.put(f"/v1/connections/{made['connections']['_id']}", json={"type": "rest"})
    api.get("/v1/audit")
    audit = api.get(f"/v1/connections/{made['connections']['_id']}/audit").text
    captured = capsys.readouterr()
    for secret in ("s3cret-bearer", "client-secret-1", "stack-token"):
        assert secret not in caplog.text
        assert secret not in captured.out + captured.err
        assert secret not in audit
