"""One Python hooks sandbox, seen from the platform: the bubblewrap command, the process, the
frames it speaks (see ``sandbox_child.py``), and what its answers mean as ``Outcome`` or
``HookError``.

The sandbox cannot see this package, so its program travels on the command line: ``LOADER``
registers ``sandbox_child`` and ``sandbox_main`` under their package names from their sources,
then runs the zygote. The pipes to it are passed as extra fds (``pass_fds``), which the
sandbox's init (bwrap) closes; only the zygote holds them.

Everything the sandbox sends is untrusted: frames are size-checked before they are read, and
anything out of turn makes the sandbox unusable (``Broken``) rather than misread.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import os
import select
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

import orjson

from integrator.hooks.base import (
    FUNCTION_NOT_FOUND,
    INVALID_RESPONSE,
    RESPONSE_TOO_LARGE,
    SANDBOX_UNAVAILABLE,
    SCRIPT_ERROR,
    SCRIPT_MEMORY,
    SCRIPT_TIMEOUT,
    Api,
    ApiCallError,
    HookError,
    Limits,
    LogLine,
    Outcome,
)
from integrator.hooks.sandbox_child import FRAME, NOT_AVAILABLE
from integrator.hooks.sandbox_seccomp import seccomp_arguments

#: Run by ``python3 -I -S -B -c``: the arguments after it are the two modules' sources, then
#: the fds of the pipes from and to the parent.
LOADER = """
import sys, types
for name in ("integrator", "integrator.hooks"):
    sys.modules[name] = types.ModuleType(name)
for name in ("sandbox_child", "sandbox_main"):
    module = types.ModuleType("integrator.hooks." + name)
    sys.modules[module.__name__] = module
    exec(compile(sys.argv.pop(1), name + ".py", "exec"), module.__dict__)
sys.modules["integrator.hooks.sandbox_main"].main(sys.argv)
"""


@functools.cache
def program() -> tuple[str, str]:
    """The sources ``LOADER`` loads, read once."""
    here = Path(__file__).parent
    return (here / "sandbox_child.py").read_text(), (here / "sandbox_main.py").read_text()


LEVELS = {"log", "info", "warn", "error", "debug"}
CODES = {SCRIPT_ERROR, SCRIPT_MEMORY, FUNCTION_NOT_FOUND, INVALID_RESPONSE, RESPONSE_TOO_LARGE}
#: What ``integrator_api`` may ask for: the parent builds the path, the sandbox names the call.
API_ROUTES = {
    "exports.run": ("POST", "/v1/exports/{}/invoke"),
    "imports.run": ("POST", "/v1/imports/{}/invoke"),
    "flows.run": ("POST", "/v1/flows/{}/run"),
    "connections.get": ("GET", "/v1/connections/{}"),
    "state.get": ("GET", "/v1/state/{}"),
    "state.put": ("PUT", "/v1/state/{}"),
    "state.delete": ("DELETE", "/v1/state/{}"),
}


def shown_directories() -> list[str]:
    """The host directories the sandbox sees (read-only): ``/usr``, and ``/lib``, ``/lib64``
    and ``/bin`` where they are not symlinks into it (merged-/usr systems, Debian 12)."""
    return ["/usr"] + [
        path
        for path in ("/lib", "/lib64", "/bin")
        if os.path.isdir(path) and not os.path.islink(path)
    ]


def bwrap_arguments(bwrap: str, interpreter: str, tmp_mb: int) -> list[str]:
    """The sandbox, up to the interpreter's own arguments."""
    binds = [arg for path in shown_directories() for arg in ("--ro-bind", path, path)]
    links = [
        arg
        for path in ("/lib", "/lib64", "/bin")
        if os.path.islink(path)
        for arg in ("--symlink", os.readlink(path), path)
    ]
    return [
        bwrap, "--unshare-all", "--unshare-user", "--disable-userns", "--die-with-parent",
        "--new-session", *binds, *links, "--proc", "/proc",
        "--dev", "/dev", "--size", str(tmp_mb * 1024 * 1024), "--tmpfs", "/tmp",
        "--remount-ro", "/dev", "--remount-ro", "/", "--chdir", "/tmp", "--clearenv",
        "--setenv", "PATH", "/usr/bin:/bin", "--setenv", "LANG", "C.UTF-8",
        "--setenv", "HOME", "/tmp", "--setenv", "PYTHONDONTWRITEBYTECODE", "1",
        "--", interpreter, "-I", "-S", "-B",
    ]  # fmt: skip


def popen_options(uid: int | None) -> dict[str, Any]:
    """How bwrap is started: as ``uid`` (its group, no other groups) when given, from ``/``,
    with no environment of ours, in a session of its own."""
    user = {} if uid is None else {"user": uid, "group": uid, "extra_groups": []}
    return {"cwd": "/", "env": {"PATH": "/usr/bin:/bin"}, "start_new_session": True, **user}


