"""Generic ``webhook.verify`` rules: token, hmac, basic, secret_url."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

import pytest

from integrator.adaptors.webhook import Delivery, VerificationFailed, verify

BODY = json.dumps({"auth": {"token": "tok-123"}, "order": 7}).encode()


def delivery(
    headers: dict[str, str] | None = None,
    body: bytes = BODY,
    query: dict[str, list[str]] | None = None,
    url_token: str | None = None,
) -> Delivery:
    return Delivery(
        method="POST",
        url="https://integrator.example.com/v1/exports/e1/data",
        headers={name.lower(): value for name, value in (headers or {}).items()},
        query=query or {},
        body=body,
        url_token=url_token,
    )


def rejected(webhook: dict[str, object], request: Delivery) -> str:
    with pytest.raises(VerificationFailed) as caught:
        verify(webhook, request)
    assert caught.value.status == 401
    assert caught.value.items[0].code == "unauthorized"
    for secret in ("tok-123", "k3y", "hunter2"):
        assert secret not in str(caught.value)
    return str(caught.value)


# --- token ---------------------------------------------------------------------------------


def test_token_in_body_at_dotted_path_is_accepted() -> None:
    webhook = {"verify": "token", "token": "tok-123", "path": "auth.token"}
    verify(webhook, delivery())
    verify({**webhook, "tokenLocation": "body"}, delivery())


def test_token_in_body_rejects_wrong_missing_and_unparseable_bodies() -> None:
    webhook = {"verify": "token", "token": "tok-123", "path": "auth.token"}
    rejected(webhook, delivery(body=b'{"auth": {"token": "tok-124"}}'))
    assert "auth.token" in rejected(webhook, delivery(body=b'{"order": 7}'))
    rejected(webhook, delivery(body=b"{not json"))
    rejected(webhook, delivery(body=b""))


def test_token_in_body_compares_numbers_as_text() -> None:
    verify({"verify": "token", "token": "42", "path": "t"}, delivery(body=b'{"t": 42}'))


@pytest.mark.parametrize(
    ("scheme", "custom", "sent"),
    [
        ("bearer", None, "Bearer tok-123"),
        ("bearer", None, "bearer tok-123"),
        ("custom", "Token", "Token tok-123"),
        ("none", None, "tok-123"),
        (None, None, "tok-123"),
    ],
)
def test_token_in_header_by_scheme_is_accepted(
    scheme: str | None, custom: str | None, sent: str
) -> None:
    webhook = {
        "verify": "token",
        "token": "tok-123",
        "tokenLocation": "header",
        "tokenHeaderName": "X-Auth",
        "tokenHeaderScheme": scheme,
        "customTokenScheme": custom,
    }
    verify(webhook, delivery({"X-Auth": sent}))


def test_token_in_header_rejects_wrong_scheme_wrong_token_and_missing_header() -> None:
    webhook = {
        "verify": "token",
        "token": "tok-123",
        "tokenLocation": "header",
        "tokenHeaderName": "Authorization",
        "tokenHeaderScheme": "bearer",
    }
    rejected(webhook, delivery({"Authorization": "Basic tok-123"}))
    rejected(webhook, delivery({"Authorization": "tok-123"}))
    rejected(webhook, delivery({"Authorization": "Bearer tok-12"}))
    assert "Authorization" in rejected(webhook, delivery({}))
    raw = {**webhook, "tokenHeaderScheme": "none"}
    rejected(raw, delivery({"Authorization": "Bearer tok-123"}))


def test_token_in_query_param_is_accepted_and_checked() -> None:
    webhook = {
        "verify": "token",
        "token": "tok-123",
        "tokenLocation": "queryParam",
        "tokenQueryParamName": "key",
    }
    verify(webhook, delivery(query={"key": ["tok-123"]}))
    rejected(webhook, delivery(query={"key": ["nope"]}))
    assert "key" in rejected(webhook, delivery(query={"other": ["tok-123"]}))


def test_token_listener_missing_its_settings_refuses_everything() -> None:
    assert "webhook.path" in rejected({"verify": "token", "token": "tok-123"}, delivery())
    header = {"verify": "token", "token": "tok-123", "tokenLocation": "header"}
    assert "tokenHeaderName" in rejected(header, delivery({"X-Auth": "tok-123"}))


# --- hmac ----------------------------------------------------------------------------------


@pytest.mark.parametrize("algorithm", ["sha1", "sha256", "sha384", "sha512"])
@pytest.mark.parametrize("encoding", ["hex", "base64"])
def test_hmac_accepts_every_algorithm_and_encoding(algorithm: str, encoding: str) -> None:
    digest = hmac.new(b"k3y", BODY, getattr(hashlib, algorithm)).digest()
    sig = digest.hex() if encoding == "hex" else base64.b64encode(digest).decode()
    webhook = {
        "verify": "hmac",
        "key": "k3y",
        "header": "X-Signature",
        "algorithm": algorithm,
        "encoding": encoding,
    }
    verify(webhook, delivery({"X-Signature": sig}))
    verify(webhook, delivery({"X-Signature": f"{algorithm}={sig}"}))
    rejected(webhook, delivery({"X-Signature": sig}, body=BODY + b"\n"))


def test_hmac_defaults_to_sha256_hex_and_ignores_hex_case() -> None:
    sig = hmac.new(b"k3y", BODY, hashlib.sha256).hexdigest()
    webhook = {"verify": "hmac", "key": "k3y", "header": "X-Signature"}
    verify(webhook, delivery({"X-Signature": sig.upper()}))
    verify(webhook, delivery({"x-signature": "SHA256=" + sig}))


def test_hmac_rejects_wrong_key_garbage_and_missing_header() -> None:
    webhook = {"verify": "hmac", "key": "k3y", "header": "X-Signature"}
    wrong = hmac.new(b"other", BODY, hashlib.sha256).hexdigest()
    rejected(webhook, delivery({"X-Signature": wrong}))
    rejected(webhook, delivery({"X-Signature": "not-hex!"}))
    assert "X-Signature" in rejected(webhook, delivery({}))
    sha1 = hmac.new(b"k3y", BODY, hashlib.sha1).hexdigest()
    rejected(webhook, delivery({"X-Signature": sha1}))


# --- basic ---------------------------------------------------------------------------------


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def test_basic_accepts_the_right_credentials() -> None:
    webhook = {"verify": "basic", "username": "acme", "password": "hunter2"}
    verify(webhook, delivery(basic("acme", "hunter2")))


def test_basic_rejects_wrong_user_wrong_password_and_other_schemes() -> None:
    webhook = {"verify": "basic", "username": "acme", "password": "hunter2"}
    rejected(webhook, delivery(basic("acme", "hunter3")))
    rejected(webhook, delivery(basic("acmf", "hunter2")))
    rejected(webhook, delivery({"Authorization": "Bearer hunter2"}))
    rejected(webhook, delivery({"Authorization": "Basic !!!"}))
    with pytest.raises(VerificationFailed) as caught:
        verify(webhook, delivery({}))
    assert "Authorization" in str(caught.value)
    assert caught.value.headers["WWW-Authenticate"].startswith("Basic")


# --- secret_url ----------------------------------------------------------------------------


def test_secret_url_accepts_only_the_matching_token() -> None:
    webhook = {"verify": "secret_url", "token": "tok-123"}
    verify(webhook, delivery(url_token="tok-123"))
    rejected(webhook, delivery(url_token="tok-124"))
    rejected(webhook, delivery())


def test_unknown_verify_method_refuses_everything() -> None:
    rejected({"verify": "magic"}, delivery())
    rejected({}, delivery())
