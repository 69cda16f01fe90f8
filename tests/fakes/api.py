"""Auth, OAuth and the stateful endpoints of the fake SaaS app: customers CRUD for imports,
"mark as exported" items for `once` exports, and ping."""

from __future__ import annotations

import base64
import binascii
import json
import secrets
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from .paging import int_param, page_size
from .server import HttpError, Request, Response, json_response

if TYPE_CHECKING:
    from .saas import FakeSaas


def ping(fake: FakeSaas, request: Request) -> Response:
    return json_response(200, {"ok": True})


def ping_fail(fake: FakeSaas, request: Request) -> Response:
    return json_response(200, {"ok": False})


# -- auth ----------------------------------------------------------------------------------------


def _basic_credentials(header: str) -> tuple[str, str] | None:
    if not header.startswith("Basic "):
        return None
    try:
        user, _, password = base64.b64decode(header[6:]).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return user, password


def authenticate(fake: FakeSaas, request: Request) -> None:
    """Raise a 401 unless the request carries credentials the auth knobs accept.

    With `require_token`: `Authorization: Bearer <t>` or `?access_token=<t>`, where t is in
    `fake.static_tokens` or issued by /oauth/token and unexpired. With `basic_auth`: that
    user and password. With both set, either is enough."""
    if not fake.require_token and fake.basic_auth is None:
        return
    header = request.header("authorization") or ""
    if fake.basic_auth is not None and _basic_credentials(header) == tuple(fake.basic_auth):
        return
    if fake.require_token:
        token = header[7:] if header.startswith("Bearer ") else request.query.get("access_token")
        if token in fake.static_tokens:
            return
        expiry = fake.access_tokens.get(token or "")
        if expiry is not None and expiry > time.monotonic():
            return
        if expiry is not None:
            raise HttpError(401, {"error": "invalid_token", "error_description": "expired"})
        if token:
            raise HttpError(401, {"error": "invalid_token"})
    challenge = "Bearer" if fake.require_token else 'Basic realm="fake"'
    raise HttpError(401, {"error": "unauthorized"}, {"WWW-Authenticate": challenge})


def oauth_token(fake: FakeSaas, request: Request) -> Response:
    """`POST /oauth/token` (form-encoded): `client_credentials` and `refresh_token` grants.

    Client credentials come in the form or as HTTP Basic. Each refresh token works once: using
    it issues a new one, and using it again gives 400 `invalid_grant`."""
    form = dict(parse_qsl(request.body.decode(), keep_blank_values=True))
    client = _basic_credentials(request.header("authorization") or "") or (
        form.get("client_id", ""),
        form.get("client_secret", ""),
    )
    if fake.clients.get(client[0]) != client[1] or not client[0]:
        return json_response(401, {"error": "invalid_client"})
    grant = form.get("grant_type")
    with fake.lock:
        if grant == "refresh_token":
            owner = fake.refresh_tokens.pop(form.get("refresh_token", ""), None)
            if owner != client[0]:
                return json_response(400, {"error": "invalid_grant"})
        elif grant != "client_credentials":
            return json_response(400, {"error": "unsupported_grant_type"})
        access, refresh = secrets.token_urlsafe(16), secrets.token_urlsafe(16)
        fake.access_tokens[access] = time.monotonic() + fake.token_ttl_seconds
        fake.refresh_tokens[refresh] = client[0]
    payload = {
        "access_token": access,
        "token_type": "Bearer",
        "expires_in": fake.token_ttl_seconds,
        "refresh_token": refresh,
    }
    return json_response(200, payload, {"Cache-Control": "no-store"})


# -- customers (imports) -------------------------------------------------------------------------


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _json_object(request: Request) -> dict[str, Any]:
    try:
        body = json.loads(request.body)
    except ValueError:
        raise HttpError(400, {"errors": [{"message": "body is not JSON"}]}) from None
    if not isinstance(body, dict):
        raise HttpError(422, {"errors": [{"message": "body must be a JSON object"}]})
    return body


def _email_owner(fake: FakeSaas, email: str) -> int | None:
    """Who has this email: the index answers unless a test wrote ``fake.customers`` directly
    (then the sizes differ and a scan does)."""
    owner = fake.customer_emails.get(email)
    if owner is not None and fake.customers.get(owner, {}).get("email") == email:
        return owner
    if len(fake.customer_emails) == len(fake.customers):
        return None
    for customer in fake.customers.values():
        if customer.get("email") == email:
            return int(customer["id"])
    return None


def _validation_errors(
    fake: FakeSaas, fields: dict[str, Any], creating: bool, own_id: int | None = None
) -> list[dict[str, str]]:
    errors = []
    email = fields.get("email")
    if email is None and creating:
        errors.append({"field": "email", "message": "email is required"})
    elif email is not None and (not isinstance(email, str) or "@" not in email):
        errors.append({"field": "email", "message": "email is not a valid address"})
    elif email is not None and _email_owner(fake, email) not in (None, own_id):
        errors.append({"field": "email", "message": f"email {email} is already taken"})
    if fields.get("external_id") in fake.reject_external_ids:
        message = f"external_id {fields['external_id']} is refused"
        errors.append({"field": "external_id", "message": message})
    if "name" in fields and not isinstance(fields["name"], str):
        errors.append({"field": "name", "message": "name must be a string"})
    return errors


