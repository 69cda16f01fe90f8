"""Jobs that lost their worker are resumed, and queued jobs that lost their message are started.

A running job carries a heartbeat (``jobs.heartbeat_at``), moved forward by every page its
export stores and every page a worker processes. When a worker dies, RabbitMQ gives its
unacknowledged tasks to another worker at once; Redis only after its visibility timeout (hours).
So the scheduler tick also calls ``resume_stale``: a job whose heartbeat is older than
``INTEGRATOR_JOB_LEASE_SECONDS`` is claimed (compare-and-set on the heartbeat, so two
schedulers resume it once) and its unfinished work is sent again: the export task of each
generator still running, one page task per page not yet processed. Every task is idempotent,
so work that was in fact still alive repeats nothing already written.

``dispatch_waiting`` sends ``dispatch`` again for flows with a queued job and no active one: the
process that queued it may have died between its commit and sending the message.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from sqlalchemy import and_, select, update
from sqlalchemy.orm import Session, sessionmaker

from integrator.engine import jobs
from integrator.engine.steps import DISPATCH, EXPORT, PAGE, TaskQueue
from integrator.store.models import ACTIVE_STATUSES, Job, JobPage

log = logging.getLogger("integrator.engine")

#: A queued job this old with nothing running in its flow has lost its dispatch message.
QUEUED_GRACE = timedelta(seconds=30)


def resume_stale(
    sessions: sessionmaker[Session],
    queue: TaskQueue,
    lease_seconds: float,
    now: datetime | None = None,
) -> list[str]:
    """Re-send the unfinished work of running jobs whose heartbeat is older than the lease;
    the ids of the jobs resumed."""
    moment = now or datetime.now(UTC)
    cutoff = moment - timedelta(seconds=lease_seconds)
    with sessions() as session, session.begin():
        stale = list(
            session.execute(
                select(Job.id, Job.heartbeat_at).where(
                    Job.flow_job_id.is_(None),
                    Job.status.in_(ACTIVE_STATUSES),
                    Job.heartbeat_at < cutoff,
                )
            )
        )
    resumed: list[str] = []
    for job_id, heartbeat in stale:
        with sessions() as session, session.begin():
            claimed = session.execute(
                update(Job)
                .where(Job.id == job_id, Job.heartbeat_at == heartbeat)
                .values(heartbeat_at=moment)
            ).rowcount  # type: ignore[attr-defined]
            if not claimed:
                continue  # another scheduler resumed it, or its worker came back
            exports = [
                child.o_index
                for child in jobs.children(session, job_id)
                if child.type == "export" and child.status == "running"
            ]
            pages = list(
                session.execute(
                    select(JobPage.generator, JobPage.page_index).where(
                        JobPage.job_id == job_id, JobPage.processed.is_(False)
                    )
                )
            )
        log.warning(
            "job %s made no progress for %ss: resuming %d export(s) and %d page(s)",
            job_id,
            lease_seconds,
            len(exports),
            len(pages),
        )
        for generator in exports:
            queue.send(EXPORT, job_id, generator)
        for generator, page_index in pages:
            queue.send(PAGE, job_id, generator, page_index)
        resumed.append(job_id)
    return resumed


def dispatch_waiting(
    sessions: sessionmaker[Session], queue: TaskQueue, now: datetime | None = None
) -> list[str]:
    """Send ``dispatch`` for flows whose queued job waits with nothing active; their ids."""
    moment = now or datetime.now(UTC)
    other = Job.__table__.alias("other")
    with sessions() as session:
        flow_ids = list(
            session.scalars(
                select(Job.flow_id)
                .where(
                    Job.flow_job_id.is_(None),
                    Job.status == "queued",
                    Job.created_at < moment - QUEUED_GRACE,
                    ~select(other.c.id)
                    .where(
                        and_(
                            other.c.flow_id == Job.flow_id,
                            other.c.flow_job_id.is_(None),
                            other.c.status.in_(ACTIVE_STATUSES),
                        )
                    )
                    .exists(),
                )
                .distinct()
            )
        )
    for flow_id in flow_ids:
        if flow_id:
            queue.send(DISPATCH, flow_id)
    return [flow_id for flow_id in flow_ids if flow_id]
