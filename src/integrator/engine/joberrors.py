"""Record-level errors of flow runs and their retry data (reference §6.3-6.5).

Each record that fails at a step becomes one ``JobError`` with integrator.io's fields
(``code``, ``message``, ``source``, ``occurredAt``, ``traceKey``, ``retryDataKey``) and, unless
the flow skips retries, the record as it entered the failing step: retrying it re-runs that
step and the ones after it. Both API generations read these rows: the legacy job errors and
retries (``/v1/jobs/{id}/joberrors``, ``/v1/retries``) and the modern per-step lists
(``/v1/flows/{flowId}/{stepId}/errors``).
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import Session

from integrator.ids import new_object_id
from integrator.store.models import JobError

__all__ = ["JobError", "Where", "record", "resolve"]


@dataclass(frozen=True)
class Where:
    """Where a record failed: which flow run, which child job, which step."""

    account_id: str
    flow_id: str | None
    flow_job_id: str
    job_id: str | None
    step_id: str
    o_index: int
    #: ``pageProcessors.<n>`` (the step a retry starts at) or ``pageGenerators.<n>``.
    stage: str


def new_retry_data_key() -> str:
    return secrets.token_hex(16)


def record(
    session: Session,
    where: Where,
    failures: Iterable[tuple[Any, list[dict[str, Any]], str | None]],
    *,
    keep_retry_data: bool = True,
    source: str = "application",
) -> int:
    """Store failures ``(record, errors, trace_key)``; each error dict has ``code`` and
    ``message`` (and may name its ``source``). The record becomes retry data shared by that
    record's errors. Returns how many records failed."""
    moment = datetime.now(UTC)
    rows: list[dict[str, Any]] = []
    count = 0
    for data, errors, trace_key in failures:
        count += 1
        key = new_retry_data_key() if keep_retry_data and data is not None else None
        for position, error in enumerate(errors or [{"code": "error", "message": "Failed."}]):
            rows.append(
                {
                    "id": new_object_id(),
                    "account_id": where.account_id,
                    "flow_id": where.flow_id,
                    "flow_job_id": where.flow_job_id,
                    "job_id": where.job_id,
                    "step_id": where.step_id,
                    "o_index": where.o_index,
                    "code": str(error.get("code") or "error")[:100],
                    "message": str(error.get("message") or ""),
                    "source": str(error.get("source") or source)[:40],
                    "occurred_at": moment,
                    "trace_key": trace_key[:200] if trace_key else None,
                    # One record, one retry: its errors share the key; the first holds the data.
                    "retry_data_key": key,
                    "retry_data": dict(data) if key and position == 0 and data else None,
                    "stage": where.stage,
                    "resolved": False,
                }
            )
    if rows:
        session.execute(insert(JobError), rows)
    return count


def view(error: JobError | Any) -> dict[str, Any]:
    """An error as the modern API shows it (``GET /v1/flows/{flowId}/{stepId}/errors``)."""
    result: dict[str, Any] = {
        "errorId": error.id,
        "occurredAt": _iso(error.occurred_at),
        "source": error.source,
        "code": error.code,
        "message": error.message,
        "oIndex": error.o_index,
        "_flowJobId": error.flow_job_id,
    }
    if error.trace_key:
        result["traceKey"] = error.trace_key
    if error.retry_data_key:
        result["retryDataKey"] = error.retry_data_key
    if error.resolved:
        result["resolvedAt"] = _iso(error.resolved_at)
        result["resolvedBy"] = error.resolved_by
    return result


def legacy_view(error: JobError | Any) -> dict[str, Any]:
    """An error as ``GET /v1/jobs/{id}/joberrors`` shows it (D17 jobError)."""
    result: dict[str, Any] = {
        "_id": error.id,
        "_jobId": error.job_id or error.flow_job_id,
        "_flowJobId": error.flow_job_id,
        "createdAt": _iso(error.occurred_at),
        "resolved": bool(error.resolved),
        "code": error.code,
        "message": error.message,
        "source": error.source,
        "retry": error.retry_data_key is not None,
    }
    if error.retry_data_key:
        result["_retryId"] = error.retry_data_key
    return result


