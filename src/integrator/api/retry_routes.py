"""integrator.io's first error API: job errors and retries (reference §6.3-6.4, D17, DH).

=======  =========================================  ==============================================
``GET``  ``/v1/jobs/{id}/joberrors``                errors of a flow job or child job (≤ 1000)
``PUT``  ``/v1/jobs/{id}/joberrors/resolve``        resolve all → 200 ``{"resolved": n}``
``PUT``  ``/v1/jobs/{id}/joberrors/{eid}/resolve``  resolve one → 200 the error
``POST`` ``/v1/jobs/{id}/retry``                    retry every open error → 201 ``[retry job…]``
``GET``  ``/v1/retries``                            open retry data, oldest first (``_jobId``,
                                                    ``_flowJobId``, ``_flowId``); none → 204
``GET``  ``/v1/retries/{id}``                       one retry (its id is the ``retryDataKey``)
``GET``  ``/v1/retries/{id}/data``                  the record the retry will re-run
``PUT``  ``/v1/retries/{id}/data``                  replace that record (a JSON object) → 200
=======  =========================================  ==============================================

"Resolve all" answers 200 with how many errors it resolved (0 when none were open), so a script
can tell; integrator.io documents only the status. A retry's id is the ``retryDataKey`` the
modern API shows on each error (``error_routes``): both APIs read and edit the same records.
"""

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session
from starlette.responses import Response

from integrator.api.auth import app_context, current_principal
from integrator.api.error_routes import MAX_ERRORS, OK, retry_data_record
from integrator.api.job_routes import JobView, ObjectId, load_job
from integrator.api.resource_routes import json_response, page_of
from integrator.api.schemas import ERRORS
from integrator.engine import job_queries, joberrors
from integrator.errors import NotFound, ValidationFailed
from integrator.ids import is_object_id
from integrator.store.accounts import Principal
from integrator.store.models import JobError

router = APIRouter()

_LIST: dict[int | str, dict[str, Any]] = {
    200: {"description": "Records"},
    204: {"description": "None"},
    **ERRORS,
}


class RetryQuery(BaseModel):
    """Query of ``GET /v1/retries``."""

    model_config = ConfigDict(populate_by_name=True)

    job_id: ObjectId | None = Field(None, alias="_jobId")
    flow_job_id: ObjectId | None = Field(None, alias="_flowJobId")
    flow_id: ObjectId | None = Field(None, alias="_flowId")
    skip: int = Field(0, ge=0, le=10_000_000)
    limit: int = Field(MAX_ERRORS, ge=1, le=MAX_ERRORS)


def _retry_row(session: Session, account_id: str, key: str) -> JobError:
    row = None if "\x00" in key else joberrors.by_retry_key(session, account_id, key)
    if row is None:
        raise NotFound(f"No retry data with key '{key}'.")
    return row


@router.get(
    "/jobs/{id}/joberrors",
    tags=["errors"],
    summary="Errors of a job (the first 1000)",
    response_model=None,
    responses=_LIST,
)
def job_errors(
    request: Request, id: str, principal: Principal = Depends(current_principal)
) -> Response:
    with app_context(request).sessions() as session:
        load_job(session, principal.account_id, id)
        found = joberrors.for_job(session, principal.account_id, id, MAX_ERRORS)
        views = [joberrors.legacy_view(error) for error in found]
    return json_response(views) if views else Response(status_code=204)


@router.put(
    "/jobs/{id}/joberrors/resolve",
    tags=["errors"],
    summary="Resolve every open error of a job; answers how many",
    response_model=None,
    responses=OK,
)
def resolve_job_errors(
    request: Request, id: str, principal: Principal = Depends(current_principal)
) -> Response:
    with app_context(request).transaction() as session:
        load_job(session, principal.account_id, id)
        count = job_queries.resolve_job(session, principal.account_id, id, principal.user_id)
    return json_response({"resolved": count})


