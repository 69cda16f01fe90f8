"""Actions on a connection: ping a saved or an unsaved connection, and run part of an
adaptor's pipeline without saving anything.

``GET /v1/connections/{id}/ping`` tests a saved connection and records the answer in its
``offline`` flag; ``POST /v1/connections/ping`` tests the connection in the body.
``POST /v1/connections/{id}/import/map`` (seed 004) evaluates only the mapping step of a
virtual import and returns the post-mapped records.
"""

import logging
from typing import Any

from fastapi import APIRouter, Body, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from integrator.adaptors.http.auth import AuthFailed, TokenListener, UnsupportedAuth
from integrator.adaptors.http.debuglog import DebugLog
from integrator.adaptors.registry import AdaptorUnavailable, PingFailed, ping
from integrator.api.auth import app_context, current_principal
from integrator.api.invoke_routes import Run, validated_virtual
from integrator.api.resource_routes import json_response
from integrator.api.schemas import ERRORS
from integrator.engine.debugging import debug_log_for
from integrator.engine.hooks import Extensions, HookError
from integrator.errors import ValidationFailed
from integrator.mapping import map_records
from integrator.resources import REGISTRY
from integrator.resources.base import check_json_storable, validate_document
from integrator.resources.service import ResourceService
from integrator.store.accounts import Principal
from integrator.store.repository import list_debug_entries

log = logging.getLogger("integrator.api")
router = APIRouter()

MAX_RECORDS = 1000


class VirtualImport(BaseModel):
    """``{"import": {...an import document...}, "data": [records]}``."""

    model_config = ConfigDict(populate_by_name=True)

    import_: dict[str, Any] = Field(alias="import")
    data: list[dict[str, Any]]


class MappedRecord(BaseModel):
    """One input record's outcome, in input order (the shape of a virtual import's results)."""

    model_config = ConfigDict(populate_by_name=True)

    statusCode: int
    json_: dict[str, Any] | None = Field(default=None, alias="_json")
    errors: list[dict[str, Any]] | None = None


class PingAnswer(BaseModel):
    code: int


def _ping(
    connection: dict[str, Any],
    extensions: Extensions,
    debug: DebugLog | None = None,
    on_token: TokenListener | None = None,
) -> str | None:
    """None when the connection answers its ping, else why not."""
    try:
        ping(connection, debug, on_token, extensions=extensions)
    except (PingFailed, AuthFailed, AdaptorUnavailable, UnsupportedAuth, HookError) as exc:
        return str(exc) or type(exc).__name__
    except Exception as exc:  # a broken connection must never make the ping route a 500
        log.warning("ping raised %s", type(exc).__name__)
        return f"The ping could not be sent: {type(exc).__name__}."
    return None


def _ping_failed(reason: str) -> ValidationFailed:
    return ValidationFailed.one("ping_failed", reason)


@router.get(
    "/connections/{id}/ping",
    tags=["connections"],
    summary="Test a saved connection; a failure sets it offline, a success online",
    response_model=PingAnswer,
    responses=ERRORS,
)
async def ping_saved_connection(
    request: Request, id: str, principal: Principal = Depends(current_principal)
) -> Response:
    context = app_context(request)
    rtype = REGISTRY["connections"]
    document = await context.read(
        lambda db: ResourceService(db, context.cipher, principal).unsealed(rtype, id)
    )
    debug = debug_log_for(document)
    run = Run(context, principal, id)
    reason = await run_in_threadpool(_ping, document, run.extensions(), debug, run.token_listener())
    await run.save(debug)

    def record(offline: bool) -> None:
        with context.transaction() as session:
            ResourceService(session, context.cipher, principal).set_offline(rtype, id, offline)

    await run_in_threadpool(record, reason is not None)
    if reason is not None:
        raise _ping_failed(reason)
    return json_response({"code": 200})


@router.post(
    "/connections/ping",
    tags=["connections"],
    summary="Test a connection given in the body, without saving it",
    response_model=PingAnswer,
    responses=ERRORS,
)
async def ping_unsaved_connection(
    request: Request,
    body: dict[str, Any] = Body(),
    principal: Principal = Depends(current_principal),
) -> Response:
    document = validate_document(REGISTRY["connections"], body)
    extensions = Run(app_context(request), principal, "").extensions()
    reason = await run_in_threadpool(_ping, document, extensions)
    if reason is not None:
        raise _ping_failed(reason)
    return json_response({"code": 200})


_DEBUG_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"description": "Entries, newest first"},
    204: {"description": "No entries"},
    **ERRORS,
}


@router.get(
    "/connections/{id}/debug",
    tags=["connections"],
    summary="The connection's debug log (requests sent while debugDate was in the future)",
    response_model=None,
    responses={
        200: {"description": "Entries, newest first"},
        204: {"description": "None"},
        **ERRORS,
    },
)
@router.get(
    "/connections/{id}/debug/{resource_id}",
    tags=["connections"],
    summary="The connection's debug log for one export or import",
    response_model=None,
    responses={
        200: {"description": "Entries, newest first"},
        204: {"description": "None"},
        **ERRORS,
    },
)
async def connection_debug_log(
    request: Request,
    id: str,
    resource_id: str | None = None,
    limit: int = Query(100, ge=1, le=1000),
    principal: Principal = Depends(current_principal),
) -> Response:
    context = app_context(request)

    def read(db: Any) -> list[Any]:
        ResourceService(db, context.cipher, principal).find(REGISTRY["connections"], id)
        return list_debug_entries(db, principal.account_id, id, resource_id, limit)

    entries = await context.read(read)
    return json_response(entries) if entries else Response(status_code=204)


@router.post(
    "/connections/{id}/import/map",
    tags=["connections"],
    summary="Run only the mapping step of a virtual import",
    response_model=None,
    responses={
        200: {"model": list[MappedRecord], "description": "One result per record, in order"},
        **ERRORS,
    },
)
async def map_virtual_import(
    request: Request,
    id: str,
    body: VirtualImport = Body(),
    principal: Principal = Depends(current_principal),
) -> Response:
    if len(body.data) > MAX_RECORDS:
        raise ValidationFailed.one(
            "invalid_field", f"At most {MAX_RECORDS} records per call.", "data"
        )
    check_json_storable({"data": body.data})
    context = app_context(request)
    await context.read(
        lambda db: ResourceService(db, context.cipher, principal).find(REGISTRY["connections"], id)
    )
    import_doc = validated_virtual("import", body.import_, id)
    results = await run_in_threadpool(map_records, import_doc, body.data)
    out: list[dict[str, Any]] = []
    for result in results:
        if result.errors:
            out.append({"statusCode": 422, "errors": list(result.errors)})
        else:
            out.append({"statusCode": 200, "_json": result.record})
    return json_response(out)
