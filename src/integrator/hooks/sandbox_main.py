"""The program that runs inside the Python hooks' bubblewrap sandbox: a zygote.

It runs on the system interpreter (``python3 -I -S -B``), where the package directory is not
visible: it imports the standard library only (and ``sandbox_child``, whose source the parent
loads beside it, see ``sandbox_process.LOADER``).

The zygote never runs user code. For each call it compiles the script (once per
``source_key``), forks a child, and the child runs the hook (``sandbox_child.run_child``).
Forking a warm interpreter costs about a millisecond where starting one costs tens; and a
fresh fork per call means nothing a hook does (module globals, monkeypatching, files in /tmp,
stray processes) outlives the call, while its process limits (CPU time, address space,
processes) start from zero.

Only the zygote holds the pipes to the parent. The child talks to the zygote over pipes of its
own and the zygote relays; whatever user code writes there (or to fds 1 and 2, which are
/dev/null) can at worst spoil its own call's answer, never the framing with the parent. The
zygote is not dumpable, so the child can neither ptrace it nor open its fds through /proc.
"""

from __future__ import annotations

import contextlib
import fcntl
import gc
import json
import os
import select
import shutil
import signal
import sys
import time
import types
from typing import Any

from integrator.hooks.sandbox_child import (
    SCRIPT_ERROR,
    api_module,
    describe,
    failure,
    read_frame,
    run_child,
    write_frame,
)

#: Where the zygote keeps the parent's pipes (above the child's limit of open files).
PARENT_IN, PARENT_OUT = 60, 61
#: Imported once in the zygote so that hooks importing them pay nothing.
PRELOAD = ("base64", "collections", "copy", "csv", "datetime", "decimal", "functools", "hashlib",
    "hmac", "io", "itertools", "logging", "math", "random", "re", "statistics", "string",
    "textwrap", "unicodedata", "urllib.parse", "uuid", "zoneinfo")  # fmt: skip
COMPILED_KEPT = 256
#: ``Zygote.forward``'s "end of file".
END = (b"", b"")


class Zygote:
    """Serves the parent's calls one at a time, each in a fresh child."""

    def __init__(self) -> None:
        self.compiled: dict[str, types.CodeType] = {}

    def serve(self) -> None:
        write_frame(PARENT_OUT, b"H", b"{}")
        while True:
            frame = read_frame(PARENT_IN, {b"C": 1 << 34})
            if frame is None:
                return
            size = int.from_bytes(frame[1][:4], "big")
            header = json.loads(frame[1][4 : 4 + size])
            self.call(header, frame[1][4 + size :])

    def compile(self, header: dict[str, Any]) -> types.CodeType | str:
        code = self.compiled.get(header["key"])
        if code is None:
            try:
                code = compile(header["source"], "<script>", "exec", dont_inherit=True)
            except SyntaxError as exc:
                return f"SyntaxError: {exc.msg} (line {exc.lineno})"
            except (ValueError, MemoryError, RecursionError) as exc:
                return describe(exc)
            if len(self.compiled) >= COMPILED_KEPT:
                self.compiled.pop(next(iter(self.compiled)))
            self.compiled[header["key"]] = code
        return code

    def call(self, header: dict[str, Any], body: bytes) -> None:
        code = self.compile(header)
        if isinstance(code, str):
            write_frame(PARENT_OUT, b"R", failure(SCRIPT_ERROR, code)[:-1] + b',"dropped":0}')
            return
        up_r, up_w = os.pipe()
        down_r, down_w = os.pipe()
        pid = os.fork()
        if pid == 0:
            try:
                run_child(code, header, body, (up_w, down_r))
            finally:
                os._exit(70)
        os.close(up_w)
        os.close(down_r)
        try:
            self.relay(pid, up_r, down_w, header["limits"])
        finally:
            os.close(up_r)
            os.close(down_w)
            wipe_tmp()

    def relay(self, pid: int, up: int, down: int, limits: dict[str, Any]) -> None:
        """Forward the child's frames until it answers or ends; then end every process the
        call left behind before the parent hears the answer."""
        allowed = {
            b"L": 4 * int(limits["log_line_chars"]) + 256,
            b"A": int(limits["memory_mb"]) << 20,  # the child cannot hold a larger request
            b"R": int(limits["max_response_bytes"]) + 4096,
        }
        pidfd = os.pidfd_open(pid)
        poller = select.poll()
        for fd in (up, PARENT_IN, pidfd):
            poller.register(fd, select.POLLIN)
        answer: tuple[bytes, bytes] | None = None
        status: int | None = None
        try:
            while answer is None:
                for fd, _ in poller.poll():
                    if fd == PARENT_IN:
                        frame = read_frame(PARENT_IN, {b"P": 1 << 34})
                        if frame is None:  # the parent is gone
                            end_all(pid)
                            os._exit(0)
                        with contextlib.suppress(BrokenPipeError):  # the child ended
                            write_frame(down, *frame)
                        continue
                    answer = self.forward(up, allowed) if fd == up else END
                    if answer is END:  # the child ended (or closed its pipe) without answering
                        status = end_all(pid)
                        answer = self.drain(up, allowed) or exit_frame(status)
                    if answer is not None:
                        break
        finally:
            os.close(pidfd)
        if status is None:
            end_all(pid)
        write_frame(PARENT_OUT, *answer)

    def forward(self, up: int, allowed: dict[bytes, int]) -> tuple[bytes, bytes] | None:
        """Pass one log line or API request on (None); the answer frame, ``END`` at end of
        file, or an ``X`` when the child wrote something that is not a frame."""
        try:
            frame = read_frame(up, allowed)
        except ValueError as exc:
            reason = "too_large" if exc.args[0] == b"R" else "malformed"
            return b"X", json.dumps({"reason": reason}).encode()
        if frame is None:
            return END
        if frame[0] == b"R":
            return frame
        write_frame(PARENT_OUT, *frame)
        return None

    def drain(self, up: int, allowed: dict[bytes, int]) -> tuple[bytes, bytes] | None:
        """After every process of the call ended (so every writer of the pipe did, and reads
        end): the answer it left unread, if any."""
        while True:
            answer = self.forward(up, allowed)
            if answer is END:
                return None
            if answer is not None:
                return answer


