"""The building blocks every signature check shares: HMACs, constant-time comparison, clocks.

Signatures arrive as text (hex or base64, sometimes behind a ``sha256=`` prefix). They are
decoded to bytes and compared with the expected digest by ``hmac.compare_digest``, so hex case
does not matter and the comparison takes the same time however many bytes match.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from collections.abc import Mapping
from typing import Any, Literal

from integrator.adaptors.webhook.delivery import Delivery, VerificationFailed

__all__ = [
    "ALGORITHMS",
    "DEFAULT_TOLERANCE",
    "check_timestamp",
    "hmac_digest",
    "require_header",
    "same_secret",
    "signature_matches",
    "signing_key",
    "strip_prefix",
    "tolerance_of",
]

ALGORITHMS = ("sha1", "sha256", "sha384", "sha512")
#: Seconds a signed timestamp may differ from our clock (Stripe, Slack and HubSpot all use 5 min).
DEFAULT_TOLERANCE = 300

# Senders put the algorithm in front of the signature (GitHub ``sha256=``, Typeform ``sha256=``).
_PREFIX = re.compile(r"^(?:hmac-)?sha(?:1|256|384|512)=", re.IGNORECASE)


def hmac_digest(key: str, message: bytes, algorithm: str = "sha256") -> bytes:
    """HMAC of ``message`` with the UTF-8 bytes of ``key``."""
    return hmac.new(key.encode(), message, getattr(hashlib, algorithm)).digest()


def strip_prefix(signature: str) -> str:
    """``"sha256=ab12"`` → ``"ab12"``; a bare signature is returned as is."""
    return _PREFIX.sub("", signature.strip(), count=1)


def _decode(signature: str, encoding: Literal["hex", "base64"]) -> bytes | None:
    try:
        if encoding == "hex":
            return bytes.fromhex(signature)
        # Accept the URL-safe alphabet too: some senders use it, and it is unambiguous.
        return base64.b64decode(signature.translate(str.maketrans("-_", "+/")), validate=True)
    except (ValueError, binascii.Error):
        return None


def signature_matches(
    signature: str, expected: bytes, encoding: Literal["hex", "base64"] = "hex"
) -> bool:
    """Does the text ``signature`` encode ``expected``? Constant-time in the digest bytes."""
    decoded = _decode(signature.strip(), encoding)
    if decoded is None:
        return False
    return hmac.compare_digest(decoded, expected)


def same_secret(given: str, expected: str) -> bool:
    """Constant-time equality of two secrets (UTF-8, so any characters are fine)."""
    return hmac.compare_digest(given.encode(), expected.encode())


def require_header(delivery: Delivery, name: str) -> str:
    """The header's value, or 401 naming the missing header."""
    value = delivery.header(name)
    if value is None or not value.strip():
        raise VerificationFailed(f"The request has no {name} header.")
    return value


def signing_key(webhook: Mapping[str, Any], field: str = "key") -> str:
    """The export's secret; a listener without one refuses every request (fails closed)."""
    value = webhook.get(field)
    if not isinstance(value, str) or not value:
        raise VerificationFailed(f"The listener has no webhook.{field} to verify requests with.")
    return value


def check_timestamp(
    stamp: str, now: float, tolerance: float, *, name: str, milliseconds: bool = False
) -> None:
    """401 unless the signed timestamp ``stamp`` is within ``tolerance`` seconds of ``now``.

    Signed timestamps stop replays: a captured request stops verifying after a few minutes.
    Future timestamps are refused too, by the same margin (clock skew either way).
    """
    try:
        seconds = float(int(stamp.strip()))
    except ValueError:
        raise VerificationFailed(f"The {name} is not a Unix timestamp.") from None
    if milliseconds:
        seconds /= 1000
    if abs(now - seconds) > tolerance:
        raise VerificationFailed(f"The {name} is outside the tolerance of {tolerance:g} seconds.")


def tolerance_of(webhook: Mapping[str, Any]) -> float:
    """``webhook.tolerance`` in seconds, else ``DEFAULT_TOLERANCE``."""
    value = webhook.get("tolerance")
    if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
        return float(value)
    return float(DEFAULT_TOLERANCE)
