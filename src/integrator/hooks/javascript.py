"""JavaScript hooks in V8 (mini-racer), so that integrator.io scripts run unchanged.

A script is plain JavaScript defining one or more functions; a call names one and passes
``options``::

    function preMap(options) {
      return options.data.map((record) => ({ data: record }));
    }

Where scripts run: one V8 isolate (its own heap and thread) per worker thread and tenant, so
one account's script never sees another's globals or prototypes, and no two threads share
an isolate. Each script is compiled once per ``source_key`` into a function body of its own
(two scripts may both define ``preMap``), and looked up by name on every call. V8 has no file
system, network or process access; the runtime adds ``console`` and the ``integrator-api``
module (see ``js_support``).

How a call runs: one event loop thread drives every isolate, and only through cancelable
evaluations whose answer is a string (``js_support`` describes it). Nothing ever waits for
an isolate outside a cancelable task, so a script that runs away cannot block the loop,
and a supervisor on the loop can stop it: past ``timeout_seconds``, or once the heap
outgrows ``memory_mb`` (V8 terminates it), or once the process grows by far more than that
(typed arrays live outside the heap). A stopped isolate is closed on a background thread
and the next call gets a new one.

The ``integrator-api`` functions return Promises (integrator.io's are synchronous), so a
script that calls them is an ``async function``; its requests are run on a thread pool
through ``Invocation.api`` and their answers handed back to the isolate.

>>> runtime = JavaScriptRuntime()
>>> runtime.run(Invocation(tenant="a", source="function f(o) { return o.x + 1 }",
...                        source_key="s1", function="f", options={"x": 1}), Limits()).value
2
>>> runtime.close()
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import os
import queue
import re
import threading
import weakref
from collections import OrderedDict
from contextlib import ExitStack
from typing import Any

import orjson
from py_mini_racer import JSOOMException, MiniRacer, mini_racer

from integrator.hooks.base import (
    FUNCTION_NOT_FOUND,
    RESPONSE_TOO_LARGE,
    SCRIPT_ERROR,
    SCRIPT_MEMORY,
    SCRIPT_TIMEOUT,
    Api,
    ApiCallError,
    HookError,
    Invocation,
    Limits,
    LogLine,
    Outcome,
)
from integrator.hooks.js_support import BOOTSTRAP, rewrite_modules

__all__ = ["JavaScriptRuntime"]

logger = logging.getLogger(__name__)

_IDENTIFIER = re.compile(r"[A-Za-z_$][\w$]*", re.ASCII)
_MB = 1024 * 1024
_PAGE_BYTES = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
#: How often the supervisor checks a running call's memory, in seconds.
_WATCH_SECONDS = 0.05
#: Typed arrays live outside the heap ``memory_mb`` limits: a call during which the process
#: grows by more than this many times ``memory_mb`` (at least 128) is stopped too.
#: Loose on purpose: other threads' calls and work grow the process at the same time.
_PROCESS_GROWTH_FACTOR = 4
#: How long stopping a call may wait for the lines the script logged before it was stopped.
_SALVAGE_SECONDS = 0.5
#: Beyond its time limit, how long a caller waits for the supervisor before giving up.
_GRACE_SECONDS = 10.0


class JavaScriptRuntime:
    """Runs JavaScript hook functions (``Runtime`` of ``hooks.base``); safe to call from
    several threads at once.

    ``isolates_per_thread`` bounds the tenants whose isolate a worker thread keeps (least
    recently used ones are closed), ``scripts_per_isolate`` the compiled scripts one isolate
    keeps, and ``api_threads`` the ``integrator-api`` requests that run at the same time.
    """

    def __init__(
        self, *, isolates_per_thread: int = 8, scripts_per_isolate: int = 256, api_threads: int = 8
    ) -> None:
        self._isolates_per_thread = isolates_per_thread
        self._scripts_per_isolate = scripts_per_isolate
        self._loop = asyncio.new_event_loop()
        self._loop_thread = threading.Thread(
            target=self._loop.run_forever, name="javascript-hooks", daemon=True
        )
        self._loop_thread.start()
        self._api_pool = concurrent.futures.ThreadPoolExecutor(
            api_threads, thread_name_prefix="javascript-api"
        )
        # Stopped and evicted isolates are closed here: closing waits for V8 to let go, which
        # a runaway builtin may delay, and no worker thread should wait for that.
        self._retired: queue.SimpleQueue[_Isolate | None] = queue.SimpleQueue()
        threading.Thread(target=self._reap, name="javascript-reaper", daemon=True).start()
        self._local = threading.local()
        self._lock = threading.Lock()
        self._isolates: weakref.WeakSet[_Isolate] = weakref.WeakSet()
        self._closed = False

    def run(self, invocation: Invocation, limits: Limits) -> Outcome:
        """Call ``invocation.function`` of ``invocation.source`` (see ``Runtime.run``)."""
        payload, logs = self.run_json(invocation, limits)
        return Outcome(orjson.loads(payload), logs)

    def run_json(
        self, invocation: Invocation, limits: Limits, options_json: str | None = None
    ) -> tuple[str, list[LogLine]]:
        """``run``, with the value as the JSON text V8 wrote: a runner process hands it on
        undecoded. ``options_json``, when given, is ``invocation.options`` already encoded."""
        if self._closed:
            raise RuntimeError("The JavaScript runtime is closed.")
        name = invocation.function
        if not _IDENTIFIER.fullmatch(name):
            raise HookError(
                f"'{name}' is not the name of a JavaScript function.", FUNCTION_NOT_FOUND
            )
        isolate = self._isolate(invocation.tenant)
        code = isolate.call_code(invocation, limits, options_json)
        future = asyncio.run_coroutine_threadsafe(
            self._supervise(isolate, code, invocation.api, limits, name), self._loop
        )
        try:
            reply = future.result(limits.timeout_seconds + _GRACE_SECONDS)
        except _Stopped as stopped:
            self._retire(invocation.tenant, isolate)
            raise HookError(str(stopped), stopped.code, logs=stopped.logs) from None
        except concurrent.futures.TimeoutError:
            future.cancel()
            self._retire(invocation.tenant, isolate)
            raise HookError(_time_message(name, limits), SCRIPT_TIMEOUT) from None
        return isolate.outcome(reply, invocation, limits)

    def close(self) -> None:
        """Close every isolate and stop the runtime's threads. Call it when no call runs."""
        if self._closed:
            return
        self._closed = True
        with self._lock:
            isolates = list(self._isolates)
            self._isolates.clear()
        for isolate in isolates:
            isolate.close()
        self._retired.put(None)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._loop_thread.join(5)
        self._api_pool.shutdown(wait=False, cancel_futures=True)

    def _isolate(self, tenant: str) -> _Isolate:
        isolates = self._thread_isolates()
        isolate = isolates.get(tenant)
        if isolate is not None:
            isolates.move_to_end(tenant)
            return isolate
        isolate = _Isolate(self._loop, self._scripts_per_isolate)
        isolates[tenant] = isolate
        with self._lock:
            self._isolates.add(isolate)
        while len(isolates) > self._isolates_per_thread:
            self._retire(*isolates.popitem(last=False))
        return isolate

    def _thread_isolates(self) -> OrderedDict[str, _Isolate]:
        isolates: OrderedDict[str, _Isolate] | None = getattr(self._local, "isolates", None)
        if isolates is None:
            isolates = self._local.isolates = OrderedDict()
        return isolates

    def _retire(self, tenant: str, isolate: _Isolate) -> None:
        isolates = self._thread_isolates()
        if isolates.get(tenant) is isolate:
            del isolates[tenant]
        with self._lock:
            self._isolates.discard(isolate)
        self._retired.put(isolate)

    def _reap(self) -> None:
        while (isolate := self._retired.get()) is not None:
            try:
                isolate.close()
            except Exception:  # a failed close must not stop the closing of the next ones
                logger.exception("Closing a JavaScript isolate failed.")

    async def _supervise(
        self, isolate: _Isolate, code: str, api: Api | None, limits: Limits, name: str
    ) -> str:
        """The call's answer; raises ``_Stopped`` when it runs out of time or memory."""
        isolate.racer.set_hard_memory_limit(limits.memory_mb * _MB)
        task = asyncio.get_running_loop().create_task(self._converse(isolate, code, api))
        try:
            stopped = await _watch(task, isolate.racer, name, limits)
        finally:
            if not task.done():  # stopped, or the caller gave up waiting
                task.cancel()  # which terminates the JavaScript the task runs
                await asyncio.wait({task})
        if stopped is None:
            try:
                return task.result()
            except Exception as exc:
                if isinstance(exc, JSOOMException) or isolate.racer.was_hard_memory_limit_reached():
                    stopped = _Stopped(_memory_message(name, limits), SCRIPT_MEMORY)
                else:
                    message = f"{name} failed in the JavaScript runtime: {exc}"
                    stopped = _Stopped(message, SCRIPT_ERROR)
        stopped.logs = await self._salvage_logs(isolate, limits)
        raise stopped

    async def _converse(self, isolate: _Isolate, code: str, api: Api | None) -> str:
        """Evaluate the call, then answer its API requests and ask again until it is done."""
        reply = await isolate.eval(code)
        pause = 0.001
        while reply.startswith("P"):
            requests = orjson.loads(reply[1:])
            if requests:
                answers = await asyncio.gather(*(self._request(api, *item) for item in requests))
                await isolate.eval(f"__integrator.settle([{','.join(answers)}])")
                pause = 0.001
            else:  # waiting for a timer (setTimeout)
                await asyncio.sleep(pause)
                pause = min(2 * pause, 0.02)
            reply = await isolate.eval("__integrator.poll()")
        return reply

    async def _request(
        self, api: Api | None, request_id: int, method: str, path: str, body: Any
    ) -> str:
        """One API request's answer, as the JSON ``settle`` expects."""
        if api is None:
            return orjson.dumps(
                [request_id, False, "The integrator-api module is not available here."]
            ).decode()
        loop = asyncio.get_running_loop()
        try:
            value = await loop.run_in_executor(self._api_pool, api.request, method, path, body)
            return orjson.dumps([request_id, True, value]).decode()
        except ApiCallError as exc:
            return orjson.dumps([request_id, False, str(exc), exc.status]).decode()
        except Exception as exc:  # the script sees any failure as a rejected Promise
            return orjson.dumps([request_id, False, f"The API request failed: {exc}"]).decode()

    async def _salvage_logs(self, isolate: _Isolate, limits: Limits) -> list[LogLine]:
        """What a stopped call logged, when its isolate can still tell in a moment."""
        isolate.racer.set_hard_memory_limit(2 * limits.memory_mb * _MB)
        try:
            return _log_lines(
                await asyncio.wait_for(isolate.eval("__integrator.logs()"), _SALVAGE_SECONDS)
            )
        except Exception:  # stuck or out of memory: the call's error goes without its logs
            return []


