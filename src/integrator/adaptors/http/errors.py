"""Errors of the HTTP connection client (not API errors: the caller decides what they mean)."""

from __future__ import annotations

__all__ = ["HttpAdaptorError", "PingFailed", "RequestFailed"]


class HttpAdaptorError(Exception):
    """Base of the errors this client raises."""


class RequestFailed(HttpAdaptorError):
    """A request failed for good: server errors or network errors outlasted every attempt.

    ``status`` is ``None`` for network errors; ``body`` is the start of the last response body.
    """

    def __init__(
        self, message: str, *, status: int | None = None, body: str = "", url: str = ""
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.body = body
        self.url = url


class _Transient(RequestFailed):
    """Raised inside the retry loop for what is worth another attempt."""


class PingFailed(HttpAdaptorError):
    """The connection's ping did not succeed; the message says why."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
