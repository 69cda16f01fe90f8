"""Job endpoints (reference §6.1-6.2): list and read jobs, run a flow, cancel a run.

==========  =============================  ===============================================
``GET``     ``/v1/jobs``                   jobs, newest ``createdAt`` first (filters below)
``GET``     ``/v1/jobs/{id}``              one job
``PUT``     ``/v1/jobs/{id}/cancel``       cancel a flow or retry job → the job
``GET``     ``/v1/flows/{id}/jobs/latest`` ``[parent, children…]`` of the newest run
``POST``    ``/v1/flows/{id}/run``         run now → 201 with the (new or coalesced) job
==========  =============================  ===============================================

Filters of ``GET /v1/jobs``: ``_integrationId, _exportId, _importId, _flowId, _flowJobId,
_flowId_in`` (comma list), ``createdAt_lte/gte`` (ISO 8601; a zone-less time is UTC),
``status``, ``type``, ``type_in``, ``retriable``, ``numSuccess/numExport/numIgnore/numError``
``_lte/_gte``. An unknown parameter is a 400 naming it. As in integrator.io, a query without
``type``/``type_in`` lists parent jobs (``flow``, ``retry``) only, unless it names a
``_flowJobId``, ``_exportId`` or ``_importId`` (then it lists their child jobs); unlike
integrator.io, a query without any filter is allowed. At most ``limit`` (≤ 1000, the default)
jobs per call; more are announced by a ``Link`` header (``rel="next"``, ``skip``), and
integrator.io's way (``createdAt_lte`` = the last job's ``createdAt`` minus 1 ms) works too. No
jobs → 204.

Runs, retries and cancels go through ``context.runner`` (``engine.runner.FlowRunner``, whose
calls block: these routes are synchronous, so FastAPI runs them in a worker thread); the routes
only check that what they name exists in the caller's account.
"""

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, Query, Request
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import Row
from sqlalchemy.orm import Session
from starlette.responses import Response

from integrator.api.auth import app_context, current_principal
from integrator.api.context import AppContext
from integrator.api.resource_routes import json_response, page_of
from integrator.api.schemas import ERRORS
from integrator.engine import job_queries
from integrator.engine import jobs as job_store
from integrator.errors import NotFound, ValidationFailed
from integrator.ids import is_object_id
from integrator.resources import REGISTRY
from integrator.resources.service import ResourceService
from integrator.store.accounts import Principal
from integrator.store.models import PARENT_JOB_TYPES, Job

router = APIRouter()

OBJECT_ID = "^[0-9a-f]{24}$"
MAX_JOBS = 1000
JobStatus = Literal["queued", "running", "completed", "failed", "canceling", "canceled"]
#: ``bulk_retry`` is integrator.io's; accepted in filters, though this engine makes none.
KNOWN_TYPES = (*job_store.JOB_TYPES, "bulk_retry")
JobType = Literal["flow", "retry", "export", "import", "bulk_retry"]
PARENT_TYPES = (*PARENT_JOB_TYPES, "bulk_retry")
ObjectId = Annotated[str, Field(pattern=OBJECT_ID)]
#: A counter bound (the counters are 32-bit integer columns).
Count = Annotated[int, Field(ge=0, le=2**31 - 1)]


def _in_utc(moment: datetime) -> datetime:
    """A zone-less time is UTC (the database would read it as local time); any other is
    converted to UTC, which must stay within years 1-9999."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        raise ValueError("The time is out of range.") from None


#: An ISO 8601 time, as an aware UTC datetime.
UtcTime = Annotated[datetime, AfterValidator(_in_utc)]


def load_job(session: Session, account_id: str, job_id: str) -> Job:
    """The account's job, or 404 (the same 404 for another account's job)."""
    job = job_store.get(session, job_id, account_id) if is_object_id(job_id) else None
    if not isinstance(job, Job):
        raise NotFound(f"No job with _id '{job_id}'.")
    return job


def load_flow(
    session: Session, context: AppContext, principal: Principal, flow_id: str
) -> Row[Any]:
    """The account's flow as a read-only row (``.doc`` is its document), or 404."""
    return ResourceService(session, context.cipher, principal).find(REGISTRY["flows"], flow_id)


