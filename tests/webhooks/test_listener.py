"""The listener route: verified deliveries are stored and answered as configured; anything
refused (401, 400, 413, 415) stores nothing; handshakes are answered and not stored; repeated
deliveries within the dedupe window are acknowledged once."""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any

from sqlalchemy import func, select

from integrator.api.context import AppContext
from integrator.store.models import WebhookDelivery

from conftest import Api

TOKEN = "listener-token-123456"


def listener(api: Api, **webhook: Any) -> dict[str, Any]:
    settings = {"verify": "token", "token": TOKEN, "tokenLocation": "header",
                "tokenHeaderName": "X-Token", "tokenHeaderScheme": "none", **webhook}  # fmt: skip
    return api.create("exports", {"name": "Orders in", "type": "webhook", "webhook": settings})


def stored(context: AppContext, export_id: str) -> int:
    with context.sessions() as session:
        count = session.scalar(select(func.count()).where(WebhookDelivery.export_id == export_id))
    return int(count or 0)


def post(api: Api, export: dict[str, Any], body: Any = None, **kwargs: Any) -> Any:
    headers = {"X-Token": TOKEN, **kwargs.pop("headers", {})}
    return api.client.post(export["webhook"]["url"], json=body, headers=headers, **kwargs)


def test_the_export_shows_its_listener_path(api: Api) -> None:
    export = listener(api)
    assert export["webhook"]["url"] == f"/v1/exports/{export['_id']}/data"
    secret = listener(api, verify="secret_url", token="s3cret-path-token")
    assert secret["webhook"]["url"] == f"/v1/exports/{secret['_id']}/******/data"
    # Sent back on PUT, the read-only path is ignored, not stored.
    again = api.put(f"/v1/exports/{export['_id']}", json=export).json()
    assert again["webhook"]["url"] == export["webhook"]["url"]


def test_a_verified_delivery_is_stored_then_answered_204(api: Api, context: AppContext) -> None:
    export = listener(api)
    answer = post(api, export, [{"id": 1}, {"id": 2}])
    assert (answer.status_code, answer.content) == (204, b"")
    with context.sessions() as session:
        row = session.scalars(
            select(WebhookDelivery).where(WebhookDelivery.export_id == export["_id"])
        ).one()
    assert (row.count, row.account_id) == (2, api.account_id)


def test_refused_deliveries_store_nothing(api: Api, context: AppContext) -> None:
    export = listener(api, requestMediaType="json")
    url = export["webhook"]["url"]
    wrong = api.client.post(url, json={"id": 1}, headers={"X-Token": "wrong-token-000000"})
    assert wrong.status_code == 401
    assert wrong.json()["errors"][0]["code"] == "unauthorized"
    missing = api.client.post(url, json={"id": 1})
    assert missing.status_code == 401
    bad_json = api.client.post(
        url, content=b"{not json", headers={"X-Token": TOKEN, "Content-Type": "application/json"}
    )
    assert bad_json.status_code == 400 and bad_json.json()["errors"][0]["code"]
    wrong_type = api.client.post(
        url, content=b"<a/>", headers={"X-Token": TOKEN, "Content-Type": "application/xml"}
    )
    assert wrong_type.status_code == 415
    huge = api.client.post(
        url,
        content=b'{"id": "' + b"x" * (6 * 1024 * 1024) + b'"}',
        headers={"X-Token": TOKEN, "Content-Type": "application/json"},
    )
    assert huge.status_code == 413
    assert stored(context, export["_id"]) == 0
    unknown = api.client.post("/v1/exports/" + "0" * 24 + "/data", json={})
    assert unknown.status_code == 404


def test_hmac_signed_deliveries_and_a_custom_answer(api: Api, context: AppContext) -> None:
    key = "hmac-signing-key"
    export = listener(
        api, verify="hmac", key=key, algorithm="sha256", encoding="base64", header="X-Signature",
        successStatusCode=200, successBody='{"received": "{{id}}"}', successMediaType="json",
    )  # fmt: skip
    body = b'{"id": "A-7"}'
    signature = base64.b64encode(hmac.new(key.encode(), body, hashlib.sha256).digest()).decode()
    headers = {"X-Signature": signature, "Content-Type": "application/json"}
    answer = api.client.post(export["webhook"]["url"], content=body, headers=headers)
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"received": "A-7"}
    tampered = api.client.post(export["webhook"]["url"], content=b'{"id": "A-8"}', headers=headers)
    assert tampered.status_code == 401
    assert stored(context, export["_id"]) == 1


def test_a_subscription_handshake_is_answered_and_not_stored(api: Api, context: AppContext) -> None:
    export = listener(
        api, challengeSuccessBody="{{challenge}}", challengeSuccessMediaType="plaintext"
    )
    answer = post(api, export, {"challenge": "abc123"})
    assert (answer.status_code, answer.text) == (200, "abc123")
    assert stored(context, export["_id"]) == 0
    assert post(api, export, {"id": 5}).status_code == 204
    assert stored(context, export["_id"]) == 1


def test_repeated_deliveries_within_the_window_are_stored_once(
    api: Api, context: AppContext
) -> None:
    export = listener(api, dedupeHeader="X-Delivery-Id", dedupeWindowSeconds=60)
    for _ in range(3):
        answer = post(api, export, {"id": 1}, headers={"X-Delivery-Id": "delivery-1"})
        assert answer.status_code == 204
    assert post(api, export, {"id": 2}, headers={"X-Delivery-Id": "delivery-2"}).status_code == 204
    assert stored(context, export["_id"]) == 2
    by_body = listener(api, dedupePath="event.id")
    for _ in range(2):
        assert post(api, by_body, {"event": {"id": "evt_1"}}).status_code == 204
    assert stored(context, by_body["_id"]) == 1
