"""Inside the sandbox, the forked child that runs one hook call; and the frames every party
of the sandbox speaks.

Like ``sandbox_main.py``, this module runs on the system interpreter inside the sandbox, where
the package is not visible: it imports the standard library only (the parent loads both
modules' sources under their package names, see ``sandbox_process.LOADER``).

The child keeps only its own two pipes to the zygote (fds 3 and 4), applies the call's limits
(soft = hard, so the hook cannot raise them), replaces ``sys.stdout``/``sys.stderr`` and the
root logger so that ``print`` and ``logging`` become log lines, provides ``integrator_api``
(each call a frame the zygote relays to the parent, which makes the HTTP request), runs the
function and answers with one ``R`` frame.

Frames are ``kind (1 byte) + length (4 bytes, big-endian) + payload``:

* parent → zygote: ``C`` a call (4-byte header length, JSON header, JSON body), ``P`` an API
  answer; zygote → child: ``P``;
* child → zygote → parent: ``L`` a log line ``[level, message, time]``, ``A`` an API request
  ``{call, id, body}``, ``R`` the result ``{ok, value | code + message, dropped}``;
* zygote → parent: ``H`` ready, ``X`` the child ended without answering ``{signal | exit |
  reason}``.
"""

from __future__ import annotations

import builtins
import logging
import os
import resource
import struct
import sys
import time
import types
from json import JSONEncoder, loads
from typing import Any

FRAME = struct.Struct(">cI")
#: The child's pipes to and from the zygote.
CHILD_OUT, CHILD_IN = 3, 4
#: ``HookError.code`` values (as in hooks/base.py, which cannot be imported here).
SCRIPT_ERROR, SCRIPT_MEMORY = "script_error", "script_memory"
FUNCTION_NOT_FOUND, INVALID_RESPONSE = "function_not_found", "invalid_response"
RESPONSE_TOO_LARGE = "response_size_exceeded"
NOT_AVAILABLE = "The integrator_api module is not available here."
#: Bound before any hook runs, so that a hook patching ``json`` spoils nothing of ours.
ENCODE = JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode
ENCODE_ANY = JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def write_frame(fd: int, kind: bytes, payload: bytes) -> None:
    data = memoryview(FRAME.pack(kind, len(payload)) + payload)
    while data:
        data = data[os.write(fd, data) :]


def read_exact(fd: int, size: int) -> bytes | None:
    chunks, remaining = [], size
    while remaining:
        chunk = os.read(fd, min(remaining, 1 << 20))
        if not chunk:
            return None
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def read_frame(fd: int, limits: dict[bytes, int]) -> tuple[bytes, bytes] | None:
    """The next frame, None at end of file; ValueError for a kind or size ``limits`` refuses."""
    head = read_exact(fd, FRAME.size)
    if head is None:
        return None
    kind, size = FRAME.unpack(head)
    if size > limits.get(kind, -1):
        raise ValueError(kind)
    payload = read_exact(fd, size)
    return None if payload is None else (kind, payload)


# -- inside the child: the hook's view ------------------------------------------------------


class Channel:
    """The child's end of the pipes: log lines (counted against the limit) and API calls."""

    def __init__(self, limits: dict[str, Any], api: bool) -> None:
        self.lines, self.chars = int(limits["log_lines"]), int(limits["log_line_chars"])
        self.kept = self.dropped = 0
        self.api_enabled = api

    def log(self, level: str, message: str) -> None:
        if self.kept >= self.lines:
            self.dropped += 1
            return
        self.kept += 1
        line = [level, message[: self.chars], time.time()]
        write_frame(CHILD_OUT, b"L", ENCODE_ANY(line).encode(errors="replace"))

    def api(self, call: str, ident: Any, body: Any = None) -> Any:
        if not self.api_enabled:
            raise RuntimeError(NOT_AVAILABLE)
        if not isinstance(ident, str) or not ident:
            raise ValueError(f"{call} needs an _id (a non-empty string).")
        request = {"call": call, "id": ident, "body": body}
        write_frame(CHILD_OUT, b"A", ENCODE(request).encode())  # the hook's error if not JSON
        frame = read_frame(CHILD_IN, {b"P": 1 << 34})
        if frame is None:
            raise RuntimeError("The platform did not answer the API call.")
        answer = loads(frame[1])
        if answer.get("ok"):
            return answer.get("value")
        status = int(answer.get("status") or 0)
        raise ApiError(str(answer.get("message")), status, answer.get("body"))


