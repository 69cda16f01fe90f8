"""Jobs in the database, the source of truth for every run (reference §6).

A trigger creates a parent job (``flow`` or ``retry``) in ``queued``; ``promote`` moves the
oldest queued one of a flow to ``running`` when no other parent job of that flow is active.
Both rules live in partial unique indexes (``uq_jobs_flow_active``, ``uq_jobs_flow_queued``),
so they hold across any number of API, scheduler and worker processes: a losing writer gets an
``IntegrityError`` inside a savepoint and learns that someone else won.

Counters only ever change through ``add_counts`` (``SET n = n + :delta``), atomically, so pages
processed in parallel never lose an increment.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from integrator.errors import BadRequest
from integrator.ids import new_object_id
from integrator.store.models import ACTIVE_STATUSES, PARENT_JOB_TYPES, Job

#: Statuses a job never leaves.
FINAL_STATUSES = ("completed", "failed", "canceled")
STATUSES = ("queued", "running", "completed", "failed", "canceling", "canceled")
JOB_TYPES = ("flow", "retry", "export", "import")

#: Counter names as the API spells them → columns.
COUNTERS = {
    "numSuccess": "num_success",
    "numError": "num_error",
    "numIgnore": "num_ignore",
    "numExport": "num_export",
    "numPagesGenerated": "num_pages_generated",
    "numPagesProcessed": "num_pages_processed",
}


def now() -> datetime:
    return datetime.now(UTC)


def _iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="milliseconds") + "Z"


def job_view(job: Job | Any) -> dict[str, Any]:
    """A job as integrator.io returns it (``_id``, ``type``, ``status``, ``num*`` counters…)."""
    view: dict[str, Any] = {"_id": job.id, "type": job.type, "status": job.status}
    for key, value in (
        ("_flowId", job.flow_id),
        ("_flowJobId", job.flow_job_id),
        ("_integrationId", job.integration_id),
        ("_exportId", job.export_id),
        ("_importId", job.import_id),
        ("_retryOfJobId", job.retry_of_job_id),
        ("oIndex", job.o_index),
    ):
        if value is not None:
            view[key] = value
    for name, column in COUNTERS.items():
        view[name] = getattr(job, column) or 0
    for key, moment in (
        ("createdAt", job.created_at),
        ("startedAt", job.started_at),
        ("endedAt", job.ended_at),
        ("lastModified", job.last_modified),
    ):
        if moment is not None:
            view[key] = _iso(moment)
    if job.message:
        view["message"] = job.message
    if job.status in FINAL_STATUSES and job.type in PARENT_JOB_TYPES:
        view["retriable"] = job.num_error > 0
    return view


def get(session: Session, job_id: str, account_id: str | None = None) -> Job | None:
    """The job (any account unless ``account_id`` is given: workers act for every account)."""
    statement = select(Job).where(Job.id == job_id)
    if account_id is not None:
        statement = statement.where(Job.account_id == account_id)
    return session.scalar(statement)


def create_queued(
    session: Session,
    account_id: str,
    flow_id: str,
    *,
    type_: str = "flow",
    options: Mapping[str, Any] | None = None,
    integration_id: str | None = None,
    retry_of_job_id: str | None = None,
) -> tuple[Job, bool]:
    """A queued parent job for the flow, and whether it is new.

    A flow job coalesces: while one is already queued, the trigger returns that one (its
    ``options`` unchanged) instead of adding another. Retry jobs always queue.
    """
    moment = now()
    values: dict[str, Any] = {
        "account_id": account_id,
        "type": type_,
        "status": "queued",
        "flow_id": flow_id,
        "integration_id": integration_id,
        "retry_of_job_id": retry_of_job_id,
        "options": dict(options) if options else None,
        "created_at": moment,
        "last_modified": moment,
        **dict.fromkeys(ZEROED, 0),
    }
    for _ in range(10):
        job_id = new_object_id()
        # ON CONFLICT rather than catching IntegrityError: no savepoint needed (pysqlite's
        # savepoints are unreliable), and the losing insert leaves the transaction usable.
        session.execute(
            _insert_for(session)(Job).values(id=job_id, **values).on_conflict_do_nothing()
        )
        # Not rowcount: pysqlite reports the previous statement's count for a skipped insert.
        job = session.get(Job, job_id)
        if job is not None:
            return job, True
        existing = session.scalar(
            select(Job).where(Job.flow_id == flow_id, Job.type == "flow", Job.status == "queued")
        )
        if existing is not None:
            return existing, False
        # The queued job started between our insert and this read: queue a new one.
    raise RuntimeError(f"Could not queue a job for flow {flow_id}.")


#: Counters a new job starts with at zero.
ZEROED = (
    "num_success",
    "num_error",
    "num_ignore",
    "num_export",
    "num_pages_generated",
    "num_pages_processed",
    "generators",
    "generators_done",
)


def _insert_for(session: Session) -> Any:
    """The dialect's INSERT (both have ``on_conflict_do_nothing``)."""
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert
    return sqlite.insert