class JobView(BaseModel):
    """A job as integrator.io returns it (reference §6.2); counters are always present."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    id: str = Field(alias="_id")
    type: str
    status: str
    numSuccess: int
    numError: int
    numIgnore: int
    numExport: int
    numPagesGenerated: int
    numPagesProcessed: int


class JobQuery(BaseModel):
    """The query of ``GET /v1/jobs``; unknown parameters are rejected."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    integration_id: ObjectId | None = Field(None, alias="_integrationId")
    export_id: ObjectId | None = Field(None, alias="_exportId")
    import_id: ObjectId | None = Field(None, alias="_importId")
    flow_id: ObjectId | None = Field(None, alias="_flowId")
    flow_job_id: ObjectId | None = Field(None, alias="_flowJobId")
    flow_id_in: str | None = Field(None, alias="_flowId_in", description="Comma-separated ids")
    created_lte: UtcTime | None = Field(None, alias="createdAt_lte")
    created_gte: UtcTime | None = Field(None, alias="createdAt_gte")
    status: JobStatus | None = None
    type: JobType | None = None
    type_in: str | None = Field(None, description="Comma-separated job types")
    retriable: bool | None = None
    numSuccess_lte: Count | None = None
    numSuccess_gte: Count | None = None
    numExport_lte: Count | None = None
    numExport_gte: Count | None = None
    numIgnore_lte: Count | None = None
    numIgnore_gte: Count | None = None
    numError_lte: Count | None = None
    numError_gte: Count | None = None
    skip: int = Field(0, ge=0, le=10_000_000)
    limit: int = Field(MAX_JOBS, ge=1, le=MAX_JOBS)

    @field_validator("flow_id_in")
    @classmethod
    def _ids(cls, value: str | None) -> str | None:
        if value is not None:
            ids = value.split(",")
            if len(ids) > MAX_JOBS or not all(is_object_id(id_) for id_ in ids):
                raise ValueError(f"Give up to {MAX_JOBS} comma-separated 24-hex ids.")
        return value

    @field_validator("type_in")
    @classmethod
    def _types(cls, value: str | None) -> str | None:
        if value is not None and not set(value.split(",")) <= set(KNOWN_TYPES):
            raise ValueError(f"Job types are {', '.join(KNOWN_TYPES)}.")
        return value

    def filters(self) -> job_queries.JobFilters:
        counters = {
            (name, bound): value
            for name in job_queries.COUNTER_FILTERS
            for bound in ("lte", "gte")
            if (value := getattr(self, f"{name}_{bound}")) is not None
        }
        types = self.type_in.split(",") if self.type_in else None
        if self.type is not None:
            types = [self.type] if types is None or self.type in types else []
        elif types is None and not (self.flow_job_id or self.export_id or self.import_id):
            types = list(PARENT_TYPES)  # integrator.io: no type asks for parent jobs
        return job_queries.JobFilters(
            integration_id=self.integration_id,
            export_id=self.export_id,
            import_id=self.import_id,
            flow_id=self.flow_id,
            flow_job_id=self.flow_job_id,
            flow_ids=self.flow_id_in.split(",") if self.flow_id_in else None,
            created_lte=self.created_lte,
            created_gte=self.created_gte,
            statuses=[self.status] if self.status else None,
            types=types,
            retriable=self.retriable,
            counters=counters,
        )


