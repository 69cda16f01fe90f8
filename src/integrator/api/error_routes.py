"""Error management of a flow, step by step (reference §6.5, docs.celigo.com).

=======  ==============================================  =========================================
``GET``  ``/v1/flows/{flowId}/errors``                   ``{"flowErrors": [per-step counts]}``
``GET``  ``/v1/flows/{flowId}/{stepId}/errors``          ``{"errors": [open errors]}``
``GET``  ``/v1/flows/{flowId}/{stepId}/resolved``        ``{"resolved": [resolved errors]}``
``PUT``  ``/v1/flows/{flowId}/{stepId}/resolved``        ``{"errors": [errorId…]}`` → 204
``POST`` ``/v1/flows/{flowId}/{stepId}/retry``           ``{"retryDataKeys"|"errorIds": […]}``
                                                         → 201 the retry job
``GET``  ``/v1/flows/{flowId}/{stepId}/retryData/{key}`` ``{"data", "stage", "traceKey"}``
``PUT``  ``/v1/flows/{flowId}/{stepId}/retryData/{key}`` ``{"data": {…}}`` → 200 the same shape
=======  ==============================================  =========================================

The per-step lists answer 200 with the error records under ``"errors"``, as integrator.io
does (oldest first, ``limit`` ≤ 1000, filters ``occurredAt_gte``, ``occurredAt_lte``,
``source``); the error envelope shares that key but comes with a 4xx status. A step is an
export or import the flow runs (``engine.job_queries.flow_step_ids``), or one that recorded
errors in the flow before it was removed; anything else is a 404, as is another account's flow.
Resolved errors can't be retried: 422 ``error_resolved``. The legacy job error and retry
endpoints are in ``retry_routes``.
"""

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Query, Request
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session
from starlette.responses import Response

from integrator.api.auth import app_context, current_principal
from integrator.api.context import AppContext
from integrator.api.job_routes import JobView, UtcTime, load_flow
from integrator.api.resource_routes import json_response
from integrator.api.schemas import ERRORS
from integrator.engine import job_queries, joberrors
from integrator.errors import NotFound, ValidationFailed
from integrator.ids import is_object_id
from integrator.resources.base import check_json_storable
from integrator.store.accounts import Principal
from integrator.store.models import JobError

router = APIRouter()

MAX_ERRORS = 1000
#: How many ids one resolve or retry call may name.
MAX_IDS = 10_000
#: Ids and keys as clients send them (no database stores a NUL in a string).
RetryKey = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[^\x00]+$")]
ErrorId = Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[^\x00]+$")]
OK: dict[int | str, dict[str, Any]] = {200: {"description": "OK"}, **ERRORS}


class StepErrorQuery(BaseModel):
    """Query of the per-step error lists."""

    occurredAt_gte: UtcTime | None = None
    occurredAt_lte: UtcTime | None = None
    source: str | None = Field(None, max_length=40, pattern="^[a-z_]+$")
    limit: int = Field(MAX_ERRORS, ge=1, le=MAX_ERRORS)


class ResolveRequest(BaseModel):
    """``{"errors": ["<errorId>", ...]}``."""

    errors: list[ErrorId] = Field(max_length=MAX_IDS)


class RetryRequest(BaseModel):
    """``{"retryDataKeys": [...]}`` or ``{"errorIds": [...]}`` (one of them)."""

    retryDataKeys: list[RetryKey] | None = Field(None, max_length=MAX_IDS)
    errorIds: list[ErrorId] | None = Field(None, max_length=MAX_IDS)


class RetryDataUpdate(BaseModel):
    """``{"data": {...the record...}}``; ``stage`` and ``traceKey`` sent back are ignored."""

    data: dict[str, Any]


def _load_step(
    session: Session, context: AppContext, principal: Principal, flow_id: str, step_id: str
) -> None:
    """404 unless the flow is the caller's and ``step_id`` is one of its steps."""
    flow = load_flow(session, context, principal, flow_id)
    if step_id in job_queries.flow_step_ids(flow.doc):
        return
    if not is_object_id(step_id) or not job_queries.step_has_errors(
        session, principal.account_id, flow_id, step_id
    ):
        raise NotFound(f"No export or import '{step_id}' in flow '{flow_id}'.")


def retry_data_record(data: Any) -> dict[str, Any]:
    """``data`` as the record a retry will re-run: a JSON object any database can store."""
    if not isinstance(data, dict):
        raise ValidationFailed.one("invalid_field", "Retry data is a JSON object.", "data")
    check_json_storable(data)
    return data


@router.get(
    "/flows/{flowId}/errors",
    tags=["errors"],
    summary="Open error count of each step of a flow",
    response_model=None,
    responses=OK,
)
def flow_errors(
    request: Request, flowId: str, principal: Principal = Depends(current_principal)
) -> Response:
    context = app_context(request)
    with context.sessions() as session:
        load_flow(session, context, principal, flowId)
        counts = joberrors.open_counts(session, principal.account_id, flowId)
    return json_response({"flowErrors": counts})


def _step_errors(
    request: Request,
    principal: Principal,
    flow_id: str,
    step_id: str,
    query: StepErrorQuery,
    *,
    resolved: bool,
) -> list[dict[str, Any]]:
    context = app_context(request)
    with context.sessions() as session:
        _load_step(session, context, principal, flow_id, step_id)
        found = joberrors.for_step(
            session,
            principal.account_id,
            flow_id,
            step_id,
            resolved=resolved,
            occurred_gte=query.occurredAt_gte,
            occurred_lte=query.occurredAt_lte,
            source=query.source,
            limit=query.limit,
        )
        return [joberrors.view(error) for error in found]