def _create(fake: FakeSaas, fields: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    with fake.lock:
        errors = _validation_errors(fake, fields, creating=True)
        if errors:
            return 422, {"errors": errors}
        now = _now()
        customer = {**fields, "id": fake.next_customer_id, "created_at": now, "updated_at": now}
        fake.customers[fake.next_customer_id] = customer
        fake.customer_emails[customer["email"]] = customer["id"]
        fake.next_customer_id += 1
        return 201, dict(customer)


def _update(fake: FakeSaas, customer_id: int, fields: dict[str, Any]) -> tuple[int, Any]:
    with fake.lock:
        if customer_id not in fake.customers:
            return 404, {"errors": [{"message": f"customer {customer_id} not found"}]}
        errors = _validation_errors(fake, fields, creating=False, own_id=customer_id)
        if errors:
            return 422, {"errors": errors}
        fields = {k: v for k, v in fields.items() if k not in ("id", "created_at")}
        customer = fake.customers[customer_id]
        fake.customer_emails.pop(customer.get("email"), None)
        customer.update(fields, updated_at=_now())
        fake.customer_emails[customer["email"]] = customer_id
        return 200, dict(customer)


def list_customers(fake: FakeSaas, request: Request) -> Response:
    """`GET /api/customers[?email=|?ns_id=]` → array of matching customers (lookups)."""
    filters = {k: v for k, v in request.query.items() if k in ("email", "ns_id")}
    with fake.lock:
        found = [
            dict(c)
            for c in fake.customers.values()
            if all(str(c.get(k)) == v for k, v in filters.items())
        ]
    return json_response(200, found)


def create_customer(fake: FakeSaas, request: Request) -> Response:
    """`POST /api/customers` → 201 with the stored customer, or 422 `{"errors":[...]}`."""
    return json_response(*_create(fake, _json_object(request)))


def get_customer(fake: FakeSaas, request: Request, customer_id: str) -> Response:
    with fake.lock:
        customer = fake.customers.get(int(customer_id))
        if customer is None:
            return json_response(
                404, {"errors": [{"message": f"customer {customer_id} not found"}]}
            )
        return json_response(200, customer)


def update_customer(fake: FakeSaas, request: Request, customer_id: str) -> Response:
    """`PUT /api/customers/<id>` merges the fields in; 404 if missing, 422 if invalid."""
    return json_response(*_update(fake, int(customer_id), _json_object(request)))


def batch_customers(fake: FakeSaas, request: Request) -> Response:
    """`POST /api/customers/batch` with an array → 200 with one result per item, in order:
    `{"statusCode": 201|200, "id": n}` or `{"statusCode": 422|404, "errors": [...]}`.
    Items with an `id` update that customer; the others are created."""
    try:
        items = json.loads(request.body)
    except ValueError:
        raise HttpError(400, {"errors": [{"message": "body is not JSON"}]}) from None
    if not isinstance(items, list):
        raise HttpError(422, {"errors": [{"message": "body must be a JSON array"}]})
    results = []
    for item in items:
        if not isinstance(item, dict):
            results.append({"statusCode": 422, "errors": [{"message": "item must be an object"}]})
            continue
        if "id" in item:
            status, body = _update(fake, int(item["id"]), item)
        else:
            status, body = _create(fake, item)
        if status < 300:
            results.append({"statusCode": status, "id": body["id"]})
        else:
            results.append({"statusCode": status, "errors": body["errors"]})
    return json_response(200, results)


# -- items marked as exported (`once` exports) ---------------------------------------------------


def list_items(fake: FakeSaas, request: Request) -> Response:
    """`GET /api/items?exported=false&offset=&limit=` → array of records with an `exported` flag,
    filtered by the flag when `exported` is given."""
    wanted = request.query.get("exported")
    with fake.lock:
        exported = set(fake.exported)
    rows = [
        {**r, "exported": r["id"] in exported}
        for r in fake.records
        if wanted is None or (r["id"] in exported) == (wanted == "true")
    ]
    start = int_param(request, "offset", 0)
    size = page_size(fake, request, "limit")
    return json_response(200, rows[start : start + size], {"X-Total-Count": str(len(rows))})


def mark_exported(fake: FakeSaas, request: Request, item_id: str) -> Response:
    """`PUT /api/items/<id>/exported` sets the record's exported flag; 404 for unknown ids."""
    position = fake.position_of(item_id)
    if position is None:
        return json_response(404, {"errors": [{"message": f"item {item_id} not found"}]})
    record_id = fake.records[position]["id"]
    with fake.lock:
        fake.exported.add(record_id)
    return json_response(200, {"id": record_id, "exported": True})
