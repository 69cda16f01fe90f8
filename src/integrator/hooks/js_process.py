"""JavaScript hooks in runner processes, so that V8 going down takes a runner, never a worker.

V8 stops scripts that run past their time or heap limit, but a few allocations abort the
whole process instead (a "fatal invalid size" error, memory outside the heap). So the engine's
JavaScript runtime is a pool of child processes (``python -m integrator.hooks.js_process``),
each running ``JavaScriptRuntime`` for one call at a time. The parent sends the call as one
frame; the child answers with API requests (the script's ``integrator-api`` calls, which the
parent makes with the call's one-time token) and finally the outcome. A child that dies or
overruns its deadline is killed and replaced, and its call fails with a clear message.

Frames are a 4-byte big-endian length and a body, over the child's stdin and stdout; the
child's own ``print`` output goes to stderr, and scripts cannot write to either. A call is a
header frame (an orjson document) then the options' JSON as a frame of its own; an answer
with a value is a header then the value's JSON as V8 wrote it. Pages pass through the child
undecoded: the options are encoded once here, the value decoded once here.
"""

from __future__ import annotations

import contextlib
import fcntl
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
#: Pipe buffer size asked for (Linux ``F_SETPIPE_SZ``; capped by ``fs.pipe-max-size``).
PIPE_BYTES = 1024 * 1024
F_SETPIPE_SZ = getattr(fcntl, "F_SETPIPE_SZ", 1031)


class Died(Exception):
    """The runner process ended or sent something unreadable."""


def write_frame(stream: IO[bytes], document: Any, raw: bytes | None = None) -> None:
    """One document, and ``raw`` bytes after it as a frame of their own."""
    data = orjson.dumps(document)
    parts = [len(data).to_bytes(4, "big"), data]
    if raw is not None:
        parts += [len(raw).to_bytes(4, "big"), raw]
    view = memoryview(b"".join(parts))
    while view:  # an unbuffered pipe may take less than asked
        written = stream.write(view)
        view = view[written or 0 :]
    stream.flush()


def read_frame(stream: IO[bytes], deadline: float | None = None) -> Any:
    return orjson.loads(read_raw(stream, deadline))


def read_raw(stream: IO[bytes], deadline: float | None = None) -> bytes:
    """One frame's body. With a ``deadline``, ``stream`` must be unbuffered (select() sees
    only what the pipe holds, not what a buffer read ahead)."""
    size = int.from_bytes(_read_exactly(stream, 4, deadline), "big")
    if size > MAX_FRAME:
        raise Died("the runner process sent an oversized frame")
    return _read_exactly(stream, size, deadline)


def _read_exactly(stream: IO[bytes], size: int, deadline: float | None) -> bytes:
    chunks: list[bytes] = []
    missing = size
    while missing:
        if deadline is not None:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([stream], [], [], remaining)[0]:
                raise TimeoutError
        chunk = stream.read(missing)
        if not chunk:
            raise Died("the runner process ended")
        chunks.append(chunk)
        missing -= len(chunk)
    return b"".join(chunks)


class Runner:
    """One child process, seen from the parent."""

    def __init__(self) -> None:
        environment = {key: value for key, value in os.environ.items() if key == "PATH"}
        environment["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "integrator.hooks.js_process"],
            bufsize=0,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=environment,
            start_new_session=True,
        )
        assert self.process.stdin is not None and self.process.stdout is not None
        self.to_child = self.process.stdin
        self.from_child = self.process.stdout
        for pipe in (self.to_child, self.from_child):
            # A page fits in one pipe buffer: no ping-pong of 64 KiB chunks between processes.
            with contextlib.suppress(OSError):
                fcntl.fcntl(pipe.fileno(), F_SETPIPE_SZ, PIPE_BYTES)

    def call(self, invocation: Invocation, limits: Limits) -> Outcome:
        request = {
            "tenant": invocation.tenant,
            "source": invocation.source,
            "source_key": invocation.source_key,
            "function": invocation.function,
            "each": invocation.each,
            "api": invocation.api is not None,
            "limits": limits.__dict__,
        }
        deadline = time.monotonic() + limits.timeout_seconds + GRACE_SECONDS
        write_frame(self.to_child, request, orjson.dumps(invocation.options, default=str))
        while True:
            frame = read_frame(self.from_child, deadline)
            if "api" in frame:
                write_frame(self.to_child, _api_answer(invocation.api, frame["api"]))
                continue
            logs = [LogLine(**line) for line in frame.get("logs") or []]
            if "error" in frame:
                raise HookError(frame["error"], code=frame.get("code", "script_error"), logs=logs)
            return Outcome(value=orjson.loads(read_raw(self.from_child, deadline)), logs=logs)

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
                options = read_raw(from_parent).decode()
            except Died:
                return
            invocation = Invocation(
                tenant=request["tenant"],
                source=request["source"],
                source_key=request["source_key"],
                function=request["function"],
                options={},
                each=request["each"],
                api=api if request["api"] else None,
            )
            try:
                value, logs = runtime.run_json(invocation, Limits(**request["limits"]), options)
            except HookError as exc:
                write_frame(
                    to_parent, {"error": str(exc), "code": exc.code, "logs": _lines(exc.logs)}
                )
            else:
                write_frame(to_parent, {"logs": _lines(logs)}, value.encode())
    finally:
        runtime.close()


def _lines(lines: list[Any]) -> list[dict[str, Any]]:
    return [line.__dict__ for line in lines if isinstance(line, LogLine)]


if __name__ == "__main__":
    frames_out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # anything printed goes to stderr, never into the frames
    serve(sys.stdin.buffer, frames_out)