@router.get(
    "/flows/{flowId}/{stepId}/errors",
    tags=["errors"],
    summary="Open errors of a step, oldest first",
    response_model=None,
    responses=OK,
)
def step_errors(
    request: Request,
    flowId: str,
    stepId: str,
    query: Annotated[StepErrorQuery, Query()],
    principal: Principal = Depends(current_principal),
) -> Response:
    errors = _step_errors(request, principal, flowId, stepId, query, resolved=False)
    return json_response({"errors": errors})


@router.get(
    "/flows/{flowId}/{stepId}/resolved",
    tags=["errors"],
    summary="Resolved errors of a step, oldest first",
    response_model=None,
    responses=OK,
)
def resolved_step_errors(
    request: Request,
    flowId: str,
    stepId: str,
    query: Annotated[StepErrorQuery, Query()],
    principal: Principal = Depends(current_principal),
) -> Response:
    errors = _step_errors(request, principal, flowId, stepId, query, resolved=True)
    return json_response({"resolved": errors})


@router.put(
    "/flows/{flowId}/{stepId}/resolved",
    tags=["errors"],
    summary="Resolve errors of a step by errorId",
    status_code=204,
    response_model=None,
    responses={204: {"description": "Resolved"}, **ERRORS},
)
def resolve_step_errors(
    request: Request,
    flowId: str,
    stepId: str,
    body: ResolveRequest = Body(),
    principal: Principal = Depends(current_principal),
) -> Response:
    context = app_context(request)
    with context.transaction() as session:
        _load_step(session, context, principal, flowId, stepId)
        if body.errors:
            joberrors.resolve(
                session, principal.account_id, ids=body.errors, flow_id=flowId,
                step_id=stepId, by=principal.user_id,
            )  # fmt: skip
    return Response(status_code=204)


def _retry_keys(
    session: Session, account_id: str, flow_id: str, step_id: str, body: RetryRequest
) -> list[str]:
    """The retry data keys a retry request names (``errorIds`` are translated)."""
    if body.retryDataKeys:
        return list(dict.fromkeys(body.retryDataKeys))
    if not body.errorIds:
        raise ValidationFailed.one(
            "missing_required_field", "Give retryDataKeys or errorIds.", "retryDataKeys"
        )
    found = job_queries.errors_by_ids(session, account_id, flow_id, step_id, body.errorIds)
    keys: list[str] = []
    for index, error_id in enumerate(body.errorIds):
        error = found.get(error_id)
        if error is None:
            raise ValidationFailed.one(
                "invalid_field", f"No error '{error_id}' in this step.", f"errorIds.{index}"
            )
        if error.resolved:
            raise ValidationFailed.one(
                "error_resolved", "Resolved errors can't be retried.", f"errorIds.{index}"
            )
        if error.retry_data_key is None:
            raise ValidationFailed.one(
                "invalid_field", f"Error '{error_id}' kept no retry data.", f"errorIds.{index}"
            )
        keys.append(error.retry_data_key)
    return list(dict.fromkeys(keys))


@router.post(
    "/flows/{flowId}/{stepId}/retry",
    tags=["errors"],
    summary="Retry errors of a step (resolved errors can't be retried)",
    status_code=201,
    response_model=None,
    responses={201: {"model": JobView, "description": "The retry job"}, **ERRORS},
)
def retry_step(
    request: Request,
    flowId: str,
    stepId: str,
    body: RetryRequest = Body(),
    principal: Principal = Depends(current_principal),
) -> Response:
    context = app_context(request)
    with context.sessions() as session:
        _load_step(session, context, principal, flowId, stepId)
        keys = _retry_keys(session, principal.account_id, flowId, stepId, body)
    job = context.runner.retry(principal.account_id, flowId, stepId, keys)
    return json_response(job, 201)


def _step_retry_row(
    session: Session,
    context: AppContext,
    principal: Principal,
    flow_id: str,
    step_id: str,
    key: str,
) -> JobError:
    _load_step(session, context, principal, flow_id, step_id)
    row = None if "\x00" in key else joberrors.by_retry_key(session, principal.account_id, key)
    if row is None or row.flow_id != flow_id or row.step_id != step_id:
        raise NotFound(f"No retry data with key '{key}' in this step.")
    return row


def _retry_data_view(row: JobError) -> dict[str, Any]:
    return {"data": row.retry_data, "stage": row.stage, "traceKey": row.trace_key}


@router.get(
    "/flows/{flowId}/{stepId}/retryData/{retryDataKey}",
    tags=["errors"],
    summary="The record a retry of this error will re-run",
    response_model=None,
    responses=OK,
)
def get_step_retry_data(
    request: Request,
    flowId: str,
    stepId: str,
    retryDataKey: str,
    principal: Principal = Depends(current_principal),
) -> Response:
    context = app_context(request)
    with context.sessions() as session:
        row = _step_retry_row(session, context, principal, flowId, stepId, retryDataKey)
        view = _retry_data_view(row)
    return json_response(view)


@router.put(
    "/flows/{flowId}/{stepId}/retryData/{retryDataKey}",
    tags=["errors"],
    summary="Replace the record before retrying it",
    response_model=None,
    responses=OK,
)
def put_step_retry_data(
    request: Request,
    flowId: str,
    stepId: str,
    retryDataKey: str,
    body: RetryDataUpdate = Body(),
    principal: Principal = Depends(current_principal),
) -> Response:
    context = app_context(request)
    record = retry_data_record(body.data)
    with context.transaction() as session:
        row = _step_retry_row(session, context, principal, flowId, stepId, retryDataKey)
        job_queries.replace_retry_data(session, row, record)
        view = _retry_data_view(row)
    return json_response(view)