CHANNEL: Channel | None = None


def channel() -> Channel:
    if CHANNEL is None:
        raise RuntimeError(NOT_AVAILABLE)
    return CHANNEL


class ApiError(Exception):
    """The platform API answered an error: ``status`` is its HTTP status, ``body`` its body."""

    def __init__(self, message: str, status: int, body: Any = None) -> None:
        super().__init__(message)
        self.status = status
        self.body = body


def _split(options: Any) -> tuple[Any, dict[str, Any]]:
    rest = dict(options) if isinstance(options, dict) else {"_id": options}
    return rest.pop("_id", None), rest


class Exports:
    def run(self, options: dict[str, Any]) -> Any:
        """Run an export (``POST /v1/exports/{_id}/invoke``) and return its records."""
        ident, rest = _split(options)
        return channel().api("exports.run", ident, rest)


class Imports:
    def run(self, options: dict[str, Any]) -> Any:
        """Send ``options["data"]`` to an import (``POST /v1/imports/{_id}/invoke``)."""
        ident, rest = _split(options)
        return channel().api("imports.run", ident, rest.get("data"))


class Flows:
    def run(self, options: dict[str, Any]) -> Any:
        """Start a flow (``POST /v1/flows/{_id}/run``)."""
        ident, rest = _split(options)
        return channel().api("flows.run", ident, rest or None)


class Connections:
    def get(self, ident: Any) -> Any:
        """A connection (``GET /v1/connections/{_id}``), without its secrets."""
        return channel().api("connections.get", _split(ident)[0])


class State:
    def get(self, key: str) -> Any:
        return channel().api("state.get", key)

    def put(self, key: str, value: Any) -> Any:
        return channel().api("state.put", key, value)

    def delete(self, key: str) -> Any:
        return channel().api("state.delete", key)


def api_module() -> types.ModuleType:
    """``integrator_api``: the platform API, synchronous, through the zygote to the parent."""
    module = types.ModuleType("integrator_api", "The integrator.io API for Python hooks.")
    module.__dict__.update(
        exports=Exports(), imports=Imports(), flows=Flows(), connections=Connections(),
        state=State(), ApiError=ApiError,
    )  # fmt: skip
    return module


class LineWriter:
    """``sys.stdout``/``sys.stderr`` of a hook: each line written becomes one log line."""

    encoding, errors = "utf-8", "replace"

    def __init__(self, level: str, sink: Channel) -> None:
        self.level, self.sink, self.pending = level, sink, ""

    def write(self, text: str) -> int:
        lines = (self.pending + str(text)).split("\n")
        for line in lines[:-1]:
            self.sink.log(self.level, line)
        self.pending = lines[-1][: self.sink.chars + 1]
        return len(text)

    def flush(self) -> None:
        if self.pending:
            self.sink.log(self.level, self.pending)
            self.pending = ""

    def isatty(self) -> bool:
        return False

    def writable(self) -> bool:
        return True


class LogHandler(logging.Handler):
    """``logging`` of a hook: records become log lines at integrator.io's levels."""

    def __init__(self, sink: Channel) -> None:
        super().__init__(logging.DEBUG)
        self.sink = sink

    def emit(self, record: logging.LogRecord) -> None:
        n = record.levelno
        level = "error" if n >= 40 else "warn" if n >= 30 else "info" if n >= 20 else "debug"
        try:
            message = self.format(record)
        except Exception:
            message = str(record.msg)
        self.sink.log(level, message)


