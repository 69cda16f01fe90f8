"""Webhook deliveries between the listener and the flow jobs that read them.

The listener stores a delivery's records (``accept``) and answers only once they are
committed: nothing acknowledged can be lost. A flow whose page generator is the listener's
export then runs as a job; its export task reads the deliveries waiting for that flow as
pages (``WebhookPages``): it claims rows for a page (``job_id``, ``page_index``), and the
transaction that stores the page deletes them, so each delivery lands in exactly one job page.
A task that dies between the two gives its claimed pages again when it is resumed. Deliveries
that arrive faster than jobs finish wait together and become the next job's pages.

``waiting_flows`` is the safety net of the scheduler's housekeeping: a flow with deliveries
waiting and no job queued or running gets one (a process that died after answering, before
it started the flow).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import and_, delete, func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session, sessionmaker

from integrator.adaptors.http.client import DebugLog
from integrator.store import repository as repo
from integrator.store.models import Job, JobPage, Resource, WebhookDelivery, WebhookKey

#: Records per page when the export sets no ``pageSize``.
DEFAULT_PAGE_SIZE = 100
#: Deliveries read per query while a page fills.
CLAIM_BATCH = 500
#: Waiting this long with no job makes housekeeping start the flow.
BACKLOG_GRACE = timedelta(seconds=10)
ACTIVE_STATUSES = ("queued", "running", "canceling")


def listening_flows(session: Session, account_id: str, export_id: str) -> list[str]:
    """The enabled flows whose page generators include the export, by id."""
    flows = {
        resource.id: resource
        for resource, path in repo.dependants(session, account_id, export_id)
        if resource.type == "flows" and (path.startswith("pageGenerators") or path == "_exportId")
    }
    return sorted(fid for fid, flow in flows.items() if not flow.doc.get("disabled"))


def seen_before(session: Session, export_id: str, key: str, window_seconds: float) -> bool:
    """Whether ``key`` came within the window; records it (until the window ends) if not."""
    moment = datetime.now(UTC)
    session.execute(
        delete(WebhookKey).where(
            WebhookKey.export_id == export_id,
            WebhookKey.key == key,
            WebhookKey.expires_at <= moment,
        )
    )
    values = {"export_id": export_id, "key": key[:200],
              "expires_at": moment + timedelta(seconds=window_seconds)}  # fmt: skip
    dialect = session.get_bind().dialect.name
    dialect_insert = pg_insert if dialect == "postgresql" else sqlite_insert
    statement = dialect_insert(WebhookKey).values(**values).on_conflict_do_nothing()
    # RETURNING, not rowcount: psycopg reports -1 for an ORM session's INSERT.
    return session.execute(statement.returning(WebhookKey.key)).first() is None


def accept(
    session: Session,
    account_id: str,
    export_id: str,
    flow_ids: list[str | None] | list[str],
    records: list[Any],
) -> None:
    """Store a delivery for each listening flow (one row with no flow when none listens)."""
    body = orjson.dumps(records)
    moment = datetime.now(UTC)
    rows = [
        {"account_id": account_id, "export_id": export_id, "flow_id": flow_id,
         "received_at": moment, "records": body, "count": len(records)}
        for flow_id in (list(flow_ids) or [None])
    ]  # fmt: skip
    session.execute(insert(WebhookDelivery), rows)


def waiting_flows(
    sessions: sessionmaker[Session], now: datetime | None = None
) -> list[tuple[str, str]]:
    """``(account, flow)`` pairs with deliveries waiting past the grace and no active job."""
    moment = now or datetime.now(UTC)
    with sessions() as session:
        rows = session.execute(
            select(WebhookDelivery.account_id, WebhookDelivery.flow_id)
            .where(
                WebhookDelivery.flow_id.is_not(None),
                WebhookDelivery.job_id.is_(None),
                WebhookDelivery.received_at < moment - BACKLOG_GRACE,
                ~select(Job.id)
                .where(
                    and_(
                        Job.flow_id == WebhookDelivery.flow_id,
                        Job.flow_job_id.is_(None),
                        Job.status.in_(ACTIVE_STATUSES),
                    )
                )
                .exists(),
            )
            .distinct()
        ).all()
    return [(row.account_id, str(row.flow_id)) for row in rows]


def purge_keys(sessions: sessionmaker[Session]) -> int:
    """Housekeeping: forget dedupe keys whose window has passed."""
    moment = datetime.now(UTC)
    with sessions.begin() as session:
        if session.scalar(select(WebhookKey.key).where(WebhookKey.expires_at <= moment).limit(1)):
            result = session.execute(delete(WebhookKey).where(WebhookKey.expires_at <= moment))
            return int(getattr(result, "rowcount", 0))
    return 0


class WebhookPages:
    """A webhook export's pages for one job: the deliveries waiting for its flow."""

    debug: DebugLog | None = None

    def __init__(
        self,
        sessions: sessionmaker[Session],
        job_id: str,
        generator: int,
        flow_id: str,
        page_size: int,
    ) -> None:
        self.sessions = sessions
        self.job_id = job_id
        self.generator = generator
        self.flow_id = flow_id
        self.page_size = max(1, page_size)

    def pages(self) -> Iterator[list[Any]]:
        """Pages in index order. A resumed task first gets placeholders for the pages it
        stored already (the export task skips those indices), then the pages it had claimed
        but not stored, with their indices, then new ones."""
        with self.sessions() as session:
            index = int(
                session.scalar(
                    select(func.count())
                    .select_from(JobPage)
                    .where(JobPage.job_id == self.job_id, JobPage.generator == self.generator)
                )
                or 0
            )
        for _ in range(index):
            yield []
        for claimed, page in self._claimed_before():
            if claimed < index:
                continue  # stored meanwhile by another delivery of this task
            yield page
            index = claimed + 1
        while True:
            page = self._claim(index)
            if not page:
                return
            yield page
            index += 1

    def stored(self, session: Session, index: int) -> None:
        """The page is stored (same transaction): its deliveries are handed over."""
        session.execute(
            delete(WebhookDelivery).where(
                WebhookDelivery.job_id == self.job_id, WebhookDelivery.page_index == index
            )
        )

    def release(self, session: Session) -> None:
        """The export ended without storing some claimed pages (it failed): their deliveries
        wait for the next job again."""
        session.execute(
            update(WebhookDelivery)
            .where(WebhookDelivery.job_id == self.job_id)
            .values(job_id=None, page_index=None)
        )

    def _claimed_before(self) -> Iterator[tuple[int, list[Any]]]:
        with self.sessions() as session:
            rows = session.execute(
                select(WebhookDelivery.page_index, WebhookDelivery.records)
                .where(WebhookDelivery.job_id == self.job_id)
                .order_by(WebhookDelivery.page_index, WebhookDelivery.id)
            ).all()
        pages: dict[int, list[Any]] = {}
        for row in rows:
            pages.setdefault(int(row.page_index), []).extend(orjson.loads(row.records))
        yield from sorted(pages.items())

    def _claim(self, index: int) -> list[Any]:
        """Claim waiting deliveries, oldest first, until the page is full (a delivery is
        never split: a page may run over ``page_size`` by one delivery's records)."""
        with self.sessions.begin() as session:
            rows = session.execute(
                select(
                    WebhookDelivery.id,
                    WebhookDelivery.records,
                    WebhookDelivery.count.label("size"),
                )
                .where(WebhookDelivery.flow_id == self.flow_id, WebhookDelivery.job_id.is_(None))
                .order_by(WebhookDelivery.id)
                .limit(CLAIM_BATCH)
            ).all()
            records: list[Any] = []
            ids: list[int] = []
            for row in rows:
                if records and len(records) + row.size > self.page_size:
                    break
                ids.append(row.id)
                records.extend(orjson.loads(row.records))
            if ids:
                session.execute(
                    update(WebhookDelivery)
                    .where(WebhookDelivery.id.in_(ids), WebhookDelivery.job_id.is_(None))
                    .values(job_id=self.job_id, page_index=index)
                )
        return records


def export_page_size(export: dict[str, Any]) -> int:
    size = export.get("pageSize")
    return size if isinstance(size, int) and size > 0 else DEFAULT_PAGE_SIZE


def owner_of(session: Session, export_id: str) -> str | None:
    """The account of a webhook export, whoever asks (listeners are public)."""
    return session.scalar(
        select(Resource.account_id).where(Resource.id == export_id, Resource.type == "exports")
    )


__all__ = [
    "WebhookPages",
    "accept",
    "export_page_size",
    "listening_flows",
    "owner_of",
    "purge_keys",
    "seen_before",
    "waiting_flows",
]