class RunRequest(BaseModel):
    """Optional body of ``POST /v1/flows/{id}/run``; other keys are ignored."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    export_ids: list[ObjectId] | None = Field(
        None, alias="_exportIds", max_length=1000, description="Run only these page generators"
    )
    startDate: UtcTime | None = Field(None, description="Delta window start (ISO 8601)")
    endDate: UtcTime | None = Field(None, description="Delta window end (ISO 8601)")

    def options(self) -> dict[str, Any]:
        """The options for the runner, dates as ISO 8601 UTC (``…T00:00:00.000Z``)."""
        start, end = self.startDate, self.endDate
        if start is not None and end is not None and start > end:
            raise ValidationFailed.one(
                "invalid_field", "startDate must not be after endDate.", "startDate"
            )
        options: dict[str, Any] = {}
        if self.export_ids is not None:
            options["_exportIds"] = list(self.export_ids)
        for name, moment in (("startDate", start), ("endDate", end)):
            if moment is not None:
                stamp = moment.replace(tzinfo=None)
                options[name] = stamp.isoformat(timespec="milliseconds") + "Z"
        return options


_LIST_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"model": list[JobView], "description": "Jobs, newest first"},
    204: {"description": "No jobs"},
    **ERRORS,
}
_ONE: dict[int | str, dict[str, Any]] = {200: {"model": JobView, "description": "The job"}}


@router.get(
    "/jobs", tags=["jobs"], summary="List jobs", response_model=None, responses=_LIST_RESPONSES
)
def list_jobs(
    request: Request,
    query: Annotated[JobQuery, Query()],
    principal: Principal = Depends(current_principal),
) -> Response:
    with app_context(request).sessions() as session:
        found = job_queries.list_jobs(
            session, principal.account_id, query.filters(), skip=query.skip, limit=query.limit + 1
        )
        views = [job_store.job_view(job) for job in found]
    if not views:
        return Response(status_code=204)
    views, headers = page_of(request, views, query.skip, query.limit)
    return json_response(views, headers=headers)


@router.get(
    "/jobs/{id}",
    tags=["jobs"],
    summary="Get a job",
    response_model=None,
    responses={**_ONE, **ERRORS},
)
def get_job(
    request: Request, id: str, principal: Principal = Depends(current_principal)
) -> Response:
    with app_context(request).sessions() as session:
        view = job_store.job_view(load_job(session, principal.account_id, id))
    return json_response(view)


@router.put(
    "/jobs/{id}/cancel",
    tags=["jobs"],
    summary="Cancel a flow or retry job (queued: at once; running: at the next page)",
    response_model=None,
    responses={**_ONE, **ERRORS},
)
def cancel_job(
    request: Request, id: str, principal: Principal = Depends(current_principal)
) -> Response:
    context = app_context(request)
    with context.sessions() as session:
        load_job(session, principal.account_id, id)
    return json_response(context.runner.cancel(principal.account_id, id))


@router.get(
    "/flows/{id}/jobs/latest",
    tags=["jobs"],
    summary="The newest run of a flow: its parent job, then its child jobs in step order",
    response_model=None,
    responses={
        200: {"model": list[JobView], "description": "[parent, children...]"},
        204: {"description": "The flow never ran"},
        **ERRORS,
    },
)
def latest_jobs(
    request: Request, id: str, principal: Principal = Depends(current_principal)
) -> Response:
    context = app_context(request)
    with context.sessions() as session:
        load_flow(session, context, principal, id)
        found = job_store.latest_for_flow(session, principal.account_id, id)
        views = [job_store.job_view(job) for job in found]
    return json_response(views) if views else Response(status_code=204)


@router.post(
    "/flows/{id}/run",
    tags=["jobs"],
    summary="Run a flow now (a run already queued absorbs this one)",
    status_code=201,
    response_model=None,
    responses={201: {"model": JobView, "description": "The queued flow job"}, **ERRORS},
)
def run_flow(
    request: Request,
    id: str,
    body: RunRequest | None = Body(None),
    principal: Principal = Depends(current_principal),
) -> Response:
    context = app_context(request)
    options = body.options() if body is not None else {}
    with context.sessions() as session:
        load_flow(session, context, principal, id)
    job = context.runner.run_flow(principal.account_id, id, options)
    if job is None:  # only a scheduled run is ever skipped
        raise ValidationFailed.one("flow_disabled", "The flow is disabled.", "disabled")
    return json_response(job, 201)
