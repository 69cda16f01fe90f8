"""What scripts logged: written by the hook runner (``integrator.hooks.logs``), read and
cleared through ``/v1/scripts/{id}/logs``."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from integrator.api.context import AppContext
from integrator.hooks import logs
from integrator.hooks.base import LogLine

from conftest import Api

T0 = datetime(2024, 5, 1, 10, 0, tzinfo=UTC).timestamp()


def script(api: Api) -> str:
    created = api.create("scripts", {"name": "Hooks", "content": "function f(o) { return o; }"})
    return str(created["_id"])


def write(context: AppContext, api: Api, script_id: str, *lines: LogLine, **where: str) -> None:
    with context.transaction() as session:
        logs.write(
            session,
            api.account_id,
            script_id,
            list(lines),
            function=where.get("function", "preSavePage"),
            flow_id=where.get("flow_id"),
            job_id=where.get("job_id"),
        )


def test_logged_lines_come_back_oldest_first_with_their_call(context: AppContext, api: Api) -> None:
    script_id = script(api)
    assert api.get(f"/v1/scripts/{script_id}/logs").status_code == 204
    write(
        context,
        api,
        script_id,
        LogLine("log", "got 3 records", T0),
        LogLine("warn", "one had no email", T0 + 0.25),
        flow_id="f" * 24,
        job_id="a" * 24,
    )
    write(context, api, script_id, LogLine("error", "boom", T0 + 60), function="postSubmit")
    response = api.get(f"/v1/scripts/{script_id}/logs")
    assert response.status_code == 200
    assert response.json() == [
        {
            "time": "2024-05-01T10:00:00.000Z",
            "level": "log",
            "message": "got 3 records",
            "function": "preSavePage",
            "_flowId": "f" * 24,
            "_jobId": "a" * 24,
        },
        {
            "time": "2024-05-01T10:00:00.250Z",
            "level": "warn",
            "message": "one had no email",
            "function": "preSavePage",
            "_flowId": "f" * 24,
            "_jobId": "a" * 24,
        },
        {
            "time": "2024-05-01T10:01:00.000Z",
            "level": "error",
            "message": "boom",
            "function": "postSubmit",
            "_flowId": None,
            "_jobId": None,
        },
    ]
    since = api.get(f"/v1/scripts/{script_id}/logs", params={"since": "2024-05-01T10:00:30Z"})
    assert [line["message"] for line in since.json()] == ["boom"]


def test_logs_are_paged_like_other_lists(context: AppContext, api: Api) -> None:
    script_id = script(api)
    write(context, api, script_id, *(LogLine("log", f"line {i}", T0 + i) for i in range(5)))
    first = api.get(f"/v1/scripts/{script_id}/logs", params={"limit": 2})
    assert [line["message"] for line in first.json()] == ["line 0", "line 1"]
    assert 'rel="next"' in first.headers["link"] and "skip=2" in first.headers["link"]
    last = api.get(f"/v1/scripts/{script_id}/logs", params={"skip": 4, "limit": 2})
    assert [line["message"] for line in last.json()] == ["line 4"]
    assert "link" not in last.headers


def test_only_the_newest_lines_of_a_script_are_kept(
    context: AppContext, api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(logs, "MAX_LINES_PER_SCRIPT", 3)
    script_id, other_id = script(api), script(api)
    write(context, api, other_id, LogLine("log", "kept", T0))
    write(context, api, script_id, *(LogLine("log", f"a{i}", T0 + i) for i in range(2)))
    write(context, api, script_id, *(LogLine("log", f"b{i}", T0 + 10 + i) for i in range(2)))
    kept = api.get(f"/v1/scripts/{script_id}/logs").json()
    assert [line["message"] for line in kept] == ["a1", "b0", "b1"]
    write(context, api, script_id, *(LogLine("log", f"c{i}", T0 + 20 + i) for i in range(5)))
    kept = api.get(f"/v1/scripts/{script_id}/logs").json()
    assert [line["message"] for line in kept] == ["c2", "c3", "c4"]
    assert len(api.get(f"/v1/scripts/{other_id}/logs").json()) == 1


def test_deleting_clears_the_logs_and_deleting_the_script_drops_them(
    context: AppContext, api: Api
) -> None:
    script_id = script(api)
    write(context, api, script_id, LogLine("log", "hello", T0))
    assert api.delete(f"/v1/scripts/{script_id}/logs").status_code == 204
    assert api.get(f"/v1/scripts/{script_id}/logs").status_code == 204
    write(context, api, script_id, LogLine("log", "again", T0))
    assert api.delete(f"/v1/scripts/{script_id}").status_code == 204
    assert api.get(f"/v1/scripts/{script_id}/logs").status_code == 404
    with context.sessions() as session:
        assert logs.read(session, api.account_id, script_id) == []


def test_another_accounts_or_an_unknown_script_is_404(
    context: AppContext, api: Api, other_api: Api
) -> None:
    script_id = script(api)
    write(context, api, script_id, LogLine("log", "private", T0))
    for path in (f"/v1/scripts/{script_id}/logs", f"/v1/scripts/{'e' * 24}/logs"):
        assert other_api.get(path).status_code == 404
        assert other_api.delete(path).status_code == 404
    assert api.get("/v1/scripts/not-an-id/logs").status_code == 404
    assert len(api.get(f"/v1/scripts/{script_id}/logs").json()) == 1