async def _watch(
    task: asyncio.Task[str], racer: MiniRacer, name: str, limits: Limits
) -> _Stopped | None:
    """Wait for the call to end (None), or until it must be stopped (why)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limits.timeout_seconds
    growth_cap = _resident_bytes() + _PROCESS_GROWTH_FACTOR * max(limits.memory_mb, 128) * _MB
    while True:
        remaining = deadline - loop.time()
        done, _ = await asyncio.wait({task}, timeout=max(0.0, min(_WATCH_SECONDS, remaining)))
        if done:
            return None
        if racer.was_hard_memory_limit_reached() or _resident_bytes() > growth_cap:
            return _Stopped(_memory_message(name, limits), SCRIPT_MEMORY)
        if remaining <= 0:
            return _Stopped(_time_message(name, limits), SCRIPT_TIMEOUT)


class _Isolate:
    """One V8 isolate and the scripts compiled in it (least recently used ones forgotten)."""

    def __init__(self, loop: asyncio.AbstractEventLoop, max_scripts: int) -> None:
        stack = ExitStack()
        try:
            self.racer: MiniRacer = stack.enter_context(mini_racer(loop))
            self.racer.eval(BOOTSTRAP)
        except BaseException:
            stack.close()
            raise
        self._close = weakref.finalize(self, stack.close)
        self._close.atexit = False
        self._max_scripts = max_scripts
        self._scripts: OrderedDict[str, None] = OrderedDict()

    def call_code(
        self, invocation: Invocation, limits: Limits, options_json: str | None = None
    ) -> str:
        """The JavaScript that runs the call, compiling the script if this isolate has not."""
        key = invocation.source_key
        forget: list[str] = []
        if key in self._scripts:
            self._scripts.move_to_end(key)
            source = "null"
        else:
            self._scripts[key] = None
            while len(self._scripts) > self._max_scripts:
                forget.append(self._scripts.popitem(last=False)[0])
            source = _js(rewrite_modules(invocation.source))
        # V8 reads JSON.parse("...") faster than the same data as an object literal.
        each = "null" if invocation.each is None else _js(_js(invocation.each))
        has_api = "false" if invocation.api is None else "true"
        return (
            f"__integrator.run({_js(key)},{source},{_js(invocation.function)},"
            f"{_js(options_json or _js(invocation.options))},{each},{has_api},"
            f"{int(limits.log_lines)},"
            f"{int(limits.log_line_chars)},{_js(forget)})"
        )

    def outcome(
        self, reply: str, invocation: Invocation, limits: Limits
    ) -> tuple[str, list[LogLine]]:
        """The call's value (JSON text) and logs from its final answer; raises ``HookError``
        for a failure."""
        logs_text, _, payload = reply[1:].partition("\n")
        logs = _log_lines(logs_text)
        if reply.startswith("E"):
            error = orjson.loads(payload)
            if not error["compiled"]:
                self._scripts.pop(invocation.source_key, None)
            raise HookError(str(error["message"]), str(error["code"]), logs=logs)
        size = len(payload) if payload.isascii() else len(payload.encode())
        if size > limits.max_response_bytes:
            raise HookError(
                f"{invocation.function} returned {size} bytes, more than the limit of "
                f"{limits.max_response_bytes}.",
                RESPONSE_TOO_LARGE,
                logs=logs,
            )
        return payload, logs

    async def eval(self, code: str) -> str:
        reply = await self.racer.eval_cancelable(code)
        if not isinstance(reply, str):
            raise TypeError(f"The JavaScript runtime answered {reply!r}.")
        return reply

    def close(self) -> None:
        self._close()


class _Stopped(Exception):
    """A call stopped from outside (time, memory): its isolate must not run anything else."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.code = code
        self.logs: list[LogLine] = []


def _js(value: Any) -> str:
    """``value`` as a JavaScript expression: JSON is one."""
    return orjson.dumps(value).decode()


def _log_lines(text: str) -> list[LogLine]:
    return [LogLine(level, message, time) for level, message, time in orjson.loads(text)]


def _time_message(name: str, limits: Limits) -> str:
    return f"{name} exceeded its time limit of {limits.timeout_seconds:g} s."


def _memory_message(name: str, limits: Limits) -> str:
    return f"{name} exceeded its memory limit of {limits.memory_mb} MB."


def _resident_bytes() -> int:
    """The process's resident memory (0 where /proc is missing: no check then)."""
    try:
        with open("/proc/self/statm", "rb") as statm:
            return int(statm.read().split()[1]) * _PAGE_BYTES
    except OSError:
        return 0
