"""JavaScript hooks in runner processes: a script that makes V8 abort takes its runner down,
never the caller, and the next call gets a fresh runner; API calls travel through the parent."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from integrator.hooks.base import (
    SCRIPT_ERROR,
    SCRIPT_MEMORY,
    SCRIPT_TIMEOUT,
    ApiCallError,
    HookError,
    Invocation,
    Limits,
)
from integrator.hooks.js_process import JavaScriptProcesses

LIMITS = Limits(timeout_seconds=5, memory_mb=128)


@pytest.fixture
def runtime() -> Iterator[JavaScriptProcesses]:
    pool = JavaScriptProcesses(size=2)
    yield pool
    pool.close()


def call(source: str, function: str = "hook", api: Any = None, **options: Any) -> Invocation:
    return Invocation(
        tenant="t1",
        source=source,
        source_key=str(hash(source)),
        function=function,
        options=options,
        api=api,
    )


class RecordingApi:
    def __init__(self) -> None:
        self.requests: list[tuple[str, str, Any]] = []

    def request(self, method: str, path: str, body: Any = None) -> Any:
        self.requests.append((method, path, body))
        if path.endswith("/missing"):
            raise ApiCallError(404, {"errors": [{"code": "not_found", "message": "No such key."}]})
        return {"echo": body}


def test_a_call_returns_the_value_and_the_logs(runtime: JavaScriptProcesses) -> None:
    source = "function hook(o) { console.log('got', o.n); return {double: o.n * 2}; }"
    outcome = runtime.run(call(source, n=21), LIMITS)
    assert outcome.value == {"double": 42}
    assert [(line.level, line.message) for line in outcome.logs] == [("log", "got 21")]


def test_api_calls_go_through_the_parent(runtime: JavaScriptProcesses) -> None:
    api = RecordingApi()
    source = """
import { state } from 'integrator-api';
async function hook(o) {
  await state.put('k', {v: 1});
  try { await state.get('missing'); } catch (e) { return {status: e.status, message: e.message}; }
}
"""
    outcome = runtime.run(call(source, api=api), LIMITS)
    assert outcome.value == {"status": 404, "message": "No such key."}
    assert api.requests == [("PUT", "/v1/state/k", {"v": 1}), ("GET", "/v1/state/missing", None)]


def test_a_v8_abort_fails_the_call_not_the_caller(runtime: JavaScriptProcesses) -> None:
    # With a 256 MB heap V8 aborts its whole process on this allocation (a fatal error, not
    # an exception); the runner's memory watch may stop it first. Either way: out of memory.
    limits = Limits(timeout_seconds=120, memory_mb=256)
    with pytest.raises(HookError) as raised:
        runtime.run(call("function hook(o) { return Array.from({length: 2e9}).length; }"), limits)
    assert raised.value.code == SCRIPT_MEMORY
    assert runtime.run(call("function hook(o) { return 'alive'; }"), LIMITS).value == "alive"


def runner_pids() -> list[int]:
    """This process's JavaScript runner processes."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                parent = int(stat.read().rsplit(")", 1)[1].split()[1])
            with open(f"/proc/{entry}/cmdline", "rb") as cmdline:
                command = cmdline.read()
        except OSError:
            continue
        if parent == os.getpid() and b"integrator.hooks.js_process" in command:
            found.append(int(entry))
    return found


def test_a_runner_that_dies_mid_call_is_replaced(runtime: JavaScriptProcesses) -> None:
    def kill_soon() -> None:
        time.sleep(0.5)
        for pid in runner_pids():
            os.kill(pid, signal.SIGKILL)

    killer = threading.Thread(target=kill_soon)
    killer.start()
    with pytest.raises(HookError) as raised:
        runtime.run(call("function hook(o) { while (true) {} }"), LIMITS)
    killer.join()
    assert raised.value.code == SCRIPT_MEMORY
    assert "stopped the JavaScript runtime" in str(raised.value)
    assert runtime.run(call("function hook(o) { return 'alive'; }"), LIMITS).value == "alive"


def test_errors_and_timeouts_keep_their_codes(runtime: JavaScriptProcesses) -> None:
    with pytest.raises(HookError) as raised:
        runtime.run(call("function hook(o) { throw new TypeError('bad input'); }"), LIMITS)
    assert raised.value.code == SCRIPT_ERROR and "bad input" in str(raised.value)
    quick = Limits(timeout_seconds=0.5)
    with pytest.raises(HookError) as raised:
        runtime.run(call("function hook(o) { while (true) {} }"), quick)
    assert raised.value.code == SCRIPT_TIMEOUT


def test_concurrent_calls_share_the_pool(runtime: JavaScriptProcesses) -> None:
    source = "function hook(o) { return o.data.map(function (d) { return {data: d * 2}; }); }"
    results: dict[int, Any] = {}

    def work(n: int) -> None:
        results[n] = runtime.run(call(source, data=list(range(n, n + 100))), LIMITS).value

    threads = [threading.Thread(target=work, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(results[n] == [{"data": 2 * d} for d in range(n, n + 100)] for n in range(6))