def exit_frame(status: int) -> tuple[bytes, bytes]:
    """The ``X`` frame of a child that ended without answering (``status`` from waitpid)."""
    code = os.waitstatus_to_exitcode(status)
    info = {"signal": -code} if code < 0 else {"exit": code}
    return b"X", json.dumps(info).encode()


def end_all(pid: int) -> int:
    """SIGKILL every process of the sandbox but its init and the zygote (``kill(-1)`` in a PID
    namespace reaches no further) until none is left; the child's wait status."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(-1, signal.SIGKILL)
    try:
        status = os.waitpid(pid, 0)[1]
    except ChildProcessError:
        status = 0
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:  # the child's own children, if it had any
        try:
            os.kill(-1, signal.SIGKILL)
        except ProcessLookupError:
            break
        time.sleep(0.001)
    return status


def wipe_tmp() -> None:
    """Empty /tmp between calls: what a hook wrote is its own call's, and the tmpfs holds
    memory until it is deleted."""
    for entry in os.scandir("/tmp"):
        if entry.is_dir(follow_symlinks=False):
            shutil.rmtree(entry.path, ignore_errors=True)
        else:
            with contextlib.suppress(OSError):
                os.unlink(entry.path)


def main(argv: list[str]) -> None:
    """``argv``: the fds of the pipes from and to the parent (any numbers: they move to
    ``PARENT_IN``/``PARENT_OUT``, and every other fd is closed)."""
    high = [fcntl.fcntl(int(fd), fcntl.F_DUPFD_CLOEXEC, 1000) for fd in argv[1:3]]
    os.dup2(high[0], PARENT_IN, inheritable=False)
    os.dup2(high[1], PARENT_OUT, inheritable=False)
    os.closerange(3, PARENT_IN)
    os.closerange(PARENT_OUT + 1, 1 << 16)
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    os.close(null)
    try:
        import ctypes

        ctypes.CDLL(None).prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE 0: no ptrace, no /proc/2/fd
    except (ImportError, OSError, AttributeError):
        pass
    for name in PRELOAD:
        __import__(name)
    sys.modules["integrator_api"] = api_module()
    gc.freeze()  # forks share these objects: no collection in a child copies their pages
    Zygote().serve()
