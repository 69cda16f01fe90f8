"""Typed errors raised anywhere inside Integrator.

The API turns each into the integrator.io error envelope in one place
(``integrator.api.errors``): ``{"errors": [{"code", "message", "field"}]}``.
"""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field as dc_field


@dataclass
class ErrorItem:
    """One entry of the error envelope."""

    code: str
    message: str
    field: str | None = None

    def as_dict(self) -> dict[str, str]:
        out = {"code": self.code, "message": self.message}
        if self.field is not None:
            out["field"] = self.field
        return out


@dataclass
class IntegratorError(Exception):
    """Base class: an HTTP status and one or more error items."""

    status: int
    items: list[ErrorItem] = dc_field(default_factory=list)
    headers: dict[str, str] = dc_field(default_factory=dict)

    def __str__(self) -> str:
        return "; ".join(f"{i.code}: {i.message}" for i in self.items)


class BadRequest(IntegratorError):
    """400: the request itself is malformed (bad JSON, bad query parameters)."""

    def __init__(self, code: str, message: str, field: str | None = None) -> None:
        super().__init__(400, [ErrorItem(code, message, field)])


class Unauthorized(IntegratorError):
    """401: no token, or a token that is unknown or revoked."""

    def __init__(self, message: str = "Missing or invalid bearer token.") -> None:
        super().__init__(401, [ErrorItem("unauthorized", message)], {"WWW-Authenticate": "Bearer"})


class Forbidden(IntegratorError):
    """403: the token is valid but may not do this (connector ownership)."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(403, [ErrorItem("forbidden", message, field)])


class NotFound(IntegratorError):
    """404: no such resource in the caller's account (never says whether another has it)."""

    def __init__(self, message: str = "Resource not found.", code: str = "not_found") -> None:
        super().__init__(404, [ErrorItem(code, message)])


class PayloadTooLarge(IntegratorError):
    """413: the request body exceeds ``INTEGRATOR_MAX_BODY_BYTES``."""

    def __init__(self, limit: int) -> None:
        super().__init__(
            413, [ErrorItem("payload_too_large", f"Request body exceeds {limit} bytes.")]
        )


class ValidationFailed(IntegratorError):
    """422: the document is well-formed JSON but breaks a rule of its resource type."""

    def __init__(self, items: list[ErrorItem]) -> None:
        super().__init__(422, items)

    @classmethod
    def one(cls, code: str, message: str, field: str | None = None) -> ValidationFailed:
        return cls([ErrorItem(code, message, field)])


class RateLimited(IntegratorError):
    """429: the account's token bucket is empty."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(
            429,
            [
                ErrorItem(
                    "rate_limited",
                    f"Too many requests. Retry after {retry_after} seconds.",
                )
            ],
            {"Retry-After": str(retry_after)},
        )
