"""What a webhook listener receives (``Delivery``), what it answers (``Answer``), and its errors.

The listener route turns the HTTP request into a ``Delivery`` once; everything in this package
is a pure function of the export's ``webhook`` block and that delivery, so verification,
parsing and answers can be tested without a server.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field

from integrator.errors import ErrorItem, IntegratorError

__all__ = ["MEDIA_TYPES", "Answer", "BadPayload", "Delivery", "VerificationFailed"]

#: ``successMediaType``/``challengeSuccessMediaType`` → the Content-Type of the answer.
MEDIA_TYPES = {"json": "application/json", "xml": "application/xml", "plaintext": "text/plain"}


@dataclass(frozen=True)
class Delivery:
    """One request to a listener URL, as received.

    ``url`` is the public URL the sender used (HubSpot signs it, so behind a proxy it must be
    rebuilt from ``X-Forwarded-Proto``/``Host``). ``headers`` have lower-cased names.
    ``url_token`` is the ``{token}`` of ``/v1/exports/{id}/{token}/data`` for ``secret_url``.
    ``received_at`` is the clock that signature timestamps are checked against.
    """

    method: str
    url: str
    headers: Mapping[str, str]
    query: Mapping[str, list[str]]
    body: bytes
    url_token: str | None = None
    received_at: float = field(default_factory=time.time)

    def header(self, name: str) -> str | None:
        """The header ``name`` (any case), or None."""
        return self.headers.get(name.lower())


@dataclass(frozen=True)
class Answer:
    """The HTTP response the listener sends back (a handshake reply or the success answer)."""

    status: int
    media_type: str
    body: bytes
    headers: tuple[tuple[str, str], ...] = ()


class VerificationFailed(IntegratorError):
    """401: the request is not from the configured sender.

    Messages say which check failed or which header is missing, never a secret or the
    expected signature, so a caller cannot learn anything by probing.
    """

    def __init__(self, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(401, [ErrorItem("unauthorized", message)], dict(headers or {}))


class BadPayload(IntegratorError):
    """The body cannot become records.

    ``invalid_payload`` (400): not valid JSON/XML/CSV/form data. ``unsupported_media_type``
    (415): the Content-Type is not one a listener reads, or contradicts ``requestMediaType``.
    """

    STATUS = {"invalid_payload": 400, "unsupported_media_type": 415}

    def __init__(self, code: str, message: str) -> None:
        super().__init__(self.STATUS[code], [ErrorItem(code, message)])
        self.code = code
        self.message = message
