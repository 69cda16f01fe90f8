"""Scheduled flows start when due, once per due time, however many schedulers tick.

The database is shared by the whole session, so other tests' flows are scheduled too: each test
looks only at the flows it created. The session's embedded scheduler ticks in real time; it is
paused here, where ticks happen at chosen times.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from integrator.api.context import AppContext
from integrator.engine import scheduler
from integrator.engine.scheduler import Scheduler, tick
from integrator.store.models import FlowSchedule

from conftest import Api

EVERY_5_MINUTES = "? */5 * * * *"
HOURLY = "? 0 * * * *"
#: 10:02 UTC: the next five-minute slot is 10:05, the next hour 11:00.
T0 = datetime(2031, 3, 4, 10, 2, tzinfo=UTC)


pytestmark = pytest.mark.usefixtures("scheduler_paused")


class Recorder:
    """A trigger that remembers its calls (thread-safe), optionally failing for some flows."""

    def __init__(self, fail_for: set[str] | None = None) -> None:
        self.calls: list[tuple[str, str, dict[str, Any]]] = []
        self.fail_for = fail_for or set()
        self.lock = threading.Lock()
        self.called = threading.Event()

    def __call__(self, account_id: str, flow_id: str, options: dict[str, Any]) -> None:
        with self.lock:
            self.calls.append((account_id, flow_id, options))
        self.called.set()
        if flow_id in self.fail_for:
            raise RuntimeError(f"cannot start {flow_id}")

    def for_flows(self, *flow_ids: str) -> list[tuple[str, str, dict[str, Any]]]:
        return [call for call in self.calls if call[1] in flow_ids]


def make_exports(api: Api, count: int = 1) -> list[str]:
    connection = api.create(
        "connections",
        {
            "name": "Shop",
            "type": "rest",
            "rest": {"baseURI": "https://shop.example.com", "mediaType": "json"},
        },
    )
    return [
        api.create(
            "exports",
            {
                "name": f"Export {n}",
                "_connectionId": connection["_id"],
                "rest": {"relativeURI": f"/e{n}"},
            },
        )["_id"]
        for n in range(count)
    ]


def flow_body(export_ids: list[str], **fields: Any) -> dict[str, Any]:
    generators = [{"_exportId": export_id} for export_id in export_ids]
    return {"name": "Scheduled", "pageGenerators": generators, **fields}


def make_flow(api: Api, **fields: Any) -> str:
    flow: dict[str, Any] = api.create("flows", flow_body(make_exports(api), **fields))
    return str(flow["_id"])


def schedule_rows(context: AppContext, flow_id: str) -> dict[str, FlowSchedule]:
    with context.transaction() as session:
        rows = session.scalars(select(FlowSchedule).where(FlowSchedule.flow_id == flow_id))
        return {row.generator: row for row in rows}


def test_a_due_flow_triggers_once_and_its_next_run_advances(context: AppContext, api: Api) -> None:
    flow_id = make_flow(api, schedule=EVERY_5_MINUTES)
    trigger = Recorder()
    tick(context.sessions, trigger, T0)
    row = schedule_rows(context, flow_id)[""]
    assert row.next_run_at == T0.replace(minute=5)
    assert (row.schedule, row.timezone, row.account_id) == (EVERY_5_MINUTES, "UTC", api.account_id)

    tick(context.sessions, trigger, T0.replace(minute=5))
    tick(context.sessions, trigger, T0.replace(minute=5))
    assert trigger.for_flows(flow_id) == [(api.account_id, flow_id, {})]
    assert schedule_rows(context, flow_id)[""].next_run_at == T0.replace(minute=10)


def test_a_flow_not_yet_due_does_not_trigger(context: AppContext, api: Api) -> None:
    flow_id = make_flow(api, schedule=HOURLY)
    trigger = Recorder()
    tick(context.sessions, trigger, T0)
    tick(context.sessions, trigger, T0.replace(minute=59, second=59))
    assert trigger.for_flows(flow_id) == []
    assert schedule_rows(context, flow_id)[""].next_run_at == T0.replace(hour=11, minute=0)


def test_runs_missed_while_the_scheduler_was_down_run_once(context: AppContext, api: Api) -> None:
    flow_id = make_flow(api, schedule=EVERY_5_MINUTES)
    trigger = Recorder()
    tick(context.sessions, trigger, T0)
    later = T0 + timedelta(hours=3, minutes=1)  # 36 slots missed
    tick(context.sessions, trigger, later)
    assert len(trigger.for_flows(flow_id)) == 1
    assert schedule_rows(context, flow_id)[""].next_run_at == later.replace(minute=5)


def test_a_schedule_is_read_in_the_flow_time_zone(context: AppContext, api: Api) -> None:
    flow_id = make_flow(api, schedule="? 0 2 ? * *", timezone="America/New_York")
    tick(context.sessions, Recorder(), T0)
    # 02:00 in New York in March 2031 (before DST starts on the 9th) is 07:00 UTC.
    assert schedule_rows(context, flow_id)[""].next_run_at == datetime(2031, 3, 5, 7, tzinfo=UTC)


def test_a_flow_without_a_schedule_has_no_schedule_row(context: AppContext, api: Api) -> None:
    flow_id = make_flow(api)
    tick(context.sessions, Recorder(), T0)
    assert schedule_rows(context, flow_id) == {}


def test_a_disabled_flow_never_triggers_and_loses_its_row(context: AppContext, api: Api) -> None:
    export_ids = make_exports(api)
    disabled = api.create("flows", flow_body(export_ids, schedule=EVERY_5_MINUTES, disabled=True))
    enabled = api.create("flows", flow_body(export_ids, schedule=EVERY_5_MINUTES))
    trigger = Recorder()
    tick(context.sessions, trigger, T0)
    assert schedule_rows(context, disabled["_id"]) == {}
    assert set(schedule_rows(context, enabled["_id"])) == {""}

    patch = [{"op": "add", "path": "/disabled", "value": True}]
    assert api.patch(f"/v1/flows/{enabled['_id']}", json=patch).status_code == 204
    tick(context.sessions, trigger, T0 + timedelta(hours=1))
    assert trigger.for_flows(disabled["_id"], enabled["_id"]) == []
    assert schedule_rows(context, enabled["_id"]) == {}


def test_changing_a_schedule_recomputes_the_next_run(context: AppContext, api: Api) -> None:
    flow_id = make_flow(api, schedule=HOURLY)
    trigger = Recorder()
    tick(context.sessions, trigger, T0)
    assert schedule_rows(context, flow_id)[""].next_run_at == T0.replace(hour=11, minute=0)

    patch = [{"op": "replace", "path": "/schedule", "value": EVERY_5_MINUTES}]
    assert api.patch(f"/v1/flows/{flow_id}", json=patch).status_code == 204
    tick(context.sessions, trigger, T0.replace(minute=3))
    row = schedule_rows(context, flow_id)[""]
    assert (row.schedule, row.next_run_at) == (EVERY_5_MINUTES, T0.replace(minute=5))

    patch = [{"op": "add", "path": "/timezone", "value": "Asia/Kolkata"}]  # UTC+05:30
    assert api.patch(f"/v1/flows/{flow_id}", json=patch).status_code == 204
    tick(context.sessions, trigger, T0.replace(minute=3))
    row = schedule_rows(context, flow_id)[""]
    assert (row.timezone, row.next_run_at) == ("Asia/Kolkata", T0.replace(minute=5))
    assert trigger.for_flows(flow_id) == []


def test_deleting_a_flow_removes_its_schedule_row(context: AppContext, api: Api) -> None:
    flow_id = make_flow(api, schedule=EVERY_5_MINUTES)
    trigger = Recorder()
    tick(context.sessions, trigger, T0)
    assert set(schedule_rows(context, flow_id)) == {""}
    assert api.delete(f"/v1/flows/{flow_id}").status_code == 204
    tick(context.sessions, trigger, T0 + timedelta(hours=1))
    assert schedule_rows(context, flow_id) == {}
    assert trigger.for_flows(flow_id) == []


def test_a_generator_with_its_own_schedule_runs_alone_and_the_flow_runs_the_others(
    context: AppContext, api: Api
) -> None:
    hourly_export, plain_export, other_plain_export = make_exports(api, 3)
    body = flow_body([hourly_export, plain_export, other_plain_export], schedule=EVERY_5_MINUTES)
    body["pageGenerators"][0]["schedule"] = HOURLY
    flow_id = api.create("flows", body)["_id"]
    trigger = Recorder()
    tick(context.sessions, trigger, T0)
    rows = schedule_rows(context, flow_id)
    assert {g: r.next_run_at for g, r in rows.items()} == {
        "": T0.replace(minute=5),
        hourly_export: T0.replace(hour=11, minute=0),
    }

    tick(context.sessions, trigger, T0.replace(minute=5))
    others = {"_exportIds": [plain_export, other_plain_export]}
    assert trigger.for_flows(flow_id) == [(api.account_id, flow_id, others)]
    tick(context.sessions, trigger, T0.replace(hour=11, minute=0))
    alone = {"_exportIds": [hourly_export]}
    assert sorted(map(str, trigger.for_flows(flow_id)[1:])) == sorted(
        map(str, [(api.account_id, flow_id, others), (api.account_id, flow_id, alone)])
    )


def test_a_flow_whose_generators_all_have_schedules_has_no_flow_level_row(
    context: AppContext, api: Api
) -> None:
    (export_id,) = make_exports(api)
    body = flow_body([export_id], schedule=EVERY_5_MINUTES)
    body["pageGenerators"][0]["schedule"] = HOURLY
    flow_id = api.create("flows", body)["_id"]
    tick(context.sessions, Recorder(), T0)
    assert set(schedule_rows(context, flow_id)) == {export_id}

    # Dropping the generator's own schedule hands it back to the flow's schedule.
    body["pageGenerators"][0].pop("schedule")
    assert api.put(f"/v1/flows/{flow_id}", json=body).status_code == 200
    trigger = Recorder()
    tick(context.sessions, trigger, T0.replace(minute=5))
    assert set(schedule_rows(context, flow_id)) == {""}
    tick(context.sessions, trigger, T0.replace(minute=10))
    assert trigger.for_flows(flow_id) == [(api.account_id, flow_id, {})]


def test_two_schedulers_ticking_at_once_start_each_due_run_exactly_once(
    context: AppContext, api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    export_id, other_export = make_exports(api, 2)
    body = flow_body([export_id, other_export], schedule=EVERY_5_MINUTES)
    body["pageGenerators"][0]["schedule"] = HOURLY
    flow_ids = [api.create("flows", body)["_id"], make_flow(api, schedule=HOURLY)]
    tick(context.sessions, Recorder(), T0)

    # Both ticks read the due rows, then meet here before either advances one.
    barrier = threading.Barrier(2, timeout=30)
    waited = threading.local()
    real_next_run = scheduler.next_run

    def next_run_after_both_read(text: str, tz: str, after: datetime) -> datetime:
        if not getattr(waited, "done", False):
            waited.done = True
            barrier.wait()
        return real_next_run(text, tz, after)

    monkeypatch.setattr(scheduler, "next_run", next_run_after_both_read)
    trigger = Recorder()
    failures: list[BaseException] = []
    now = T0.replace(hour=11, minute=0)

    def run() -> None:
        try:
            tick(context.sessions, trigger, now)
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert failures == []
    runs = sorted(
        (flow_id, options.get("_exportIds")) for _, flow_id, options in trigger.for_flows(*flow_ids)
    )
    assert runs == sorted(
        [(flow_ids[0], [export_id]), (flow_ids[0], [other_export]), (flow_ids[1], None)]
    )
    # Every row anyone claimed was claimed once.
    claimed = [(flow_id, str(options)) for _, flow_id, options in trigger.calls]
    assert len(claimed) == len(set(claimed))


def test_a_failing_trigger_does_not_stop_the_others(
    context: AppContext, api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    flow_ids = sorted(make_flow(api, schedule=EVERY_5_MINUTES) for _ in range(3))
    tick(context.sessions, Recorder(), T0)
    trigger = Recorder(fail_for={flow_ids[0]})
    with caplog.at_level("ERROR", logger="integrator.scheduler"):
        started = tick(context.sessions, trigger, T0.replace(minute=5))
    assert sorted(call[1] for call in trigger.for_flows(*flow_ids)) == flow_ids
    assert started == len(trigger.calls) - 1
    assert any(flow_ids[0] in record.getMessage() for record in caplog.records)
    assert schedule_rows(context, flow_ids[0])[""].next_run_at == T0.replace(minute=10)


def test_the_scheduler_thread_ticks_until_stopped_and_stops_at_once(
    context: AppContext, api: Api
) -> None:
    flow_id = make_flow(api, schedule=EVERY_5_MINUTES)
    tick(context.sessions, Recorder(), datetime(2020, 1, 1, tzinfo=UTC))  # due since 2020
    trigger = Recorder()
    running = Scheduler(context.sessions, trigger, interval=60)
    running.start()
    try:
        assert trigger.called.wait(10)
        deadline = time.monotonic() + 10
        while not trigger.for_flows(flow_id) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert running.running
    finally:
        started = time.monotonic()
        running.stop(timeout=10)
    assert time.monotonic() - started < 2  # not the 60 s interval
    assert not running.running
    assert trigger.for_flows(flow_id) == [(api.account_id, flow_id, {})]
    assert schedule_rows(context, flow_id)[""].next_run_at > datetime.now(UTC)
    # Due again in real time within minutes: do not leave it to the embedded scheduler.
    assert api.delete(f"/v1/flows/{flow_id}").status_code == 204


def test_a_failing_tick_is_logged_and_the_thread_goes_on(caplog: pytest.LogCaptureFixture) -> None:
    attempts: list[int] = []
    two_attempts = threading.Event()

    def broken_sessions() -> Any:
        attempts.append(1)
        if len(attempts) >= 2:
            two_attempts.set()
        raise RuntimeError("database unreachable")

    running = Scheduler(broken_sessions, Recorder(), interval=0.01)  # type: ignore[arg-type]
    with caplog.at_level("ERROR", logger="integrator.scheduler"):
        running.start()
        try:
            assert two_attempts.wait(10)
        finally:
            running.stop(timeout=10)
    assert not running.running
    assert any("tick failed" in record.getMessage() for record in caplog.records)
