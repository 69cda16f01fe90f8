"""The seccomp filter bwrap installs in the Python hooks' sandbox (``--seccomp FD``).

Namespaces and rlimits leave a few kernel facilities open that matter here:

* System V shared memory and message queues hold memory outside ``RLIMIT_AS`` and outlive
  the process that made them (a hook could fill the host's memory 256 MB at a time);
* the kernel keyrings are per user, and every sandbox runs as the same user: a channel
  between tenants;
* ``ptrace``, ``process_vm_*``, ``userfaultfd``, ``bpf``, ``perf_event_open``, ``io_uring``,
  ``mount``/``unshare``/``setns``, ``personality`` and ``syslog``: kernel attack surface no
  hook needs.

Those calls fail with ``EPERM``, as does any call through x86-64's x32 ABI; a call through
another architecture's ABI (i386 on x86-64) kills the process. Everything else is allowed:
this is a denylist on top of namespaces and rlimits, not the boundary by itself. Only x86-64
and AArch64 have numbers here; elsewhere the sandbox runs without the filter.
"""

from __future__ import annotations

import contextlib
import errno
import os
import platform
import struct
from collections.abc import Iterator

#: The refused calls: name → (x86-64 number, AArch64 number).
_DENIED = {
    "shmget": (29, 194), "msgget": (68, 186), "semget": (64, 190),
    "add_key": (248, 217), "request_key": (249, 218), "keyctl": (250, 219),
    "ptrace": (101, 117), "process_vm_readv": (310, 270), "process_vm_writev": (311, 271),
    "userfaultfd": (323, 282), "bpf": (321, 280), "perf_event_open": (298, 241),
    "io_uring_setup": (425, 425), "io_uring_enter": (426, 426), "io_uring_register": (427, 427),
    "mount": (165, 40), "umount2": (166, 39), "pivot_root": (155, 41),
    "unshare": (272, 97), "setns": (308, 268), "personality": (135, 92), "syslog": (103, 116),
}  # fmt: skip
#: machine → (AUDIT_ARCH_*, which column of ``_DENIED``).
_ARCHES = {"x86_64": (0xC000003E, 0), "aarch64": (0xC00000B7, 1)}
_X32 = 0x40000000  # x86-64's x32 ABI: the same calls under other numbers

_LOAD, _JEQ, _JGE, _RETURN = 0x20, 0x15, 0x35, 0x06
_ALLOW, _KILL_PROCESS = 0x7FFF0000, 0x80000000
_EPERM = 0x00050000 | errno.EPERM


def _instruction(code: int, k: int, jump_true: int = 0, jump_false: int = 0) -> bytes:
    return struct.pack("=HBBI", code, jump_true, jump_false, k)


def program(machine: str | None = None) -> bytes | None:
    """The filter as classic BPF (``struct sock_filter[]``); None where we have no numbers."""
    arch = _ARCHES.get(machine or platform.machine())
    if arch is None:
        return None
    audit_arch, column = arch
    body = [
        _instruction(_LOAD, 4),  # seccomp_data.arch
        _instruction(_JEQ, audit_arch, 1, 0),
        _instruction(_RETURN, _KILL_PROCESS),
        _instruction(_LOAD, 0),  # seccomp_data.nr
    ]
    checks = [(_JGE, _X32)] if column == 0 else []
    checks += [(_JEQ, numbers[column]) for numbers in _DENIED.values()]
    for index, (code, k) in enumerate(checks):
        # On a match, jump over the remaining checks and the ALLOW to the EPERM.
        body.append(_instruction(code, k, len(checks) - index, 0))
    body += [_instruction(_RETURN, _ALLOW), _instruction(_RETURN, _EPERM)]
    return b"".join(body)


@contextlib.contextmanager
def seccomp_arguments() -> Iterator[tuple[list[str], tuple[int, ...]]]:
    """bwrap's ``--seccomp FD`` arguments and the fd to pass to it (a pipe holding the
    filter, closed again once bwrap started); nothing where there is no filter."""
    filter_program = program()
    if filter_program is None:
        yield [], ()
        return
    read_end, write_end = os.pipe()
    try:
        try:
            os.write(write_end, filter_program)  # a few hundred bytes: the pipe holds them
        finally:
            os.close(write_end)  # once only: other threads reuse fd numbers at once
        yield ["--seccomp", str(read_end)], (read_end,)
    finally:
        os.close(read_end)
