"""What scripts logged while hooks ran: ``GET`` and ``DELETE /v1/scripts/{id}/logs``."""

from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from starlette.responses import Response

from integrator.api.auth import app_context, current_principal
from integrator.api.job_routes import UtcTime
from integrator.api.resource_routes import json_response, page_of
from integrator.api.schemas import ERRORS
from integrator.hooks import logs as script_logs
from integrator.resources import REGISTRY
from integrator.resources.service import ResourceService
from integrator.store.accounts import Principal

router = APIRouter()

_LOG_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "Lines, oldest first: "
        '{"time", "level", "message", "function", "_flowId", "_jobId"}'
    },
    204: {"description": "No lines"},
    **ERRORS,
}


@router.get(
    "/scripts/{id}/logs",
    tags=["scripts"],
    summary="What the script logged (console.log, print) while hooks ran, oldest first; "
    "since: only lines logged at or after that time",
    response_model=None,
    responses=_LOG_RESPONSES,
)
def script_logs_get(
    request: Request,
    id: str,
    since: UtcTime | None = None,
    skip: int = Query(0, ge=0, le=10_000_000),
    limit: int = Query(100, ge=1, le=1000),
    principal: Principal = Depends(current_principal),
) -> Response:
    context = app_context(request)
    with context.reading() as connection:
        ResourceService(connection, context.cipher, principal).find(REGISTRY["scripts"], id)
        lines = script_logs.read(
            connection, principal.account_id, id, since=since, skip=skip, limit=limit + 1
        )
    if not lines:
        return Response(status_code=204)
    page, headers = page_of(request, lines, skip, limit)
    return json_response(page, headers=headers)


@router.delete(
    "/scripts/{id}/logs",
    tags=["scripts"],
    summary="Delete what the script logged",
    status_code=204,
    response_model=None,
    responses=ERRORS,
)
def script_logs_delete(
    request: Request, id: str, principal: Principal = Depends(current_principal)
) -> Response:
    context = app_context(request)
    with context.transaction() as session:
        ResourceService(session, context.cipher, principal).find(REGISTRY["scripts"], id)
        script_logs.clear(session, principal.account_id, id)
    return Response(status_code=204)
