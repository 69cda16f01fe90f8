"""The flow scheduler: starts scheduled flows when they are due, once, however many run.

Each scheduled flow has a row in ``flow_schedules`` saying when it is next due (reference §5):
one for the flow's own ``schedule`` (``generator`` ``""``) and one for each page generator with
its own ``schedule`` (``generator`` = its ``_exportId``). A tick, every few seconds, does:

1. ``sync_schedules``: make the rows match the flow documents (new, changed, removed schedules);
2. ``claim_due``: advance each due row with a compare-and-set on ``next_run_at``; only the
   process whose ``UPDATE`` changed the row starts the run, so two schedulers are safe;
3. call ``trigger(account_id, flow_id, options)`` for each claimed run, after the commit.

``options`` says which page generators a run covers::

    {}                                  # the whole flow
    {"_exportIds": ["<export id>"]}     # a generator with its own schedule
    {"_exportIds": ["<id>", "<id>"]}    # the flow's schedule, when some generators have their own

A run missed while no scheduler was up runs once when one comes back, not once per missed slot.
A claimed run whose ``trigger`` raises is logged and not retried: the row has already moved on.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any, NamedTuple, cast

from sqlalchemy import CursorResult, Insert, delete, insert, select, tuple_, update
from sqlalchemy.orm import Session, sessionmaker

from integrator.resources.cron import next_run
from integrator.store.models import FlowSchedule, Resource

log = logging.getLogger("integrator.scheduler")

#: Starts a run: ``trigger(account_id, flow_id, options)``; the return value is ignored.
Trigger = Callable[[str, str, dict[str, Any]], object]
#: A run claimed by this process: ``(account_id, flow_id, options)``.
Claim = tuple[str, str, dict[str, Any]]
#: A flow without ``timezone`` reads its schedule in UTC (integrator.io uses the account's zone).
DEFAULT_TIMEZONE = "UTC"
#: ``generator`` of the row for the flow's own ``schedule``.
FLOW_LEVEL = ""


class _Wanted(NamedTuple):
    account_id: str
    schedule: str
    timezone: str


def _schedule_text(value: Any) -> str | None:
    return value if isinstance(value, str) and value.strip() else None


def _generators(doc: dict[str, Any]) -> list[tuple[str, str | None]]:
    """``(export id, own schedule or None)`` of each page generator, in order."""
    found: list[tuple[str, str | None]] = []
    for generator in doc.get("pageGenerators") or []:
        if isinstance(generator, dict) and isinstance(generator.get("_exportId"), str):
            found.append((generator["_exportId"], _schedule_text(generator.get("schedule"))))
    return found


def wanted_schedules(doc: dict[str, Any]) -> dict[str, tuple[str, str]]:
    """The rows a flow document asks for: generator → ``(schedule, timezone)``.

    >>> doc = {"schedule": "? 0 2 ? * *", "pageGenerators": [
    ...     {"_exportId": "e1"}, {"_exportId": "e2", "schedule": "? */5 * * * *"}]}
    >>> wanted_schedules(doc)
    {'e2': ('? */5 * * * *', 'UTC'), '': ('? 0 2 ? * *', 'UTC')}

    A disabled flow wants none. The flow-level row is left out when every page generator has
    its own schedule, since it would have nothing to run.
    """
    if doc.get("disabled"):
        return {}
    timezone = _timezone(doc)
    wanted: dict[str, tuple[str, str]] = {}
    for export_id, own in _generators(doc):
        if own is not None:
            wanted.setdefault(export_id, (own, timezone))
    flow_schedule = _schedule_text(doc.get("schedule"))
    if flow_schedule is not None and run_options(doc, FLOW_LEVEL) is not None:
        wanted[FLOW_LEVEL] = (flow_schedule, timezone)
    return wanted


def _timezone(doc: dict[str, Any]) -> str:
    zone = doc.get("timezone")
    return zone if isinstance(zone, str) and zone else DEFAULT_TIMEZONE


def run_options(doc: dict[str, Any], generator: str) -> dict[str, Any] | None:
    """The trigger options of a run of row ``generator``, or None if it has nothing to run.

    ``{}`` runs the whole flow; ``{"_exportIds": [...]}`` only those page generators.
    """
    generators = _generators(doc)
    own = {export_id for export_id, schedule in generators if schedule is not None}
    if generator != FLOW_LEVEL:
        return {"_exportIds": [generator]} if generator in own else None
    if not own:
        return {}
    rest = list(dict.fromkeys(export_id for export_id, _ in generators if export_id not in own))
    return {"_exportIds": rest} if rest else None


def _require_aware(now: datetime) -> None:
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be a timezone-aware datetime.")


def _run_after(
    key: tuple[str, str], schedule: str, timezone: str, now: datetime
) -> datetime | None:
    """The next run after ``now``, or None (logged) if the stored schedule cannot be read."""
    try:
        return next_run(schedule, timezone, now)
    except (ValueError, KeyError) as exc:  # ZoneInfoNotFoundError is a KeyError
        log.warning("Flow %s generator %r: schedule %r not scheduled: %s", *key, schedule, exc)
        return None


def _insert_ignoring_duplicates(session: Session) -> Insert:
    """``INSERT … ON CONFLICT DO NOTHING``: another scheduler may add the same row first."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(FlowSchedule).on_conflict_do_nothing()
    if dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        return sqlite_insert(FlowSchedule).on_conflict_do_nothing()
    return insert(FlowSchedule)


