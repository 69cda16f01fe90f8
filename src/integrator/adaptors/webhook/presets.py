"""Providers whose signatures integrator.io checks their own documented way (``webhook.provider``).

Each preset reads the provider's own headers and signs what the provider signs, with
``webhook.key`` as the signing secret; the generic ``verify``/``header``/``algorithm`` fields are
ignored for them. Providers that sign with a plain body HMAC (jira, mailchimp, typeform,
intercom, …) or use tokens have no preset: the generic ``webhook.verify`` rules already describe
them exactly, so ``PRESETS`` has no entry and ``verify()`` uses those fields.

Timestamped schemes (stripe, slack, hubspot v3) refuse a timestamp more than ``webhook.tolerance``
seconds (default 300) away from the delivery's ``received_at``, in either direction.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from typing import Any

from integrator.adaptors.webhook.delivery import Answer, Delivery, VerificationFailed
from integrator.adaptors.webhook.signatures import (
    check_timestamp,
    hmac_digest,
    require_header,
    signature_matches,
    signing_key,
    tolerance_of,
)

__all__ = ["PRESETS", "Preset", "slack_challenge"]

#: A preset check: raises VerificationFailed, or returns when the request is genuine.
Preset = Callable[[Mapping[str, Any], Delivery, float], None]


def github(webhook: Mapping[str, Any], delivery: Delivery, now: float) -> None:
    """GitHub: ``X-Hub-Signature-256: sha256=<hex HMAC-SHA256(key, body)>``.

    Old GitHub Enterprise servers send only ``X-Hub-Signature: sha1=<hex HMAC-SHA1(key, body)>``;
    that is accepted only when the SHA-256 header is absent, so it cannot downgrade a request.
    """
    key = signing_key(webhook)
    if delivery.header("X-Hub-Signature-256") is not None:
        given = require_header(delivery, "X-Hub-Signature-256")
        prefix, algorithm = "sha256=", "sha256"
    elif delivery.header("X-Hub-Signature") is not None:
        given = require_header(delivery, "X-Hub-Signature")
        prefix, algorithm = "sha1=", "sha1"
    else:
        raise VerificationFailed("The request has no X-Hub-Signature-256 header.")
    if not given.startswith(prefix) or not signature_matches(
        given[len(prefix) :], hmac_digest(key, delivery.body, algorithm)
    ):
        raise VerificationFailed("The GitHub signature does not match the body.")


def shopify(webhook: Mapping[str, Any], delivery: Delivery, now: float) -> None:
    """Shopify: ``X-Shopify-Hmac-Sha256: <base64 HMAC-SHA256(key, body)>``."""
    given = require_header(delivery, "X-Shopify-Hmac-Sha256")
    expected = hmac_digest(signing_key(webhook), delivery.body)
    if not signature_matches(given, expected, "base64"):
        raise VerificationFailed("The Shopify signature does not match the body.")


def stripe(webhook: Mapping[str, Any], delivery: Delivery, now: float) -> None:
    """Stripe: ``Stripe-Signature: t=<unix seconds>,v1=<hex>[,v1=<hex>…][,v0=…]``.

    Each ``v1`` is ``hex(HMAC-SHA256(key, f"{t}.{body}"))``; any one may match (Stripe sends
    several while a secret is being rolled). ``v0`` (test-mode scheme) is ignored. ``key`` is
    the endpoint secret as shown, ``whsec_…`` included.
    """
    header = require_header(delivery, "Stripe-Signature")
    stamps: list[str] = []
    signatures: list[str] = []
    for item in header.split(","):
        name, _, value = item.strip().partition("=")
        if name == "t":
            stamps.append(value)
        elif name == "v1":
            signatures.append(value)
    if len(stamps) != 1 or not signatures:
        raise VerificationFailed("The Stripe-Signature header has no timestamp or no v1 signature.")
    key = signing_key(webhook)
    check_timestamp(stamps[0], now, tolerance_of(webhook), name="Stripe-Signature timestamp")
    expected = hmac_digest(key, stamps[0].encode() + b"." + delivery.body)
    # Check all of them (no early exit) so timing does not tell which one matched.
    matches = [signature_matches(signature, expected) for signature in signatures]
    if not any(matches):
        raise VerificationFailed("No Stripe v1 signature matches the body.")


def slack(webhook: Mapping[str, Any], delivery: Delivery, now: float) -> None:
    """Slack: ``X-Slack-Signature: v0=<hex HMAC-SHA256(key, f"v0:{timestamp}:{body}")>``.

    ``timestamp`` is the ``X-Slack-Request-Timestamp`` header (Unix seconds), checked against
    the tolerance. ``key`` is the app's signing secret.
    """
    given = require_header(delivery, "X-Slack-Signature")
    stamp = require_header(delivery, "X-Slack-Request-Timestamp").strip()
    key = signing_key(webhook)
    check_timestamp(stamp, now, tolerance_of(webhook), name="X-Slack-Request-Timestamp")
    expected = hmac_digest(key, b"v0:" + stamp.encode() + b":" + delivery.body)
    if not given.startswith("v0=") or not signature_matches(given[3:], expected):
        raise VerificationFailed("The Slack signature does not match the body.")


# HubSpot v3 signs the URI with exactly these escapes decoded (its docs list them); others stay.
_HUBSPOT_DECODE = {
    "%3A": ":", "%2F": "/", "%3F": "?", "%40": "@", "%21": "!", "%24": "$",
    "%27": "'", "%28": "(", "%29": ")", "%2A": "*", "%2C": ",", "%3B": ";",
}  # fmt: skip


def _hubspot_uri(url: str) -> str:
    for escaped, char in _HUBSPOT_DECODE.items():
        url = url.replace(escaped, char).replace(escaped.lower(), char)
    return url


def hubspot(webhook: Mapping[str, Any], delivery: Delivery, now: float) -> None:
    """HubSpot, with ``key`` the app's client secret.

    * v3 (``X-HubSpot-Signature-v3`` present): ``base64(HMAC-SHA256(key, method + uri + body +
      timestamp))`` where ``timestamp`` is ``X-HubSpot-Request-Timestamp`` (Unix
      milliseconds, checked against the tolerance) and ``uri`` is the full URL the request was
      sent to, with ``%3A %2F %3F %40 %21 %24 %27 %28 %29 %2A %2C %3B`` decoded.
    * otherwise ``X-HubSpot-Signature`` (no timestamp, so no replay protection): v1
      ``hex(SHA-256(key + body))``, or v2 ``hex(SHA-256(key + method + uri + body))`` when
      ``X-HubSpot-Signature-Version: v2``.
    """
    key = signing_key(webhook)
    method = delivery.method.upper().encode()
    if delivery.header("X-HubSpot-Signature-v3") is not None:
        given = require_header(delivery, "X-HubSpot-Signature-v3")
        stamp = require_header(delivery, "X-HubSpot-Request-Timestamp").strip()
        check_timestamp(
            stamp, now, tolerance_of(webhook), name="X-HubSpot-Request-Timestamp", milliseconds=True
        )
        message = method + _hubspot_uri(delivery.url).encode() + delivery.body + stamp.encode()
        if not signature_matches(given, hmac_digest(key, message), "base64"):
            raise VerificationFailed("The HubSpot v3 signature does not match the request.")
        return
    if delivery.header("X-HubSpot-Signature") is None:
        raise VerificationFailed("The request has no X-HubSpot-Signature-v3 header.")
    given = require_header(delivery, "X-HubSpot-Signature")
    version = (delivery.header("X-HubSpot-Signature-Version") or "v1").strip().lower()
    if version == "v2":
        source = key.encode() + method + delivery.url.encode() + delivery.body
    else:
        source = key.encode() + delivery.body
    if not signature_matches(given, hashlib.sha256(source).digest()):
        raise VerificationFailed(f"The HubSpot {version} signature does not match the request.")


#: ``webhook.provider`` → its check. Providers not listed use the generic ``webhook.verify``.
PRESETS: dict[str, Preset] = {
    "github": github,
    "shopify": shopify,
    "stripe": stripe,
    "slack": slack,
    "hubspot": hubspot,
}


def slack_challenge(payload: Any) -> Answer | None:
    """Slack's Events API handshake: ``{"type": "url_verification", "challenge": "…"}``.

    Slack sends it (signed) when the request URL is saved and expects the challenge back as
    plain text; it is not an event, so nothing is stored.
    """
    if not isinstance(payload, dict) or payload.get("type") != "url_verification":
        return None
    value = payload.get("challenge")
    if not isinstance(value, str):
        return None
    return Answer(200, "text/plain", value.encode())