class Timeout(Exception):
    pass


class TooLarge(Exception):
    pass


class Broken(Exception):
    """The sandbox died or spoke out of turn: it cannot serve another call."""


class CallLogs:
    """What one call logged, within ``Limits.log_lines`` and ``log_line_chars``."""

    def __init__(self, limits: Limits) -> None:
        self.limit, self.chars = limits.log_lines, limits.log_line_chars
        self.kept: list[LogLine] = []
        self.dropped = 0

    def add(self, data: bytes) -> None:
        try:
            level, message, at = orjson.loads(data)
            at = float(at)
        except (ValueError, TypeError):
            return  # not a line the child's code wrote: ignore it
        if len(self.kept) >= self.limit:
            self.dropped += 1
            return
        level = level if level in LEVELS else "log"
        self.kept.append(LogLine(level, str(message)[: self.chars], at))

    def lines(self) -> list[LogLine]:
        if not self.dropped:
            return list(self.kept)
        note = f"{self.dropped} more log lines were not kept (the limit is {self.limit})."
        return [*self.kept, LogLine("warn", note, time.time())]


#: Runs a function in a thread that outlives every sandbox it starts (see ``Sandbox``).
Launcher = Callable[[Callable[[], "subprocess.Popen[bytes]"]], "subprocess.Popen[bytes]"]


class Sandbox:
    """One bubblewrap sandbox running the zygote, and the two pipes to it.

    ``launch`` must start bwrap from a thread that lives as long as the sandbox: with
    ``--die-with-parent`` bwrap dies with the *thread* that forked it (``PR_SET_PDEATHSIG``
    follows threads), and the engine's calling threads come and go."""

    def __init__(
        self, tenant: str, command: list[str], uid: int | None, timeout: float, launch: Launcher
    ) -> None:
        self.tenant = tenant
        to_zygote, self.to = os.pipe()
        self.fro, from_zygote = os.pipe()
        for fd in (self.to, self.fro):
            with contextlib.suppress(OSError):  # fewer wake-ups for a page of records
                fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, 1 << 20)
        os.set_blocking(self.to, False)
        os.set_blocking(self.fro, False)
        self.buffer = bytearray()
        try:
            with seccomp_arguments() as (seccomp, seccomp_fds):
                argv = [command[0], *seccomp, *command[1:], "-c", LOADER, *program()]
                self.proc = launch(
                    lambda: subprocess.Popen(
                        [*argv, str(to_zygote), str(from_zygote)],
                        stdin=subprocess.DEVNULL,
                        stdout=subprocess.DEVNULL,
                        stderr=subprocess.PIPE,
                        pass_fds=(to_zygote, from_zygote, *seccomp_fds),
                        **popen_options(uid),
                    )
                )
        except OSError as exc:
            self._close_fds()
            raise HookError(
                f"The Python sandbox did not start: {exc}", SANDBOX_UNAVAILABLE
            ) from exc
        finally:
            os.close(to_zygote)
            os.close(from_zygote)
        try:
            self.read(time.monotonic() + timeout, {b"H": 64})
        except (Broken, Timeout, TooLarge) as exc:
            self.proc.kill()
            self.proc.wait()
            detail = self._stderr() or type(exc).__name__
            self.kill()
            raise HookError(
                f"The Python sandbox did not start: {detail}", SANDBOX_UNAVAILABLE
            ) from None
        assert self.proc.stderr is not None
        # bwrap has nothing more to say, and a hook could write there (/proc/1/fd/2): let it
        # fail rather than fill a pipe nobody reads.
        self.proc.stderr.close()

    def call(
        self, payload: bytes, limits: Limits, logs: CallLogs, api: Api | None
    ) -> tuple[bytes, bytes]:
        """Send one call and serve its log lines and API requests until the answer (``R``)
        or the news that the child ended without one (``X``)."""
        deadline = time.monotonic() + limits.timeout_seconds
        sizes = {
            b"L": 4 * limits.log_line_chars + 1024,
            b"A": limits.memory_mb << 20,
            b"R": limits.max_response_bytes + 8192,
            b"X": 1024,
        }
        self.send(b"C", payload, deadline)
        while True:
            kind, data = self.read(deadline, sizes)
            if kind == b"L":
                logs.add(data)
            elif kind == b"A":
                self.send(b"P", api_answer(api, data), deadline)
            else:
                return kind, data

    def send(self, kind: bytes, payload: bytes, deadline: float) -> None:
        data = memoryview(FRAME.pack(kind, len(payload)) + payload)
        while data:
            try:
                data = data[os.write(self.to, data) :]
            except BlockingIOError:
                self._wait(self.to, select.POLLOUT, deadline)
            except OSError as exc:
                raise Broken("The Python sandbox stopped before the hook answered.") from exc

    def read(self, deadline: float, sizes: dict[bytes, int]) -> tuple[bytes, bytes]:
        while True:
            if len(self.buffer) >= FRAME.size:
                kind, size = FRAME.unpack_from(self.buffer)
                if size > sizes.get(kind, -1):
                    if kind == b"R":
                        raise TooLarge()
                    raise Broken("The Python sandbox answered out of turn.")
                if len(self.buffer) >= FRAME.size + size:
                    payload = bytes(self.buffer[FRAME.size : FRAME.size + size])
                    del self.buffer[: FRAME.size + size]
                    return kind, payload
            self._wait(self.fro, select.POLLIN, deadline)
            try:
                chunk = os.read(self.fro, 1 << 20)
            except BlockingIOError:
                continue
            if not chunk:
                raise Broken("The Python sandbox stopped before the hook answered.")
            self.buffer += chunk

    @staticmethod
    def _wait(fd: int, event: int, deadline: float) -> None:
        remaining = deadline - time.monotonic()
        poller = select.poll()
        poller.register(fd, event)
        if remaining <= 0 or not poller.poll(remaining * 1000):
            raise Timeout()

    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL bwrap: its init dies with it (``--die-with-parent``) and with the init,
        every process of the sandbox's PID namespace."""
        if self.proc.poll() is None:
            self.proc.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=5)
        self._close_fds()

    def _stderr(self) -> str:
        stream = self.proc.stderr
        if stream is None or stream.closed:
            return ""
        os.set_blocking(stream.fileno(), False)
        with contextlib.suppress(OSError, TypeError):
            return (stream.read(4096) or b"").decode(errors="replace").strip()
        return ""

    def _close_fds(self) -> None:
        for fd in (self.to, self.fro):
            with contextlib.suppress(OSError):
                os.close(fd)
        self.to = self.fro = -1
        if getattr(self, "proc", None) is not None and self.proc.stderr is not None:
            self.proc.stderr.close()


