"""Webhook listener exports (reference §3.5): the parts that need no server or database.

``verify`` (401 unless the request is genuine), ``challenge`` (subscription handshakes),
``records`` (body → records), ``success`` (the answer after storing). The listener route
builds one ``Delivery`` per request and calls them in that order.
"""

from integrator.adaptors.webhook.delivery import Answer, BadPayload, Delivery, VerificationFailed
from integrator.adaptors.webhook.payloads import media_kind, parse, records
from integrator.adaptors.webhook.presets import PRESETS
from integrator.adaptors.webhook.responses import challenge, success
from integrator.adaptors.webhook.signatures import DEFAULT_TOLERANCE
from integrator.adaptors.webhook.verify import verify

__all__ = [
    "DEFAULT_TOLERANCE",
    "PRESETS",
    "Answer",
    "BadPayload",
    "Delivery",
    "VerificationFailed",
    "challenge",
    "media_kind",
    "parse",
    "records",
    "success",
    "verify",
]
