"""Provider presets: each signature is computed here the provider's documented way."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

import pytest

from integrator.adaptors.webhook import Delivery, VerificationFailed, challenge, verify

SECRET = "s3cr3t-signing-key"
BODY = json.dumps({"id": "evt_1", "type": "order.created"}).encode()
NOW = 1_700_000_000.0


def delivery(headers: dict[str, str], body: bytes = BODY, **kw: object) -> Delivery:
    return Delivery(
        method=str(kw.get("method", "POST")),
        url=str(kw.get("url", "https://integrator.example.com/v1/exports/e1/data")),
        headers={name.lower(): value for name, value in headers.items()},
        query={},
        body=body,
        received_at=NOW,
    )


def hook(provider: str, **extra: object) -> dict[str, object]:
    return {"provider": provider, "verify": "hmac", "key": SECRET, "header": "x", **extra}


def rejected(webhook: dict[str, object], request: Delivery) -> str:
    with pytest.raises(VerificationFailed) as caught:
        verify(webhook, request)
    assert caught.value.status == 401
    assert SECRET not in str(caught.value)
    return str(caught.value)


# --- GitHub --------------------------------------------------------------------------------


def github_sig(body: bytes, algorithm: str = "sha256", secret: str = SECRET) -> str:
    return f"{algorithm}=" + hmac.new(secret.encode(), body, algorithm).hexdigest()


def test_github_accepts_sha256_signature() -> None:
    verify(hook("github"), delivery({"X-Hub-Signature-256": github_sig(BODY)}))


def test_github_falls_back_to_sha1_only_when_sha256_header_is_absent() -> None:
    verify(hook("github"), delivery({"X-Hub-Signature": github_sig(BODY, "sha1")}))
    both = {
        "X-Hub-Signature-256": "sha256=" + "0" * 64,
        "X-Hub-Signature": github_sig(BODY, "sha1"),
    }
    rejected(hook("github"), delivery(both))


def test_github_rejects_wrong_secret_tampered_body_and_missing_header() -> None:
    rejected(hook("github"), delivery({"X-Hub-Signature-256": github_sig(BODY, secret="other")}))
    rejected(hook("github"), delivery({"X-Hub-Signature-256": github_sig(BODY)}, body=BODY + b" "))
    assert "X-Hub-Signature-256" in rejected(hook("github"), delivery({}))


def test_github_requires_the_sha256_prefix() -> None:
    bare = hmac.new(SECRET.encode(), BODY, "sha256").hexdigest()
    rejected(hook("github"), delivery({"X-Hub-Signature-256": bare}))


def test_preset_without_key_refuses_every_request() -> None:
    webhook = hook("github")
    del webhook["key"]
    assert "webhook.key" in rejected(webhook, delivery({"X-Hub-Signature-256": github_sig(BODY)}))


# --- Shopify -------------------------------------------------------------------------------


def shopify_sig(body: bytes, secret: str = SECRET) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def test_shopify_accepts_base64_hmac() -> None:
    verify(hook("shopify"), delivery({"X-Shopify-Hmac-Sha256": shopify_sig(BODY)}))


def test_shopify_rejects_wrong_missing_and_hex_signatures() -> None:
    rejected(hook("shopify"), delivery({"X-Shopify-Hmac-Sha256": shopify_sig(BODY, "nope")}))
    rejected(hook("shopify"), delivery({}))
    hexed = hmac.new(SECRET.encode(), BODY, hashlib.sha256).hexdigest()
    rejected(hook("shopify"), delivery({"X-Shopify-Hmac-Sha256": hexed}))


# --- Stripe --------------------------------------------------------------------------------


def stripe_v1(t: int, body: bytes, secret: str = SECRET) -> str:
    return hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()


def test_stripe_accepts_signature_within_tolerance() -> None:
    t = int(NOW) - 120
    verify(hook("stripe"), delivery({"Stripe-Signature": f"t={t},v1={stripe_v1(t, BODY)}"}))


def test_stripe_accepts_any_of_several_v1_signatures_and_ignores_v0() -> None:
    t = int(NOW)
    header = f"t={t},v1={'ab' * 32},v1={stripe_v1(t, BODY)},v0={'cd' * 32}"
    verify(hook("stripe"), delivery({"Stripe-Signature": header}))


def test_stripe_rejects_stale_and_future_timestamps() -> None:
    for t in (int(NOW) - 301, int(NOW) + 301):
        message = rejected(
            hook("stripe"), delivery({"Stripe-Signature": f"t={t},v1={stripe_v1(t, BODY)}"})
        )
        assert "outside the tolerance" in message


def test_stripe_tolerance_is_configurable() -> None:
    t = int(NOW) - 600
    header = {"Stripe-Signature": f"t={t},v1={stripe_v1(t, BODY)}"}
    verify(hook("stripe", tolerance=900), delivery(header))
    rejected(
        hook("stripe", tolerance=60), delivery({"Stripe-Signature": f"t={int(NOW) - 61},v1=x"})
    )


def test_stripe_rejects_wrong_signature_missing_parts_and_missing_header() -> None:
    t = int(NOW)
    rejected(hook("stripe"), delivery({"Stripe-Signature": f"t={t},v1={stripe_v1(t, BODY, 'x')}"}))
    rejected(hook("stripe"), delivery({"Stripe-Signature": f"v1={stripe_v1(t, BODY)}"}))
    rejected(hook("stripe"), delivery({"Stripe-Signature": f"t={t}"}))
    # The timestamp is signed: moving it invalidates the signature.
    rejected(hook("stripe"), delivery({"Stripe-Signature": f"t={t - 1},v1={stripe_v1(t, BODY)}"}))
    assert "Stripe-Signature" in rejected(hook("stripe"), delivery({}))


def test_now_argument_overrides_received_at() -> None:
    t = int(NOW)
    request = delivery({"Stripe-Signature": f"t={t},v1={stripe_v1(t, BODY)}"})
    with pytest.raises(VerificationFailed, match="outside the tolerance"):
        verify(hook("stripe"), request, now=NOW + 1000)


# --- Slack ---------------------------------------------------------------------------------


def slack_headers(ts: int, body: bytes = BODY, secret: str = SECRET) -> dict[str, str]:
    base = f"v0:{ts}:".encode() + body
    return {
        "X-Slack-Request-Timestamp": str(ts),
        "X-Slack-Signature": "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest(),
    }


def test_slack_accepts_v0_signature() -> None:
    verify(hook("slack"), delivery(slack_headers(int(NOW) - 10)))


def test_slack_rejects_stale_wrong_and_missing() -> None:
    assert "outside the tolerance" in rejected(
        hook("slack"), delivery(slack_headers(int(NOW) - 301))
    )
    rejected(hook("slack"), delivery(slack_headers(int(NOW), secret="other")))
    no_stamp = slack_headers(int(NOW))
    del no_stamp["X-Slack-Request-Timestamp"]
    assert "X-Slack-Request-Timestamp" in rejected(hook("slack"), delivery(no_stamp))
    assert "X-Slack-Signature" in rejected(hook("slack"), delivery({}))


def test_slack_url_verification_is_answered_with_the_challenge() -> None:
    body = json.dumps({"token": "t", "challenge": "3eZbrw1aB", "type": "url_verification"})
    request = delivery(slack_headers(int(NOW), body.encode()), body.encode())
    verify(hook("slack"), request)
    answer = challenge(hook("slack"), request)
    assert answer is not None
    assert (answer.status, answer.media_type, answer.body) == (200, "text/plain", b"3eZbrw1aB")
    assert challenge(hook("slack"), delivery({}, BODY)) is None


# --- HubSpot -------------------------------------------------------------------------------

HUBSPOT_URL = "https://integrator.example.com/v1/exports/e1/data?portal=62515&name=a%3Ab"


def hubspot_v3(method: str, uri: str, body: bytes, ts: str, secret: str = SECRET) -> str:
    # HubSpot's docs: decode these escapes in the URI, then sign method + uri + body + timestamp.
    for escaped, char in {"%3A": ":", "%2F": "/", "%3F": "?", "%40": "@", "%21": "!", "%24": "$",
                          "%27": "'", "%28": "(", "%29": ")", "%2A": "*", "%2C": ",",
                          "%3B": ";"}.items():  # fmt: skip
        uri = uri.replace(escaped, char)
    source = f"{method}{uri}".encode() + body + ts.encode()
    return base64.b64encode(hmac.new(secret.encode(), source, hashlib.sha256).digest()).decode()


def test_hubspot_v3_accepts_signature_over_method_url_body_and_timestamp() -> None:
    ts = str(int(NOW * 1000) - 5000)
    headers = {
        "X-HubSpot-Signature-v3": hubspot_v3("POST", HUBSPOT_URL, BODY, ts),
        "X-HubSpot-Request-Timestamp": ts,
    }
    verify(hook("hubspot"), delivery(headers, url=HUBSPOT_URL))


def test_hubspot_v3_rejects_other_url_stale_timestamp_and_missing_timestamp() -> None:
    ts = str(int(NOW * 1000))
    headers = {
        "X-HubSpot-Signature-v3": hubspot_v3("POST", HUBSPOT_URL, BODY, ts),
        "X-HubSpot-Request-Timestamp": ts,
    }
    rejected(hook("hubspot"), delivery(headers, url=HUBSPOT_URL + "&x=1"))
    rejected(hook("hubspot"), delivery(headers, url=HUBSPOT_URL, method="PUT"))
    stale = str(int(NOW * 1000) - 301_000)
    old = {
        "X-HubSpot-Signature-v3": hubspot_v3("POST", HUBSPOT_URL, BODY, stale),
        "X-HubSpot-Request-Timestamp": stale,
    }
    assert "outside the tolerance" in rejected(hook("hubspot"), delivery(old, url=HUBSPOT_URL))
    del headers["X-HubSpot-Request-Timestamp"]
    assert "X-HubSpot-Request-Timestamp" in rejected(
        hook("hubspot"), delivery(headers, url=HUBSPOT_URL)
    )


def test_hubspot_v1_and_v2_signatures_are_accepted_when_v3_is_absent() -> None:
    v1 = hashlib.sha256(SECRET.encode() + BODY).hexdigest()
    verify(hook("hubspot"), delivery({"X-HubSpot-Signature": v1}))
    v2 = hashlib.sha256(f"{SECRET}POST{HUBSPOT_URL}".encode() + BODY).hexdigest()
    headers = {"X-HubSpot-Signature": v2, "X-HubSpot-Signature-Version": "v2"}
    verify(hook("hubspot"), delivery(headers, url=HUBSPOT_URL))
    rejected(hook("hubspot"), delivery({"X-HubSpot-Signature": v2}))
    rejected(hook("hubspot"), delivery({}))


# --- Providers without a preset ------------------------------------------------------------


def test_providers_without_preset_use_the_generic_verify_fields() -> None:
    # Typeform: Typeform-Signature: sha256=<base64 HMAC-SHA256(body)>.
    sig = base64.b64encode(hmac.new(SECRET.encode(), BODY, hashlib.sha256).digest()).decode()
    webhook = {
        "provider": "typeform",
        "verify": "hmac",
        "key": SECRET,
        "header": "Typeform-Signature",
        "encoding": "base64",
    }
    verify(webhook, delivery({"Typeform-Signature": f"sha256={sig}"}))
    rejected(webhook, delivery({"Typeform-Signature": "sha256=AAAA"}))
    jira = {"provider": "jira", "verify": "secret_url", "token": "tok"}
    rejected(jira, delivery({}))