def sync_schedules(session: Session, now: datetime) -> None:
    """Make ``flow_schedules`` match the flow documents of every account.

    New rows get the first run after ``now``; rows whose schedule or time zone text changed
    are recomputed from ``now``; rows of deleted, disabled or unscheduled flows and generators
    are deleted. Two queries read everything; writes happen only for what differs.
    """
    _require_aware(now)
    wanted: dict[tuple[str, str], _Wanted] = {}
    flows = session.execute(
        select(Resource.id, Resource.account_id, Resource.doc).where(Resource.type == "flows")
    )
    for flow_id, account_id, doc in flows:
        if isinstance(doc, dict):
            for generator, (schedule, timezone) in wanted_schedules(doc).items():
                wanted[(flow_id, generator)] = _Wanted(account_id, schedule, timezone)
    existing = {
        (flow_id, generator): (schedule, timezone)
        for flow_id, generator, schedule, timezone in session.execute(
            select(
                FlowSchedule.flow_id,
                FlowSchedule.generator,
                FlowSchedule.schedule,
                FlowSchedule.timezone,
            )
        )
    }
    inserts: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    removals = [key for key in existing if key not in wanted]
    for key, row in sorted(wanted.items()):
        if existing.get(key) == (row.schedule, row.timezone):
            continue
        first = _run_after(key, row.schedule, row.timezone, now)
        if first is None:
            if key in existing:
                removals.append(key)
            continue
        values = {
            "flow_id": key[0],
            "generator": key[1],
            "schedule": row.schedule,
            "timezone": row.timezone,
            "next_run_at": first,
        }
        if key in existing:
            updates.append(values)
        else:
            inserts.append({**values, "account_id": row.account_id})
    if removals:
        session.execute(
            delete(FlowSchedule).where(
                tuple_(FlowSchedule.flow_id, FlowSchedule.generator).in_(sorted(removals))
            ),
            execution_options={"synchronize_session": False},
        )
    if updates:
        session.execute(update(FlowSchedule), updates)  # ORM bulk update by primary key
    if inserts:
        session.execute(_insert_ignoring_duplicates(session), inserts)


