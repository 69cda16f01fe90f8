"""The one place where errors become integrator.io's envelope:
``{"errors": [{"code": "...", "message": "...", "field": "..."}]}``."""

from __future__ import annotations

import logging
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from integrator.errors import ErrorItem, IntegratorError
from integrator.resources.base import field_path

log = logging.getLogger("integrator.api")

_STATUS_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    413: "payload_too_large",
    415: "unsupported_media_type",
}


def envelope(
    status: int, items: list[ErrorItem], headers: dict[str, str] | None = None
) -> Response:
    body = orjson.dumps({"errors": [item.as_dict() for item in items]})
    return Response(body, status_code=status, media_type="application/json", headers=headers)


def _request_validation(exc: RequestValidationError) -> Response:
    """Bad JSON is a 400; bad query or path parameters are a 400; a bad document is a 422."""
    items: list[ErrorItem] = []
    status = 422
    for error in exc.errors():
        loc: tuple[Any, ...] = tuple(error.get("loc", ()))
        where = loc[0] if loc else "body"
        if error.get("type") == "json_invalid":
            return envelope(400, [ErrorItem("invalid_json", f"Malformed JSON: {error['msg']}")])
        if where in ("query", "path", "header", "cookie"):
            status = 400
            items.append(ErrorItem("invalid_query_params", error["msg"], field_path(loc[1:])))
            continue
        code = "missing_required_field" if error.get("type") == "missing" else "invalid_field"
        items.append(ErrorItem(code, error["msg"], field_path(loc[1:]) or None))
    return envelope(status, items)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(IntegratorError)
    async def _integrator(_: Request, exc: IntegratorError) -> Response:
        return envelope(exc.status, exc.items, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> Response:
        return _request_validation(exc)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> Response:
        code = _STATUS_CODES.get(exc.status_code, "error")
        message = exc.detail if isinstance(exc.detail, str) else "Request failed."
        return envelope(exc.status_code, [ErrorItem(code, message)], dict(exc.headers or {}))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return envelope(500, [ErrorItem("internal_error", "Internal server error.")])