def describe(exc: BaseException) -> str:
    """``ExcType: message``, as the page's error says it."""
    try:
        text = str(exc)
    except BaseException:
        text = "<unprintable>"
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def failure(code: str, message: str) -> bytes:
    return ENCODE_ANY({"ok": False, "code": code, "message": message}).encode(errors="replace")


def call_hook(code: types.CodeType, header: dict[str, Any], body: bytes) -> bytes:
    """Run the hook; the ``R`` payload (without ``dropped``). MemoryError propagates."""
    data = loads(body)
    namespace: dict[str, Any] = {"__name__": "script", "__builtins__": builtins}
    try:
        exec(code, namespace)
        function = namespace.get(header["function"])
        if not callable(function):
            return failure(FUNCTION_NOT_FOUND, f"The script has no function {header['function']}.")
        options, each = data["options"], data["each"]
        if each is None:
            value = function(options)
        else:
            value = [function({**options, "record": record}) for record in each]
    except MemoryError:
        raise
    except BaseException as exc:  # SystemExit and KeyboardInterrupt are the hook's errors too
        return failure(SCRIPT_ERROR, describe(exc)[:4000])
    try:
        result = ENCODE(value).encode()
    except MemoryError:
        raise
    except BaseException as exc:
        message = f"The hook returned something that is not JSON data ({describe(exc)})."
        return failure(INVALID_RESPONSE, message[:4000])
    limit = int(header["limits"]["max_response_bytes"])
    if len(result) > limit:
        message = f"The hook returned {len(result)} bytes (limit {limit})."
        return failure(RESPONSE_TOO_LARGE, message)
    return b'{"ok":true,"value":' + result + b"}"


def set_limits(limits: dict[str, Any]) -> None:
    """Soft and hard: the hook cannot raise them again."""
    mb = 1024 * 1024
    cpu = int(limits["cpu_seconds"])
    for name, value in (
        (resource.RLIMIT_AS, int(limits["memory_mb"]) * mb),
        (resource.RLIMIT_FSIZE, int(limits["file_size_mb"]) * mb),
        # The sandbox's init (bwrap) and the zygote are processes of the same user.
        (resource.RLIMIT_NPROC, int(limits["processes"]) + 2),
        (resource.RLIMIT_NOFILE, 32),
        (resource.RLIMIT_CORE, 0),
    ):
        resource.setrlimit(name, (value, value))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))


def run_child(
    code: types.CodeType, header: dict[str, Any], body: bytes, ends: tuple[int, int]
) -> None:
    """The forked child: keep only its own pipes, apply the limits, run, answer, exit."""
    global CHANNEL
    own = os.getpid()
    os.dup2(ends[0], 50)
    os.dup2(ends[1], 51)
    os.dup2(50, CHILD_OUT, inheritable=False)
    os.dup2(51, CHILD_IN, inheritable=False)
    os.closerange(CHILD_IN + 1, 1 << 16)
    limits = header["limits"]
    CHANNEL = sink = Channel(limits, bool(header["api"]))
    out, err = LineWriter("log", sink), LineWriter("error", sink)
    sys.stdout, sys.stderr = out, err
    root = logging.getLogger()
    root.handlers = [LogHandler(sink)]
    root.setLevel(logging.DEBUG)
    reserve = bytearray(1 << 16)  # freed on MemoryError, so that the answer can be built
    set_limits(limits)
    answer: bytes | None
    try:
        answer = call_hook(code, header, body)
    except MemoryError:
        answer = None
    if os.getpid() != own:  # a copy the hook forked: only the original answers
        os._exit(0)
    del reserve
    if answer is None:
        message = f"{header['function']} exceeded its memory limit of {limits['memory_mb']} MB."
        answer = failure(SCRIPT_MEMORY, message)
    out.flush()
    err.flush()
    write_frame(CHILD_OUT, b"R", answer[:-1] + b',"dropped":%d}' % sink.dropped)
    os._exit(0)
