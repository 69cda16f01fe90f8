"""How a job's export reads waiting deliveries: oldest first in pages, each delivery handed to
exactly one stored page, the same pages again after a crash, claims released after a failure."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from sqlalchemy import delete, select

from integrator.api.context import AppContext
from integrator.engine import jobs, webhooks
from integrator.engine.webhooks import WebhookPages
from integrator.ids import new_object_id
from integrator.store.models import Job, JobPage, WebhookDelivery

from conftest import Api


def deliver(context: AppContext, flow_id: str, *batches: list[dict[str, Any]]) -> None:
    with context.sessions.begin() as session:
        for records in batches:
            webhooks.accept(session, "a" * 24, "e" * 24, [flow_id], records)


def rows(context: AppContext, flow_id: str) -> list[WebhookDelivery]:
    with context.sessions() as session:
        return list(
            session.scalars(
                select(WebhookDelivery)
                .where(WebhookDelivery.flow_id == flow_id)
                .order_by(WebhookDelivery.id)
            )
        )


def a_job(context: AppContext, api: Api, flow_id: str) -> str:
    """A queued job row of the flow (stored pages belong to a job). The flow does not exist,
    so the scheduler's housekeeping must not see it: the tests pause the scheduler."""
    with context.sessions.begin() as session:
        job, _ = jobs.create_queued(session, api.account_id, flow_id)
        return job.id


def store(context: AppContext, source: WebhookPages, index: int, page: list[Any]) -> None:
    """What the export task does with a page: store it and hand its deliveries over."""
    with context.sessions.begin() as session:
        session.add(
            JobPage(
                job_id=source.job_id, generator=0, page_index=index,
                records=orjson.dumps(page), processed=False,
            )
        )  # fmt: skip
        source.stored(session, index)


def test_pages_fill_in_arrival_order_and_never_split_a_delivery(context: AppContext) -> None:
    flow_id = new_object_id()
    deliver(context, flow_id, [{"n": 1}, {"n": 2}], [{"n": 3}], [{"n": 4}, {"n": 5}], [{"n": 6}])
    source = WebhookPages(context.sessions, new_object_id(), 0, flow_id, page_size=3)
    pages = list(source.pages())
    assert pages == [[{"n": 1}, {"n": 2}, {"n": 3}], [{"n": 4}, {"n": 5}, {"n": 6}]]
    # Claimed, not yet stored: still in the table, each with its page.
    assert [(r.count, r.page_index) for r in rows(context, flow_id)] == [
        (2, 0), (1, 0), (2, 1), (1, 1)
    ]  # fmt: skip


@pytest.mark.usefixtures("scheduler_paused")
def test_a_stored_page_takes_its_deliveries_with_it(context: AppContext, api: Api) -> None:
    flow_id = new_object_id()
    deliver(context, flow_id, [{"n": 1}], [{"n": 2}])
    source = WebhookPages(context.sessions, a_job(context, api, flow_id), 0, flow_id, page_size=1)
    for index, page in enumerate(source.pages()):
        store(context, source, index, page)
    assert rows(context, flow_id) == []
    with context.sessions() as session:
        stored = session.scalars(
            select(JobPage.records)
            .where(JobPage.job_id == source.job_id)
            .order_by(JobPage.page_index)
        ).all()
        session.execute(delete(JobPage).where(JobPage.job_id == source.job_id))
        session.execute(delete(Job).where(Job.id == source.job_id))
        session.commit()
    assert [orjson.loads(r) for r in stored] == [[{"n": 1}], [{"n": 2}]]


@pytest.mark.usefixtures("scheduler_paused")
def test_a_resumed_export_gets_the_same_pages_again(context: AppContext, api: Api) -> None:
    flow_id = new_object_id()
    job_id = a_job(context, api, flow_id)
    deliver(context, flow_id, [{"n": 1}], [{"n": 2}], [{"n": 3}])
    first = WebhookPages(context.sessions, job_id, 0, flow_id, page_size=1)
    reading = first.pages()
    store(context, first, 0, next(reading))
    claimed_not_stored = next(reading)  # the worker dies here, before storing page 1
    reading.close()
    deliver(context, flow_id, [{"n": 4}])  # meanwhile another delivery arrives

    again = list(WebhookPages(context.sessions, job_id, 0, flow_id, page_size=1).pages())
    # Index 0 was stored (the export task skips it); page 1 comes back as it was claimed.
    assert again == [[], claimed_not_stored, [{"n": 3}], [{"n": 4}]]
    with context.sessions.begin() as session:
        session.execute(delete(JobPage).where(JobPage.job_id == job_id))
        session.execute(delete(Job).where(Job.id == job_id))


def test_a_failed_export_releases_what_it_claimed(context: AppContext) -> None:
    flow_id = new_object_id()
    deliver(context, flow_id, [{"n": 1}], [{"n": 2}])
    failed = WebhookPages(context.sessions, new_object_id(), 0, flow_id, page_size=1)
    list(failed.pages())
    with context.sessions.begin() as session:
        failed.release(session)
    assert [(r.job_id, r.page_index) for r in rows(context, flow_id)] == [(None, None)] * 2
    next_job = WebhookPages(context.sessions, new_object_id(), 0, flow_id, page_size=10)
    assert list(next_job.pages()) == [[{"n": 1}, {"n": 2}]]