def retry_view(error: JobError | Any) -> dict[str, Any]:
    """Retry data as a legacy ``/v1/retries`` object (its id is the ``retryDataKey``)."""
    return {
        "_id": error.retry_data_key,
        "type": "object",
        "_jobId": error.job_id or error.flow_job_id,
        "_flowJobId": error.flow_job_id,
        "_flowId": error.flow_id,
        "stage": error.stage,
        "createdAt": _iso(error.occurred_at),
        "resolved": bool(error.resolved),
    }


def _iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="milliseconds") + "Z"


def for_step(
    session: Session,
    account_id: str,
    flow_id: str,
    step_id: str,
    *,
    resolved: bool,
    occurred_gte: datetime | None = None,
    occurred_lte: datetime | None = None,
    source: str | None = None,
    limit: int = 1000,
) -> list[JobError]:
    """A step's open (or resolved) errors, oldest first."""
    statement = select(JobError).where(
        JobError.account_id == account_id,
        JobError.flow_id == flow_id,
        JobError.step_id == step_id,
        JobError.resolved.is_(resolved),
    )
    if occurred_gte is not None:
        statement = statement.where(JobError.occurred_at >= occurred_gte)
    if occurred_lte is not None:
        statement = statement.where(JobError.occurred_at <= occurred_lte)
    if source is not None:
        statement = statement.where(JobError.source == source)
    statement = statement.order_by(JobError.occurred_at, JobError.id).limit(limit)
    return list(session.scalars(statement))


def for_job(session: Session, account_id: str, job_id: str, limit: int = 1000) -> list[JobError]:
    """Errors of a flow job (or of one of its child jobs), oldest first."""
    return list(
        session.scalars(
            select(JobError)
            .where(
                JobError.account_id == account_id,
                (JobError.flow_job_id == job_id) | (JobError.job_id == job_id),
            )
            .order_by(JobError.occurred_at, JobError.id)
            .limit(limit)
        )
    )


def open_counts(session: Session, account_id: str, flow_id: str) -> list[dict[str, Any]]:
    """``GET /v1/flows/{id}/errors``: open error count per step."""
    rows = session.execute(
        select(JobError.step_id, func.count(), func.max(JobError.occurred_at))
        .where(
            JobError.account_id == account_id,
            JobError.flow_id == flow_id,
            JobError.resolved.is_(False),
        )
        .group_by(JobError.step_id)
    ).all()
    return [
        {"_expOrImpId": step_id, "numError": count, "lastErrorAt": _iso(last)}
        for step_id, count, last in rows
    ]


def resolve(
    session: Session,
    account_id: str,
    *,
    ids: Iterable[str] | None = None,
    retry_data_keys: Iterable[str] | None = None,
    flow_job_id: str | None = None,
    flow_id: str | None = None,
    step_id: str | None = None,
    by: str | None = None,
) -> int:
    """Mark errors resolved (by error id, by retry data key, or all of a job); how many."""
    statement = update(JobError).where(
        JobError.account_id == account_id, JobError.resolved.is_(False)
    )
    if ids is not None:
        statement = statement.where(JobError.id.in_(list(ids)))
    if retry_data_keys is not None:
        # A record's errors share its key: resolving the key resolves all of them.
        statement = statement.where(JobError.retry_data_key.in_(list(retry_data_keys)))
    if flow_job_id is not None:
        statement = statement.where(JobError.flow_job_id == flow_job_id)
    if flow_id is not None:
        statement = statement.where(JobError.flow_id == flow_id)
    if step_id is not None:
        statement = statement.where(JobError.step_id == step_id)
    result = session.execute(
        statement.values(resolved=True, resolved_at=datetime.now(UTC), resolved_by=by),
        execution_options={"synchronize_session": False},
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


def by_retry_keys(session: Session, account_id: str, keys: Iterable[str]) -> list[JobError]:
    """The errors carrying these retry data keys (any state), in the keys' order."""
    wanted = list(keys)
    rows = {
        row.retry_data_key: row
        for row in session.scalars(
            select(JobError).where(
                JobError.account_id == account_id,
                JobError.retry_data_key.in_(wanted),
                JobError.retry_data.is_not(None),
            )
        )
    }
    return [rows[key] for key in wanted if key in rows]


def by_retry_key(session: Session, account_id: str, key: str) -> JobError | None:
    return session.scalar(
        select(JobError).where(
            JobError.account_id == account_id,
            JobError.retry_data_key == key,
            JobError.retry_data.is_not(None),
        )
    )
