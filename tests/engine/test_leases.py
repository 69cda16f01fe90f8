"""Jobs whose worker died are resumed once their lease runs out; queued jobs whose dispatch
message was lost are dispatched again. Real rows on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import update

from integrator.api.context import AppContext
from integrator.engine import jobs
from integrator.engine.leases import dispatch_waiting, resume_stale
from integrator.ids import new_object_id
from integrator.store.models import Job, JobPage

from conftest import Api

pytestmark = pytest.mark.usefixtures("scheduler_paused")


class Recorder:
    def __init__(self) -> None:
        self.sent: list[tuple[Any, ...]] = []

    def send(self, name: str, *args: Any) -> None:
        self.sent.append((name, *args))


def running_job(context: AppContext, account_id: str, heartbeat: datetime) -> str:
    """A running flow job of a made-up flow: generator 0 still exporting, page 0 processed,
    page 1 not."""
    flow_id = new_object_id()
    with context.transaction() as session:
        job, _ = jobs.create_queued(session, account_id, flow_id)
        promoted = jobs.promote(session, flow_id)
        assert promoted is not None
        jobs.add_child(session, promoted, "export", 0)
        session.add(JobPage(job_id=job.id, generator=0, page_index=0, records=None, processed=True))
        session.add(
            JobPage(job_id=job.id, generator=0, page_index=1, records=b"[]", processed=False)
        )
        session.execute(update(Job).where(Job.id == job.id).values(heartbeat_at=heartbeat))
        return job.id


def test_a_job_without_progress_past_its_lease_is_resumed_once(
    context: AppContext, api: Api
) -> None:
    now = datetime.now(UTC)
    stale = running_job(context, api.account_id, now - timedelta(minutes=10))
    fresh = running_job(context, api.account_id, now - timedelta(seconds=5))
    queue = Recorder()
    resumed = resume_stale(context.sessions, queue, 300, now)
    assert stale in resumed and fresh not in resumed
    assert ("integrator.export", stale, 0) in queue.sent
    assert ("integrator.page", stale, 0, 1) in queue.sent
    assert all(message[1] != fresh for message in queue.sent)
    # A second scheduler at the same moment finds the heartbeat already moved.
    again = Recorder()
    assert stale not in resume_stale(context.sessions, again, 300, now)
    with context.transaction() as session:  # these made-up jobs must not run for real later
        for job_id in (stale, fresh):
            jobs.finish(session, job_id, "canceled")


def test_a_queued_job_that_lost_its_dispatch_is_dispatched_again(
    context: AppContext, api: Api
) -> None:
    flow_id = new_object_id()
    with context.transaction() as session:
        job, _ = jobs.create_queued(session, api.account_id, flow_id)
        old = datetime.now(UTC) - timedelta(minutes=5)
        session.execute(update(Job).where(Job.id == job.id).values(created_at=old))
    queue = Recorder()
    assert flow_id in dispatch_waiting(context.sessions, queue)
    assert ("integrator.dispatch", flow_id) in queue.sent
    with context.transaction() as session:  # a flow with an active job keeps waiting
        promoted = jobs.promote(session, flow_id)
        assert promoted is not None
        jobs.create_queued(session, api.account_id, flow_id)
        session.execute(
            update(Job).where(Job.flow_id == flow_id, Job.status == "queued").values(created_at=old)
        )
    assert flow_id not in dispatch_waiting(context.sessions, Recorder())
    with context.transaction() as session:
        session.execute(
            update(Job).where(Job.flow_id == flow_id).values(status="canceled", ended_at=old)
        )
