"""Read-side queries over jobs and job errors for the API (reference §6).

``jobs`` and ``joberrors`` hold what the engine writes; this module answers the questions the
job, error and retry endpoints ask: the filtered job list (``GET /v1/jobs``), the retry data of
a job or flow (``GET /v1/retries``), which steps a flow has, and the one write a user makes to
retry data before retrying it (``PUT /v1/retries/{id}/data``). Every function is scoped to one
account: another account's rows are never seen.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, select, update
from sqlalchemy.orm import Session

from integrator.engine.jobs import FINAL_STATUSES
from integrator.store.models import PARENT_JOB_TYPES, Job, JobError

#: ``numSuccess_gte=3`` and friends: the API's counter name → column.
COUNTER_FILTERS = {
    "numSuccess": Job.num_success,
    "numExport": Job.num_export,
    "numIgnore": Job.num_ignore,
    "numError": Job.num_error,
}


@dataclass(frozen=True)
class JobFilters:
    """The filters of ``GET /v1/jobs`` (reference §6.1), already validated.

    ``counters`` maps ``(name, "lte" | "gte")`` to a bound, e.g. ``{("numError", "gte"): 1}``.
    """

    integration_id: str | None = None
    export_id: str | None = None
    import_id: str | None = None
    flow_id: str | None = None
    flow_job_id: str | None = None
    flow_ids: Sequence[str] | None = None
    created_lte: datetime | None = None
    created_gte: datetime | None = None
    statuses: Sequence[str] | None = None
    types: Sequence[str] | None = None
    retriable: bool | None = None
    counters: Mapping[tuple[str, str], int] | None = None


def _job_conditions(account_id: str, filters: JobFilters) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = [Job.account_id == account_id]
    for id_column, id_ in (
        (Job.integration_id, filters.integration_id),
        (Job.export_id, filters.export_id),
        (Job.import_id, filters.import_id),
        (Job.flow_id, filters.flow_id),
        (Job.flow_job_id, filters.flow_job_id),
    ):
        if id_ is not None:
            conditions.append(id_column == id_)
    if filters.flow_ids is not None:
        conditions.append(Job.flow_id.in_(list(filters.flow_ids)))
    if filters.created_lte is not None:
        conditions.append(Job.created_at <= filters.created_lte)
    if filters.created_gte is not None:
        conditions.append(Job.created_at >= filters.created_gte)
    if filters.statuses is not None:
        conditions.append(Job.status.in_(list(filters.statuses)))
    if filters.types is not None:
        conditions.append(Job.type.in_(list(filters.types)))
    if filters.retriable is not None:
        # The same rule as ``jobs.job_view``'s ``retriable``: an ended parent job with errors.
        retriable = (
            Job.type.in_(PARENT_JOB_TYPES) & Job.status.in_(FINAL_STATUSES) & (Job.num_error > 0)
        )
        conditions.append(retriable if filters.retriable else ~retriable)
    for (name, bound), value in (filters.counters or {}).items():
        column = COUNTER_FILTERS[name]
        conditions.append(column <= value if bound == "lte" else column >= value)
    return conditions


def list_jobs(
    session: Session, account_id: str, filters: JobFilters, *, skip: int = 0, limit: int = 1000
) -> list[Job]:
    """Jobs of the account matching ``filters``, newest ``createdAt`` first."""
    statement = (
        select(Job)
        .where(*_job_conditions(account_id, filters))
        .order_by(Job.created_at.desc(), Job.id.desc())
        .offset(skip)
        .limit(limit)
    )
    return list(session.scalars(statement))


def flow_step_ids(flow: Mapping[str, Any]) -> list[str]:
    """The exports and imports a flow document runs, in step order: page generators, then
    page processors (of every router branch), and the legacy ``_exportId``/``_importId`` pair.

    >>> flow_step_ids({"pageGenerators": [{"_exportId": "e1"}],
    ...                "pageProcessors": [{"type": "import", "_importId": "i1"}]})
    ['e1', 'i1']
    """
    found: list[str] = []

    def add(value: Any) -> None:
        if isinstance(value, str) and value not in found:
            found.append(value)

    def add_processors(processors: Any) -> None:
        for step in processors if isinstance(processors, list) else []:
            if isinstance(step, dict):
                add(step.get("_exportId") if step.get("type") == "export" else None)
                add(step.get("_importId") if step.get("type") == "import" else None)

    for generator in flow.get("pageGenerators") or []:
        if isinstance(generator, dict):
            add(generator.get("_exportId"))
    add_processors(flow.get("pageProcessors"))
    for router in flow.get("routers") or []:
        for branch in (router.get("branches") or []) if isinstance(router, dict) else []:
            if isinstance(branch, dict):
                add_processors(branch.get("pageProcessors"))
    add(flow.get("_exportId"))
    add(flow.get("_importId"))
    return found


def step_has_errors(session: Session, account_id: str, flow_id: str, step_id: str) -> bool:
    """Whether any error (open or resolved) was recorded for this step of the flow: a step
    removed from the flow keeps its errors readable."""
    found = session.scalar(
        select(JobError.id)
        .where(
            JobError.account_id == account_id,
            JobError.flow_id == flow_id,
            JobError.step_id == step_id,
        )
        .limit(1)
    )
    return found is not None


def _of_job(job_id: str) -> ColumnElement[bool]:
    """Errors of a flow job, or of one of its child jobs."""
    return (JobError.flow_job_id == job_id) | (JobError.job_id == job_id)


def _retries(account_id: str) -> Select[JobError]:
    """The rows holding retry data (one per failed record), open ones only."""
    return select(JobError).where(
        JobError.account_id == account_id,
        JobError.retry_data_key.is_not(None),
        JobError.retry_data.is_not(None),
        JobError.resolved.is_(False),
    )


def list_retries(
    session: Session,
    account_id: str,
    *,
    job_id: str | None = None,
    flow_job_id: str | None = None,
    flow_id: str | None = None,
    skip: int = 0,
    limit: int = 1000,
) -> list[JobError]:
    """``GET /v1/retries``: open retry data of the account, oldest first."""
    statement = _retries(account_id)
    if job_id is not None:
        statement = statement.where(_of_job(job_id))
    if flow_job_id is not None:
        statement = statement.where(JobError.flow_job_id == flow_job_id)
    if flow_id is not None:
        statement = statement.where(JobError.flow_id == flow_id)
    statement = statement.order_by(JobError.occurred_at, JobError.id).offset(skip).limit(limit)
    return list(session.scalars(statement))


def retriable_of_flow_job(
    session: Session, account_id: str, flow_job_id: str
) -> dict[tuple[str | None, str], list[str]]:
    """Open retry data keys of a flow job, grouped by ``(flow_id, step_id)`` in step order:
    what ``POST /v1/jobs/{id}/retry`` hands to the runner, one retry job per step."""
    rows = session.execute(
        select(JobError.flow_id, JobError.step_id, JobError.retry_data_key)
        .where(
            JobError.account_id == account_id,
            JobError.flow_job_id == flow_job_id,
            JobError.retry_data_key.is_not(None),
            JobError.resolved.is_(False),
        )
        .order_by(JobError.o_index, JobError.occurred_at, JobError.id)
    ).all()
    grouped: dict[tuple[str | None, str], dict[str, None]] = {}
    for flow_id, step_id, key in rows:
        if key is not None:  # a record's errors share its key: one entry per record
            grouped.setdefault((flow_id, step_id), {})[key] = None
    return {where: list(keys) for where, keys in grouped.items()}


def resolve_job(session: Session, account_id: str, job_id: str, by: str | None) -> int:
    """Resolve every open error of a flow job or of a child job; how many."""
    result = session.execute(
        update(JobError)
        .where(JobError.account_id == account_id, JobError.resolved.is_(False), _of_job(job_id))
        .values(resolved=True, resolved_at=datetime.now(UTC), resolved_by=by),
        execution_options={"synchronize_session": False},
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


def error_of_job(session: Session, account_id: str, job_id: str, error_id: str) -> JobError | None:
    """One error, if it belongs to that flow job (or child job) of the account."""
    return session.scalar(
        select(JobError).where(
            JobError.account_id == account_id, JobError.id == error_id, _of_job(job_id)
        )
    )


def errors_by_ids(
    session: Session, account_id: str, flow_id: str, step_id: str, ids: Sequence[str]
) -> dict[str, JobError]:
    """The errors of one step of a flow with these ids, by id (missing ids are absent)."""
    rows = session.scalars(
        select(JobError).where(
            JobError.account_id == account_id,
            JobError.flow_id == flow_id,
            JobError.step_id == step_id,
            JobError.id.in_(list(ids)),
        )
    )
    return {row.id: row for row in rows}


def open_retry_keys(session: Session, account_id: str, keys: Sequence[str]) -> set[str]:
    """Which of these retry data keys still have an open (unresolved) error."""
    return set(
        session.scalars(
            select(JobError.retry_data_key).where(
                JobError.account_id == account_id,
                JobError.retry_data_key.in_(list(keys)),
                JobError.resolved.is_(False),
            )
        )
    )


def replace_retry_data(session: Session, error: JobError, data: dict[str, Any]) -> None:
    """Replace the record a retry will re-run (``error`` is the row holding the data, loaded
    in ``session``)."""
    error.retry_data = data
    session.flush()