@router.put(
    "/jobs/{id}/joberrors/{errorId}/resolve",
    tags=["errors"],
    summary="Resolve one error of a job; answers the error",
    response_model=None,
    responses=OK,
)
def resolve_job_error(
    request: Request, id: str, errorId: str, principal: Principal = Depends(current_principal)
) -> Response:
    with app_context(request).transaction() as session:
        load_job(session, principal.account_id, id)
        error = None
        if is_object_id(errorId):
            error = job_queries.error_of_job(session, principal.account_id, id, errorId)
        if error is None:
            raise NotFound(f"No error '{errorId}' in job '{id}'.")
        joberrors.resolve(session, principal.account_id, ids=[error.id], by=principal.user_id)
        session.refresh(error)
        view = joberrors.legacy_view(error)
    return json_response(view)


@router.post(
    "/jobs/{id}/retry",
    tags=["errors"],
    summary="Retry every open error of a flow job: one retry job per failed step",
    status_code=201,
    response_model=None,
    responses={201: {"model": list[JobView], "description": "The retry jobs"}, **ERRORS},
)
def retry_job(
    request: Request, id: str, principal: Principal = Depends(current_principal)
) -> Response:
    """A child job retries only its own step; a retry job retries the flow job it retried."""
    context = app_context(request)
    with context.sessions() as session:
        job = load_job(session, principal.account_id, id)
        parent = (
            load_job(session, principal.account_id, job.flow_job_id) if job.flow_job_id else job
        )
        # A retry's errors stay with the flow job it retried.
        owner = parent.retry_of_job_id if parent.type == "retry" else parent.id
        groups = job_queries.retriable_of_flow_job(session, principal.account_id, owner or id)
    own_step = (job.export_id or job.import_id) if job.flow_job_id else None
    steps = [
        (flow_id, step_id, keys)
        for (flow_id, step_id), keys in groups.items()
        if flow_id is not None and own_step in (None, step_id)
    ]
    if not steps:
        raise ValidationFailed.one("no_retry_data", "The job has no open errors to retry.")
    started = [
        context.runner.retry(principal.account_id, flow_id, step_id, keys)
        for flow_id, step_id, keys in steps
    ]
    return json_response(started, 201)


@router.get(
    "/retries",
    tags=["errors"],
    summary="Open retry data, oldest first",
    response_model=None,
    responses=_LIST,
)
def list_retries(
    request: Request,
    query: Annotated[RetryQuery, Query()],
    principal: Principal = Depends(current_principal),
) -> Response:
    with app_context(request).sessions() as session:
        found = job_queries.list_retries(
            session,
            principal.account_id,
            job_id=query.job_id,
            flow_job_id=query.flow_job_id,
            flow_id=query.flow_id,
            skip=query.skip,
            limit=query.limit + 1,
        )
        views = [joberrors.retry_view(row) for row in found]
    if not views:
        return Response(status_code=204)
    views, headers = page_of(request, views, query.skip, query.limit)
    return json_response(views, headers=headers)


@router.get(
    "/retries/{id}", tags=["errors"], summary="Get a retry", response_model=None, responses=OK
)
def get_retry(
    request: Request, id: str, principal: Principal = Depends(current_principal)
) -> Response:
    with app_context(request).sessions() as session:
        view = joberrors.retry_view(_retry_row(session, principal.account_id, id))
    return json_response(view)


@router.get(
    "/retries/{id}/data",
    tags=["errors"],
    summary="The record a retry will re-run",
    response_model=None,
    responses=OK,
)
def get_retry_data(
    request: Request, id: str, principal: Principal = Depends(current_principal)
) -> Response:
    with app_context(request).sessions() as session:
        data = _retry_row(session, principal.account_id, id).retry_data
    return json_response(data)


@router.put(
    "/retries/{id}/data",
    tags=["errors"],
    summary="Replace the record a retry will re-run",
    response_model=None,
    responses=OK,
)
def put_retry_data(
    request: Request,
    id: str,
    data: dict[str, Any] = Body(),
    principal: Principal = Depends(current_principal),
) -> Response:
    record = retry_data_record(data)
    with app_context(request).transaction() as session:
        job_queries.replace_retry_data(
            session, _retry_row(session, principal.account_id, id), record
        )
    return json_response(record)