def _flow_docs(session: Session, flow_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
    rows = session.execute(
        select(Resource.id, Resource.doc).where(
            Resource.type == "flows", Resource.id.in_(sorted(set(flow_ids)))
        )
    )
    return {flow_id: doc for flow_id, doc in rows if isinstance(doc, dict)}


def claim_due(session: Session, now: datetime) -> list[Claim]:
    """Advance every row due at ``now`` and return the runs this call won.

    Each row moves to its first run after ``now`` with
    ``UPDATE … SET next_run_at = :new WHERE flow_id = :f AND generator = :g
    AND next_run_at = :old``; a row another scheduler advanced first changes nothing here and
    is not returned. Rows are taken in key order, so concurrent schedulers lock them in the
    same order and cannot deadlock. Rows whose flow is gone or disabled are left to
    ``sync_schedules``.
    """
    _require_aware(now)
    due = session.execute(
        select(
            FlowSchedule.flow_id,
            FlowSchedule.generator,
            FlowSchedule.account_id,
            FlowSchedule.schedule,
            FlowSchedule.timezone,
            FlowSchedule.next_run_at,
        )
        .where(FlowSchedule.next_run_at <= now)
        .order_by(FlowSchedule.flow_id, FlowSchedule.generator)
    ).all()
    if not due:
        return []
    docs = _flow_docs(session, (row.flow_id for row in due))
    claimed: list[Claim] = []
    for row in due:
        doc = docs.get(row.flow_id)
        options = None if doc is None or doc.get("disabled") else run_options(doc, row.generator)
        if options is None:
            continue
        key = (row.flow_id, row.generator)
        new = _run_after(key, row.schedule, row.timezone, now)
        if new is None:
            continue
        result = session.execute(
            update(FlowSchedule)
            .where(
                FlowSchedule.flow_id == row.flow_id,
                FlowSchedule.generator == row.generator,
                FlowSchedule.next_run_at == row.next_run_at,
            )
            .values(next_run_at=new),
            execution_options={"synchronize_session": False},
        )
        if cast("CursorResult[Any]", result).rowcount == 1:
            claimed.append((row.account_id, row.flow_id, options))
    return claimed


def tick(sessions: sessionmaker[Session], trigger: Trigger, now: datetime | None = None) -> int:
    """One scheduler step: sync and claim in one transaction, then trigger each claimed run.

    ``trigger`` runs after the commit, so a slow trigger holds no locks; one that raises is
    logged and the others still run. Returns how many triggers returned without raising.
    """
    moment = now if now is not None else datetime.now(UTC)
    with sessions() as session, session.begin():
        sync_schedules(session, moment)
        claimed = claim_due(session, moment)
    started = 0
    for account_id, flow_id, options in claimed:
        try:
            trigger(account_id, flow_id, options)
        except Exception:
            log.exception("Starting scheduled flow %s (%s) failed", flow_id, options)
        else:
            started += 1
    return started


class Scheduler:
    """Calls ``tick`` every ``interval`` seconds on a daemon thread until ``stop``.

    The first tick runs at ``start``. A failing tick is logged and the loop goes on.
    """

    def __init__(
        self,
        sessions: sessionmaker[Session],
        trigger: Trigger,
        interval: float = 5.0,
        also: Callable[[], object] | None = None,
    ) -> None:
        self.sessions = sessions
        self.trigger = trigger
        self.interval = interval
        #: More housekeeping each tick (the engine resumes stale jobs here).
        self.also = also
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        """Start the thread (no-op when it is already running)."""
        if self.running:
            return
        self._stopping.clear()
        self._thread = threading.Thread(target=self._loop, name="integrator-scheduler", daemon=True)
        self._thread.start()

    def stop(self, timeout: float | None = None) -> None:
        """Wake the thread from its sleep and wait for the tick in progress to finish."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout)
            if not self._thread.is_alive():
                self._thread = None

    def _loop(self) -> None:
        while not self._stopping.is_set():
            try:
                tick(self.sessions, self.trigger)
            except Exception:
                log.exception("Scheduler tick failed")
            if self.also is not None:
                try:
                    self.also()
                except Exception:
                    log.exception("Scheduler housekeeping failed")
            self._stopping.wait(self.interval)