def promote(session: Session, flow_id: str) -> Job | None:
    """Start the oldest queued parent job of the flow unless one of its jobs is active; the
    started job, or None."""
    candidate = session.scalar(
        select(Job)
        .where(Job.flow_id == flow_id, Job.flow_job_id.is_(None), Job.status == "queued")
        .order_by(Job.created_at, Job.id)
        .limit(1)
    )
    if candidate is None:
        return None
    moment = now()
    # The partial unique index ``uq_jobs_flow_active`` refuses a second active job of the
    # flow; the NOT EXISTS avoids asking it in the common case. A concurrent promoter that
    # wins the race makes this UPDATE raise IntegrityError: the caller's transaction ends.
    active = (
        select(Job.id)
        .where(
            Job.flow_id == flow_id,
            Job.flow_job_id.is_(None),
            Job.status.in_(ACTIVE_STATUSES),
        )
        .exists()
    )
    changed = session.execute(
        update(Job)
        .where(Job.id == candidate.id, Job.status == "queued", ~active)
        .values(status="running", started_at=moment, last_modified=moment, heartbeat_at=moment)
        .execution_options(synchronize_session=False)
    ).rowcount  # type: ignore[attr-defined]
    if not changed:
        return None
    session.refresh(candidate)
    return candidate


def add_child(
    session: Session,
    parent: Job,
    type_: str,
    o_index: int,
    *,
    export_id: str | None = None,
    import_id: str | None = None,
) -> Job:
    """A running child job (one per page generator and per page processor step)."""
    moment = now()
    child = Job(
        id=new_object_id(),
        account_id=parent.account_id,
        type=type_,
        status="running",
        flow_id=parent.flow_id,
        flow_job_id=parent.id,
        integration_id=parent.integration_id,
        export_id=export_id,
        import_id=import_id,
        o_index=o_index,
        created_at=moment,
        started_at=moment,
        last_modified=moment,
        **dict.fromkeys(ZEROED, 0),
    )
    session.add(child)
    session.flush()
    return child


def children(db: Session, parent_id: str) -> list[Job]:
    return list(db.scalars(select(Job).where(Job.flow_job_id == parent_id).order_by(Job.o_index)))


def child(db: Session, parent_id: str, type_: str, o_index: int) -> Job | None:
    return db.scalar(
        select(Job).where(Job.flow_job_id == parent_id, Job.type == type_, Job.o_index == o_index)
    )


def lock(session: Session, job_id: str) -> None:
    """Lock a parent job's row for the rest of the transaction.

    Every transaction that changes a job and its children takes this lock first, so they
    queue in the same order and never deadlock (PostgreSQL; SQLite serialises writers anyway).
    """
    session.execute(select(Job.id).where(Job.id == job_id).with_for_update())


def add_counts(
    session: Session, job_ids: Iterable[str], *, progress: bool = False, **deltas: int
) -> None:
    """Add to counters (``num_success=3``…) of each job, atomically. ``progress`` also moves
    the heartbeat (a page stored or processed: see ``engine.leases``)."""
    values: dict[str, Any] = {
        column: getattr(Job, column) + delta for column, delta in deltas.items() if delta
    }
    if not values:
        return
    values["last_modified"] = now()
    if progress:
        values["heartbeat_at"] = values["last_modified"]
    session.execute(update(Job).where(Job.id.in_(list(job_ids))).values(**values))


def finish(session: Session, job_id: str, status: str, message: str | None = None) -> bool:
    """End a job that has not ended yet; whether this call ended it."""
    moment = now()
    values: dict[str, Any] = {"status": status, "ended_at": moment, "last_modified": moment}
    if message is not None:
        values["message"] = message
    changed = session.execute(
        update(Job).where(Job.id == job_id, Job.status.not_in(FINAL_STATUSES)).values(**values)
    ).rowcount  # type: ignore[attr-defined]
    return bool(changed)


def request_cancel(session: Session, account_id: str, job_id: str) -> Job | None:
    """``PUT /v1/jobs/{id}/cancel``: a queued job ends ``canceled`` at once; a running one
    becomes ``canceling`` and its workers stop at the next page. None when not found."""
    job = session.scalar(select(Job).where(Job.id == job_id, Job.account_id == account_id))
    if job is None:
        return None
    if job.flow_job_id is not None:
        raise BadRequest("invalid_job", "Cancel the flow job this job belongs to.", "_flowJobId")
    if job.status in FINAL_STATUSES or job.status == "canceling":
        return job
    moment = now()
    if job.status == "queued":
        job.status = "canceled"
        job.ended_at = moment
    else:
        job.status = "canceling"
    job.message = "Canceled by a user."
    job.last_modified = moment
    session.flush()
    return job


def is_stopping(db: Session, job_id: str) -> bool:
    """Whether the job was canceled (or ended) and its workers should stop."""
    status = db.scalar(select(Job.status).where(Job.id == job_id))
    return status is None or status != "running"


def latest_for_flow(db: Session, account_id: str, flow_id: str) -> list[Job]:
    """``GET /v1/flows/{id}/jobs/latest``: the newest parent job of the flow with its children."""
    parent = db.scalar(
        select(Job)
        .where(Job.account_id == account_id, Job.flow_id == flow_id, Job.flow_job_id.is_(None))
        .order_by(Job.created_at.desc(), Job.id.desc())
        .limit(1)
    )
    if parent is None:
        return []
    return [parent, *children(db, parent.id)]
