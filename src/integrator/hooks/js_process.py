"""JavaScript hooks in runner processes, so that V8 going down takes a runner, never a worker.

V8 stops scripts that run past their time or heap limit, but a few allocations abort the
whole process instead (a "fatal invalid size" error, memory outside the heap). So the engine's
JavaScript runtime is a pool of child processes (``python -m integrator.hooks.js_process``),
each running ``JavaScriptRuntime`` for one call at a time. The parent sends the call as one
frame; the child answers with API requests (the script's ``integrator-api`` calls, which the
parent makes with the call's one-time token) and finally the outcome. A child that dies or
overruns its deadline is killed and replaced, and its call fails with a clear message.

Frames are a 4-byte big-endian length and an orjson document, over the child's stdin and
stdout; the child's own ``print`` output goes to stderr, and scripts cannot write to either.
"""

from __future__ import annotations

import os
import queue
import select
import subprocess
import sys
import threading
import time
from typing import IO, Any

import orjson

from integrator.hooks.base import (
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

__all__ = ["JavaScriptProcesses"]

#: Seconds a child gets past the call's own time limit (its runtime stops the script first).
GRACE_SECONDS = 5.0
#: Largest frame either side accepts.
MAX_FRAME = 64 * 1024 * 1024
#: What the parent reads of a dead child's stderr to say why it died.
STDERR_TAIL = 2000


class Died(Exception):
    """The runner process ended or sent something unreadable."""


def write_frame(stream: IO[bytes], document: Any) -> None:
    data = orjson.dumps(document)
    stream.write(len(data).to_bytes(4, "big") + data)
    stream.flush()


def read_frame(stream: IO[bytes], deadline: float | None = None) -> Any:
    if deadline is not None:
        remaining = deadline - time.monotonic()
        if remaining <= 0 or not select.select([stream], [], [], remaining)[0]:
            raise TimeoutError
    header = stream.read(4)
    if len(header) < 4:
        raise Died("the runner process ended")
    size = int.from_bytes(header, "big")
    if size > MAX_FRAME:
        raise Died("the runner process sent an oversized frame")
    data = stream.read(size)
    if len(data) < size:
        raise Died("the runner process ended mid-frame")
    return orjson.loads(data)


class Runner:
    """One child process, seen from the parent."""

    def __init__(self) -> None:
        environment = {key: value for key, value in os.environ.items() if key == "PATH"}
        environment["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "integrator.hooks.js_process"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=environment,
            start_new_session=True,
        )
        assert self.process.stdin is not None and self.process.stdout is not None
        self.to_child = self.process.stdin
        self.from_child = self.process.stdout

    def call(self, invocation: Invocation, limits: Limits) -> Outcome:
        request = {
            "tenant": invocation.tenant,
            "source": invocation.source,
            "source_key": invocation.source_key,
            "function": invocation.function,
            "options": invocation.options,
            "each": invocation.each,
            "api": invocation.api is not None,
            "limits": limits.__dict__,
        }
        deadline = time.monotonic() + limits.timeout_seconds + GRACE_SECONDS
        write_frame(self.to_child, request)
        while True:
            frame = read_frame(self.from_child, deadline)
            if "api" in frame:
                write_frame(self.to_child, _api_answer(invocation.api, frame["api"]))
                continue
            logs = [LogLine(**line) for line in frame.get("logs") or []]
            if "error" in frame:
                raise HookError(frame["error"], code=frame.get("code", "script_error"), logs=logs)
            return Outcome(value=frame.get("value"), logs=logs)

    def alive(self) -> bool:
        return self.process.poll() is None

    def why_dead(self) -> str:
        """The end of the child's stderr (V8 prints why it aborted there)."""
        self.kill()
        assert self.process.stderr is not None
        tail = self.process.stderr.read()[-STDERR_TAIL:].decode("utf-8", "replace")
        lines = [line for line in tail.splitlines() if line.strip()]
        return lines[-1].strip() if lines else f"exit status {self.process.returncode}"

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        for stream in (self.process.stdin, self.process.stdout):
            if stream is not None:
                stream.close()


def _api_answer(api: Api | None, request: dict[str, Any]) -> dict[str, Any]:
    if api is None:
        return {"status": 500, "body": {"errors": [{"message": "No API for this call."}]}}
    try:
        return {"value": api.request(request["method"], request["path"], request.get("body"))}
    except ApiCallError as exc:
        return {"status": exc.status, "body": exc.body}


class JavaScriptProcesses:
    """The ``Runtime`` the platform uses for JavaScript: a bounded pool of runner processes,
    started on demand and reused; one call at a time per process."""

    def __init__(self, size: int = 4) -> None:
        self._idle: queue.LifoQueue[Runner] = queue.LifoQueue()
        self._slots = threading.BoundedSemaphore(size)
        self._closed = False

    def run(self, invocation: Invocation, limits: Limits) -> Outcome:
        with self._slots:
            if self._closed:
                raise RuntimeError("The JavaScript runtime is closed.")
            runner = self._take()
            try:
                outcome = runner.call(invocation, limits)
            except TimeoutError:
                runner.kill()
                raise HookError(
                    f"The {invocation.function} hook exceeded its time limit of "
                    f"{limits.timeout_seconds:g} s.",
                    code=SCRIPT_TIMEOUT,
                ) from None
            except (Died, OSError):
                reason = runner.why_dead()
                raise HookError(
                    f"The {invocation.function} hook stopped the JavaScript runtime "
                    f"({reason}); it most likely ran out of memory.",
                    code=SCRIPT_MEMORY,
                ) from None
            except BaseException:
                self._idle.put(runner)
                raise
            self._idle.put(runner)
            return outcome

    def _take(self) -> Runner:
        while True:
            try:
                runner = self._idle.get_nowait()
            except queue.Empty:
                return Runner()
            if runner.alive():
                return runner
            runner.kill()

    def close(self) -> None:
        self._closed = True
        while True:
            try:
                self._idle.get_nowait().kill()
            except queue.Empty:
                return


# -- the child ---------------------------------------------------------------------------------


class _ParentApi:
    """The parent's API, one request at a time over the frames."""

    def __init__(self, to_parent: IO[bytes], from_parent: IO[bytes]) -> None:
        self._to_parent = to_parent
        self._from_parent = from_parent
        self._lock = threading.Lock()

    def request(self, method: str, path: str, body: Any = None) -> Any:
        with self._lock:
            write_frame(self._to_parent, {"api": {"method": method, "path": path, "body": body}})
            answer = read_frame(self._from_parent)
        if "status" in answer:
            raise ApiCallError(int(answer["status"]), answer.get("body"))
        return answer.get("value")


def serve(from_parent: IO[bytes], to_parent: IO[bytes]) -> None:
    """Answer calls until the parent closes the pipe."""
    from integrator.hooks.javascript import JavaScriptRuntime

    runtime = JavaScriptRuntime(isolates_per_thread=16)
    api = _ParentApi(to_parent, from_parent)
    try:
        while True:
            try:
                request = read_frame(from_parent)
            except Died:
                return
            invocation = Invocation(
                tenant=request["tenant"],
                source=request["source"],
                source_key=request["source_key"],
                function=request["function"],
                options=request["options"],
                each=request["each"],
                api=api if request["api"] else None,
            )
            try:
                outcome = runtime.run(invocation, Limits(**request["limits"]))
            except HookError as exc:
                answer = {"error": str(exc), "code": exc.code, "logs": _lines(exc.logs)}
            else:
                answer = {"value": outcome.value, "logs": _lines(outcome.logs)}
            write_frame(to_parent, answer)
    finally:
        runtime.close()


def _lines(lines: list[Any]) -> list[dict[str, Any]]:
    return [line.__dict__ for line in lines if isinstance(line, LogLine)]


if __name__ == "__main__":
    frames_out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # anything printed goes to stderr, never into the frames
    serve(sys.stdin.buffer, frames_out)