def api_answer(api: Api | None, data: bytes) -> bytes:
    """Make the API call a hook asked for (``integrator_api``) and encode its answer."""
    try:
        request = orjson.loads(data)
        method, template = API_ROUTES[request["call"]]
        ident = request["id"]
        if not isinstance(ident, str) or ident in ("", ".", ".."):
            raise ValueError(ident)
    except (ValueError, TypeError, KeyError):
        return orjson.dumps({"ok": False, "status": 400, "message": "Not an API call."})
    if api is None:
        return orjson.dumps({"ok": False, "status": 403, "message": NOT_AVAILABLE})
    body = request.get("body") if method in ("POST", "PUT") else None
    try:
        value = api.request(method, template.format(quote(ident, safe="")), body)
    except ApiCallError as exc:
        answer = {"ok": False, "status": exc.status, "message": str(exc), "body": exc.body}
        return orjson.dumps(answer, default=str)
    except Exception as exc:
        message = f"The API call failed: {type(exc).__name__}: {exc}"
        return orjson.dumps({"ok": False, "status": 500, "message": message})
    return orjson.dumps({"ok": True, "value": value}, default=str)


def outcome(kind: bytes, data: bytes, limits: Limits, logs: CallLogs) -> Outcome:
    """The ``R`` or ``X`` frame as the engine sees it: a value, or a ``HookError``."""
    try:
        answer = orjson.loads(data)
    except orjson.JSONDecodeError:
        answer = None
    if not isinstance(answer, dict):
        raise HookError("The hook's answer was not JSON data.", INVALID_RESPONSE, logs.lines())
    if kind == b"R":
        dropped = answer.get("dropped")
        logs.dropped += dropped if isinstance(dropped, int) and dropped > 0 else 0
        if answer.get("ok") is True:
            return Outcome(answer.get("value"), logs.lines())
        code = answer.get("code") if answer.get("code") in CODES else SCRIPT_ERROR
        raise HookError(str(answer.get("message"))[:4000], str(code), logs.lines())
    raise HookError(*_ended(answer, limits), logs.lines())


def _ended(answer: dict[str, Any], limits: Limits) -> tuple[str, str]:
    """Message and code of an ``X`` frame: why the child ended without answering."""
    reason, number = answer.get("reason"), answer.get("signal")
    if reason == "too_large":
        return f"The hook returned more than {limits.max_response_bytes} bytes.", RESPONSE_TOO_LARGE
    if reason is not None:
        return "The hook wrote something that is not a frame to its channel.", SCRIPT_ERROR
    if number == signal.SIGXCPU:
        return f"The hook used more than {limits.cpu_seconds} s of CPU time.", SCRIPT_TIMEOUT
    if isinstance(number, int):
        with contextlib.suppress(ValueError):
            number = signal.Signals(number).name
        return f"The hook's process was ended by signal {number}.", SCRIPT_ERROR
    return f"The hook's process exited (status {answer.get('exit')}).", SCRIPT_ERROR
