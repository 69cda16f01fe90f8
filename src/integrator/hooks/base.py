"""What the hook runtimes share: one call's input (``Invocation``), its output (``Outcome``),
the limits it runs under, and the platform API a script may call back into.

Three runtimes implement ``Runtime``: JavaScript in V8 (``javascript.py``), Python in a
bubblewrap sandbox (``python_sandbox.py``) and, for stacks, the extension HTTP protocol
(``stacks.py``, which has no ``Invocation`` source). ``runner.py`` picks one per call, mints the
call's one-time token and writes the script's logs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from integrator.engine.hooks import HookError

#: ``HookError.code`` values a runtime raises.
SCRIPT_ERROR = "script_error"  # the function threw (its message is the page's error)
SCRIPT_TIMEOUT = "script_timeout"  # ran past ``Limits.timeout_seconds``
SCRIPT_MEMORY = "script_memory"  # ran past ``Limits.memory_mb``
FUNCTION_NOT_FOUND = "function_not_found"  # the script defines no such function
INVALID_RESPONSE = "invalid_response"  # returned something that is not JSON data
RESPONSE_TOO_LARGE = "response_size_exceeded"  # returned more than ``max_response_bytes``
SANDBOX_UNAVAILABLE = "sandbox_unavailable"  # Python hooks without bubblewrap: never unsandboxed


@dataclass(frozen=True)
class Limits:
    """Per-call limits. Python hooks also get the process limits (CPU, file size, processes)."""

    timeout_seconds: float = 30.0
    memory_mb: int = 256
    cpu_seconds: int = 30
    file_size_mb: int = 10
    processes: int = 16
    max_response_bytes: int = 5 * 1024 * 1024
    #: Lines of ``console.log``/``print`` kept per call; further lines are counted, not kept.
    log_lines: int = 200
    #: Characters kept of one log line.
    log_line_chars: int = 4000


@dataclass(frozen=True)
class LogLine:
    """One line a script logged: ``level`` is ``log``, ``info``, ``warn``, ``error`` or
    ``debug`` (Python's ``print`` is ``log``); ``time`` is epoch seconds."""

    level: str
    message: str
    time: float


class ApiCallError(Exception):
    """A call into the platform API answered with an error status."""

    def __init__(self, status: int, body: Any) -> None:
        message = ""
        if isinstance(body, dict) and isinstance(body.get("errors"), list) and body["errors"]:
            first = body["errors"][0]
            if isinstance(first, dict):
                message = str(first.get("message") or first.get("code") or "")
        super().__init__(message or f"The API answered {status}.")
        self.status = status
        self.body = body


class Api(Protocol):
    """The platform's ``/v1`` API as a script sees it: every request carries the call's
    one-time token. ``path`` starts with ``/v1/``. Returns the decoded JSON body (None for an
    empty one); raises ``ApiCallError`` for a 4xx/5xx answer."""

    def request(self, method: str, path: str, body: Any = None) -> Any: ...


@dataclass
class Invocation:
    """One call of a script function."""

    #: Scripts of different tenants (accounts) never share an interpreter state.
    tenant: str
    #: The script's source code.
    source: str
    #: Changes whenever the source does (script id + lastModified): compiled code is cached
    #: under it.
    source_key: str
    function: str
    options: dict[str, Any]
    #: filter/transform: call the function once per element, with ``options`` plus
    #: ``{"record": element}``, and return the list of answers (one per element).
    each: list[Any] | None = None
    #: What the script's API module calls; None: the module raises when used.
    api: Api | None = None


@dataclass
class Outcome:
    """What the function returned, and what it logged."""

    value: Any
    logs: list[LogLine] = field(default_factory=list)


class Runtime(Protocol):
    def run(self, invocation: Invocation, limits: Limits) -> Outcome:
        """Run the function; raise ``HookError`` (with ``code`` and ``logs``) when it throws,
        runs out of time or memory, or returns something that is not JSON data."""

    def close(self) -> None:
        """Release interpreters and processes."""


__all__ = [
    "FUNCTION_NOT_FOUND",
    "INVALID_RESPONSE",
    "RESPONSE_TOO_LARGE",
    "SANDBOX_UNAVAILABLE",
    "SCRIPT_ERROR",
    "SCRIPT_MEMORY",
    "SCRIPT_TIMEOUT",
    "Api",
    "ApiCallError",
    "HookError",
    "Invocation",
    "Limits",
    "LogLine",
    "Outcome",
    "Runtime",
]
