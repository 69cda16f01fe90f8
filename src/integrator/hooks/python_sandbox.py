"""Python hooks: the system interpreter in a bubblewrap sandbox, kept warm.

User code is untrusted, so it runs with no network (``--unshare-all``), no view of the host's
files but a read-only ``/usr`` (no ``/etc``, ``/root``, ``INTEGRATOR_HOME`` or repository), no
environment (``--clearenv``), a private size-capped ``/tmp``, as an unprivileged user
(``nobody`` when we are root: root is exempt from ``RLIMIT_NPROC``), and with per-call limits
on CPU time, address space, file size, processes and open files. There is no fallback: without
a working bubblewrap, Python hooks are refused (``SANDBOX_UNAVAILABLE``).

Each sandbox runs a zygote (``sandbox_main.py``) that forks a fresh child per call, so a page
costs a fork, not an interpreter start. Sandboxes are pooled per tenant: one that compiled a
tenant's scripts never serves another tenant. One sandbox serves one call at a time; the pool
holds at most ``pool_size`` of them and, when full, evicts the least recently used idle one of
another tenant. A call that runs past its wall-clock limit, or breaks its sandbox, costs that
sandbox: it is killed, and a new one starts when next needed.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import orjson

from integrator.config import Settings
from integrator.hooks.base import (
    RESPONSE_TOO_LARGE,
    SANDBOX_UNAVAILABLE,
    SCRIPT_ERROR,
    SCRIPT_TIMEOUT,
    HookError,
    Invocation,
    Limits,
    Outcome,
)
from integrator.hooks.sandbox_process import (
    Broken,
    CallLogs,
    Sandbox,
    Timeout,
    TooLarge,
    bwrap_arguments,
    outcome,
    popen_options,
    shown_directories,
)
from integrator.hooks.sandbox_seccomp import seccomp_arguments

UNAVAILABLE = (
    "Python hooks need bubblewrap (apt-get install bubblewrap); they never run unsandboxed."
)
NOBODY = 65534


class PythonRuntime:
    """The ``Runtime`` of Python hooks: a bounded pool of warm sandboxes, one tenant each.

    ``interpreter`` must live under ``/usr`` (the only host directory the sandbox sees);
    ``bwrap`` is a path or a name looked up on ``PATH``; ``pool_size`` bounds the warm
    sandboxes (so the calls running at once); ``sandbox_uid`` is the user they run as when
    this process is root; ``tmp_mb`` caps each one's ``/tmp``; ``start_timeout`` bounds the
    start of one. Safe to call from several threads at once."""

    def __init__(
        self,
        *,
        interpreter: str = "/usr/bin/python3",
        bwrap: str = "bwrap",
        pool_size: int = 4,
        sandbox_uid: int = NOBODY,
        tmp_mb: int = 64,
        start_timeout: float = 30.0,
    ) -> None:
        self._interpreter, self._bwrap, self._tmp_mb = interpreter, bwrap, tmp_mb
        self._pool_size = max(1, pool_size)
        self._uid = sandbox_uid if os.geteuid() == 0 else None
        self._start_timeout = start_timeout
        self._command: list[str] | None = None
        self._refusal: str | None = None
        self._probe_lock = threading.Lock()
        self._cond = threading.Condition()
        self._idle: list[Sandbox] = []  # least recently used first
        self._live = 0  # idle, busy and starting
        self._closed = False
        # Starts every sandbox: bwrap dies with the thread that started it (--die-with-parent).
        self._launcher = ThreadPoolExecutor(1, thread_name_prefix="python-hooks-launcher")

    def run(self, invocation: Invocation, limits: Limits) -> Outcome:
        """Run the function in a sandbox of the invocation's tenant (waiting for one when
        ``pool_size`` calls are running); ``HookError`` when it fails or is refused."""
        command = self._sandbox_command()
        header = orjson.dumps(
            {
                "key": invocation.source_key,
                "source": invocation.source,
                "function": invocation.function,
                "api": invocation.api is not None,
                "limits": dataclasses.asdict(limits),
            }
        )
        body = orjson.dumps(
            {"options": invocation.options, "each": invocation.each},
            default=str,
            option=orjson.OPT_NON_STR_KEYS,
        )
        logs = CallLogs(limits)
        sandbox = self._acquire(invocation.tenant, command)
        healthy = False
        try:
            kind, data = sandbox.call(
                len(header).to_bytes(4, "big") + header + body, limits, logs, invocation.api
            )
            healthy = True
        except Timeout:
            message = (
                f"{invocation.function} exceeded its time limit of {limits.timeout_seconds:g} s."
            )
            raise HookError(message, SCRIPT_TIMEOUT, logs.lines()) from None
        except TooLarge:
            message = f"The hook returned more than {limits.max_response_bytes} bytes."
            raise HookError(message, RESPONSE_TOO_LARGE, logs.lines()) from None
        except Broken as exc:
            raise HookError(str(exc), SCRIPT_ERROR, logs.lines()) from None
        finally:
            self._release(sandbox, healthy)
        return outcome(kind, data, limits, logs)

    def close(self) -> None:
        """End every sandbox: idle ones are killed here, busy ones die with the launcher
        thread (bwrap follows it), which fails their calls."""
        with self._cond:
            self._closed = True
            idle, self._idle = self._idle, []
            self._live -= len(idle)
            self._cond.notify_all()
        for sandbox in idle:
            sandbox.kill()
        self._launcher.shutdown(wait=False)

    # -- the pool ------------------------------------------------------------------------------

    def _acquire(self, tenant: str, command: list[str]) -> Sandbox:
        victim: Sandbox | None = None
        with self._cond:
            while True:
                if self._closed:
                    raise HookError("The Python hook runtime is closed.", SANDBOX_UNAVAILABLE)
                mine = [s for s in self._idle if s.tenant == tenant]
                if mine:
                    self._idle.remove(mine[-1])
                    if mine[-1].alive():
                        return mine[-1]
                    victim = mine[-1]  # died while idle: replace it
                    break
                if self._live < self._pool_size:
                    self._live += 1
                    break
                if self._idle:  # full: the least recently used idle sandbox makes room
                    victim = self._idle.pop(0)
                    break
                self._cond.wait()
        if victim is not None:
            victim.kill()
        try:
            return Sandbox(tenant, command, self._uid, self._start_timeout, self._launch)
        except BaseException:
            with self._cond:
                self._live -= 1
                self._cond.notify()
            raise

    def _launch(self, start: Callable[[], subprocess.Popen[bytes]]) -> subprocess.Popen[bytes]:
        return self._launcher.submit(start).result()

    def _release(self, sandbox: Sandbox, healthy: bool) -> None:
        with self._cond:
            keep = healthy and not self._closed
            if keep:
                self._idle.append(sandbox)
            else:
                self._live -= 1
            self._cond.notify()
        if not keep:
            sandbox.kill()

    # -- is there a sandbox at all -------------------------------------------------------------

    def _sandbox_command(self) -> list[str]:
        """The bwrap command line, once a probe showed it works; else ``SANDBOX_UNAVAILABLE``."""
        with self._probe_lock:
            if self._command is None and self._refusal is None:
                self._refusal = self._probe()
            if self._refusal is not None:
                raise HookError(self._refusal, SANDBOX_UNAVAILABLE)
            assert self._command is not None
            return self._command

    def _probe(self) -> str | None:
        """None when a sandbox starts the interpreter; else why Python hooks are refused."""
        bwrap = shutil.which(self._bwrap)
        if bwrap is None:
            return UNAVAILABLE
        shown = shown_directories()
        interpreter = os.path.realpath(self._interpreter)
        if not _inside(interpreter, shown) or not os.access(interpreter, os.X_OK):
            return (
                f"Python hooks need an interpreter in {', '.join(shown)} (all the sandbox shows "
                f"of the host); {self._interpreter} is not one. They never run unsandboxed."
            )
        home = os.path.realpath(Settings().home)  # INTEGRATOR_HOME
        if _inside(home, shown):
            return f"INTEGRATOR_HOME ({home}) must not be in {', '.join(shown)}: hooks see those."
        command = bwrap_arguments(bwrap, self._interpreter, self._tmp_mb)
        try:
            with seccomp_arguments() as (seccomp, seccomp_fds):
                probe = subprocess.run(
                    [command[0], *seccomp, *command[1:], "-c", "import resource"],
                    capture_output=True,
                    timeout=self._start_timeout,
                    check=False,
                    pass_fds=seccomp_fds,
                    **popen_options(self._uid),
                )
        except (OSError, subprocess.TimeoutExpired) as exc:
            detail = str(exc)
        else:
            if probe.returncode == 0:
                self._command = command
                return None
            detail = probe.stderr.decode(errors="replace").strip() or f"exit {probe.returncode}"
        return (
            f"Python hooks cannot start their bubblewrap sandbox ({detail}); "
            "they never run unsandboxed."
        )


def _inside(path: str, directories: list[str]) -> bool:
    return any(path == d or path.startswith(d.rstrip("/") + "/") for d in directories)
