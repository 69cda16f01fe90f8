"""Is this delivery from the configured sender? ``verify()`` raises 401 or returns.

``webhook.provider`` with a preset (``presets.PRESETS``: github, shopify, stripe, slack, hubspot)
is checked the provider's way. Every other provider, ``custom`` and no provider use
``webhook.verify`` (reference §3.5):

* ``token``: ``webhook.token`` must equal, by ``tokenLocation``:

  - ``body`` (default): the value at the dot path ``webhook.path`` of the parsed body;
  - ``header``: header ``tokenHeaderName``, written per ``tokenHeaderScheme``: ``bearer`` →
    ``Bearer <token>``, ``custom`` → ``<customTokenScheme> <token>``, ``none`` (default) → the
    token alone. Scheme names compare case-insensitively, as HTTP auth schemes do;
  - ``queryParam``: query parameter ``tokenQueryParamName``.

* ``hmac``: header ``webhook.header`` holds the HMAC of the raw body with ``key``, by
  ``algorithm`` (sha1|sha256|sha384|sha512, default sha256) in ``encoding`` (hex|base64, default
  hex). A ``sha256=``-style prefix is ignored; hex in either case.
* ``basic``: ``Authorization: Basic base64(username:password)``.
* ``secret_url``: the token segment of the URL (``delivery.url_token``) equals ``token``.

Secrets are compared in constant time. A listener missing the setting a check needs refuses
everything (fails closed) with a message naming the setting.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from typing import Any

from integrator.adaptors.webhook.delivery import BadPayload, Delivery, VerificationFailed
from integrator.adaptors.webhook.payloads import parse
from integrator.adaptors.webhook.presets import PRESETS
from integrator.adaptors.webhook.signatures import (
    ALGORITHMS,
    hmac_digest,
    require_header,
    same_secret,
    signature_matches,
    signing_key,
    strip_prefix,
)
from integrator.mapping.datatypes import MISSING
from integrator.mapping.javascript import js_string
from integrator.mapping.paths import compile_getter

__all__ = ["verify"]


def verify(webhook: Mapping[str, Any], delivery: Delivery, *, now: float | None = None) -> None:
    """Raise ``VerificationFailed`` (401) unless the delivery passes the listener's check.

    ``webhook`` is the export's unsealed ``webhook`` block. ``now`` (Unix seconds) is the clock
    for signed timestamps; it defaults to ``delivery.received_at``, so a delivery checked a
    little after it arrived is judged by when it arrived.
    """
    clock = delivery.received_at if now is None else now
    preset = PRESETS.get(str(webhook.get("provider") or "custom"))
    if preset is not None:
        preset(webhook, delivery, clock)
        return
    method = webhook.get("verify")
    check = _CHECKS.get(str(method))
    if check is None:
        raise VerificationFailed(f"The listener's webhook.verify {method!r} is not supported.")
    check(webhook, delivery)


def _setting(webhook: Mapping[str, Any], name: str) -> str:
    value = webhook.get(name)
    if not isinstance(value, str) or not value:
        raise VerificationFailed(f"The listener has no webhook.{name} to verify requests with.")
    return value


def _token(webhook: Mapping[str, Any], delivery: Delivery) -> None:
    token = signing_key(webhook, "token")
    location = webhook.get("tokenLocation") or "body"
    if location == "header":
        name = _setting(webhook, "tokenHeaderName")
        given = require_header(delivery, name).strip()
        scheme = webhook.get("tokenHeaderScheme") or "none"
        if scheme != "none":
            expected_scheme = (
                "Bearer" if scheme == "bearer" else _setting(webhook, "customTokenScheme")
            )
            written, _, given = given.partition(" ")
            given = given.strip()
            if written.lower() != expected_scheme.lower():
                raise VerificationFailed(f"The {name} header does not use the expected scheme.")
        where = f"The {name} header"
    elif location == "queryParam":
        name = _setting(webhook, "tokenQueryParamName")
        values = delivery.query.get(name) or []
        if not values:
            raise VerificationFailed(f"The request has no {name} query parameter.")
        given, where = values[0], f"The {name} query parameter"
    else:
        path = _setting(webhook, "path")
        try:
            body = parse(webhook, delivery)
        except BadPayload as exc:
            raise VerificationFailed(
                f"The token cannot be read from the body: {exc.message}"
            ) from None
        found = compile_getter(path)(body) if body is not None else MISSING
        if found is MISSING or found is None:
            raise VerificationFailed(f"The body has no token at {path!r}.")
        given, where = (
            (found if isinstance(found, str) else js_string(found)),
            f"The token at {path!r}",
        )
    if not same_secret(given, token):
        raise VerificationFailed(f"{where} does not match the listener's token.")


def _hmac(webhook: Mapping[str, Any], delivery: Delivery) -> None:
    key = signing_key(webhook)
    name = _setting(webhook, "header")
    algorithm = webhook.get("algorithm") or "sha256"
    encoding = webhook.get("encoding") or "hex"
    if algorithm not in ALGORITHMS or encoding not in ("hex", "base64"):
        raise VerificationFailed(
            "The listener's webhook.algorithm or webhook.encoding is not supported."
        )
    given = strip_prefix(require_header(delivery, name))
    expected = hmac_digest(key, delivery.body, algorithm)
    if not signature_matches(given, expected, "base64" if encoding == "base64" else "hex"):
        raise VerificationFailed(f"The {name} signature does not match the body.")


_BASIC_CHALLENGE = {"WWW-Authenticate": 'Basic realm="webhook"'}


def _basic(webhook: Mapping[str, Any], delivery: Delivery) -> None:
    username = _setting(webhook, "username")
    password = signing_key(webhook, "password")
    header = delivery.header("authorization")
    if not header:
        raise VerificationFailed("The request has no Authorization header.", _BASIC_CHALLENGE)
    scheme, _, encoded = header.strip().partition(" ")
    if scheme.lower() != "basic":
        raise VerificationFailed("The Authorization header is not Basic.", _BASIC_CHALLENGE)
    try:
        given_user, colon, given_password = (
            base64.b64decode(encoded.strip(), validate=True).decode().partition(":")
        )
    except (binascii.Error, ValueError):
        raise VerificationFailed(
            "The Basic credentials are not valid base64.", _BASIC_CHALLENGE
        ) from None
    # Both compared every time (``&`` not ``and``): timing does not reveal which one was wrong.
    if not colon or not (same_secret(given_user, username) & same_secret(given_password, password)):
        raise VerificationFailed("The username or password is wrong.", _BASIC_CHALLENGE)


def _secret_url(webhook: Mapping[str, Any], delivery: Delivery) -> None:
    token = signing_key(webhook, "token")
    if not delivery.url_token:
        raise VerificationFailed("The URL has no token segment.")
    if not same_secret(delivery.url_token, token):
        raise VerificationFailed("The URL token does not match.")


_CHECKS = {"token": _token, "hmac": _hmac, "basic": _basic, "secret_url": _secret_url}
