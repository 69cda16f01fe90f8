"""Extension functions on a server stack, called with integrator.io's protocol (reference §8.1).

One call is one request::

    POST {hostURI}/function
    Authorization: Bearer <systemToken>
    Content-Type: application/json
    traceid: <new id>

    {"diy": true, "type": "wrapper", "function": "ping", "maxResponseSize": 5242880,
     "options": {"connection": {...}, "bearerToken": "..."}}

``_connectorId`` replaces ``diy`` when the call belongs to a connector (SmartConnector). The stack
answers 200 with the function's JSON result, 422 ``{"errors": [{"code", "message"}]}`` when the
function threw, 401 when it refuses the system token. Everything else is a ``HookError`` whose
``code`` says why (see ``call``). A stack's own logs stay on the stack.

Decisions: no retries (a wrapper import or an installer is not safe to send twice); no
redirects (they would carry the system token elsewhere); an empty 200 body is ``None`` (a
function that returns nothing, like an installer); the response is read at most
``max_response_bytes`` (+1) bytes at a time, whatever the stack claims.

>>> # client = StackClient()
>>> # client.call(stack_doc, "ping", {"connection": {...}}, kind="wrapper")
>>> # {'statusCode': 200}
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Mapping
from typing import Any

import httpx2
import orjson

from integrator.engine.hooks import CallKind, HookError
from integrator.hooks.base import (
    INVALID_RESPONSE,
    RESPONSE_TOO_LARGE,
    SCRIPT_ERROR,
    SCRIPT_TIMEOUT,
    Limits,
)

__all__ = [
    "INVALID_OPTIONS",
    "STACK_ERROR",
    "STACK_UNAUTHORIZED",
    "STACK_UNREACHABLE",
    "STACK_UNSUPPORTED",
    "StackClient",
    "stack_endpoint",
]

logger = logging.getLogger(__name__)

#: ``HookError.code`` values of stack calls (besides ``script_error``, ``script_timeout``,
#: ``invalid_response`` and ``response_size_exceeded`` from ``base.py``).
STACK_UNAUTHORIZED = "stack_unauthorized"  # 401: the stack refused its system token
STACK_UNREACHABLE = "stack_unreachable"  # no connection, or 502/503/504 in front of it
STACK_ERROR = "stack_error"  # any other status (404: wrong hostURI, 500: the stack crashed)
STACK_UNSUPPORTED = "stack_unsupported"  # a lambda stack, or a server stack without hostURI
INVALID_OPTIONS = "invalid_options"  # the caller's options are not JSON data (nothing is sent)

#: How long connecting may take, at most (the call's own timeout when shorter).
CONNECT_TIMEOUT = 10.0
#: Characters of an unexpected answer an error message quotes.
SNIPPET = 300

DEFAULT_LIMITS = Limits()


def stack_endpoint(stack: Mapping[str, Any]) -> tuple[str, str]:
    """``({hostURI}/function, systemToken)`` of an unsealed server stack document.

    integrator.io keeps both in ``server``; a top-level ``hostURI``/``systemToken`` (our
    shorthand) is accepted too. Raises ``HookError`` (``stack_unsupported``) for lambda stacks
    and server stacks without a host.
    """
    name = stack.get("name") or stack.get("_id") or "the stack"
    if stack.get("type") == "lambda":
        raise HookError(
            f"Stack {name!r} is a lambda stack; only server stacks can be called.",
            code=STACK_UNSUPPORTED,
        )
    server = stack.get("server") if isinstance(stack.get("server"), Mapping) else {}
    assert isinstance(server, Mapping)
    host = server.get("hostURI") or stack.get("hostURI")
    if not isinstance(host, str) or not host.startswith(("http://", "https://")):
        raise HookError(f"Stack {name!r} has no http(s) hostURI.", code=STACK_UNSUPPORTED)
    token = server.get("systemToken") or stack.get("systemToken") or ""
    return host.rstrip("/") + "/function", str(token)


class StackClient:
    """Calls extension functions on server stacks; one pool of keep-alive connections.

    Thread-safe: one client serves every hook and wrapper call of a process. ``transport`` is
    for tests; ``close()`` releases the connections.
    """

    def __init__(
        self,
        *,
        transport: httpx2.BaseTransport | None = None,
        max_connections: int = 100,
    ) -> None:
        self._http = httpx2.Client(
            transport=transport,
            follow_redirects=False,
            limits=httpx2.Limits(
                max_connections=max_connections, max_keepalive_connections=max_connections
            ),
        )
        self._lock = threading.Lock()
        self._closed = False

    def call(
        self,
        stack: Mapping[str, Any],
        function: str,
        options: Mapping[str, Any],
        *,
        kind: CallKind | None = "hook",
        connector_id: str | None = None,
        timeout_seconds: float = DEFAULT_LIMITS.timeout_seconds,
        max_response_bytes: int = DEFAULT_LIMITS.max_response_bytes,
    ) -> Any:
        """Run ``function`` on the (unsealed) ``stack`` with ``options``; its decoded result.

        ``kind`` is the protocol's ``type`` (None: the function is on the module root);
        ``connector_id`` sends ``_connectorId`` instead of ``diy: true``. Raises ``HookError``:

        * the error's own ``code`` (else ``script_error``) and message for a 422;
        * ``stack_unauthorized`` for a 401; ``stack_unreachable`` when the stack cannot be
          reached (or a gateway answers 502-504); ``stack_error`` for another status;
        * ``script_timeout`` past ``timeout_seconds`` (the whole call, body included);
        * ``invalid_response`` for a 200 body that is not JSON; ``response_size_exceeded``
          past ``max_response_bytes``; ``stack_unsupported`` for a stack we cannot call.
        """
        url, token = stack_endpoint(stack)
        body: dict[str, Any] = (
            {"_connectorId": connector_id} if connector_id is not None else {"diy": True}
        )
        if kind is not None:
            body["type"] = kind
        body.update(function=function, maxResponseSize=max_response_bytes, options=options)
        try:
            content = orjson.dumps(body)
        except TypeError as exc:
            raise HookError(
                f"The options of {function} are not JSON data: {exc}", code=INVALID_OPTIONS
            ) from exc
        trace_id = uuid.uuid4().hex
        headers = {
            "Authorization": f"Bearer {token}",
            "Content-Type": "application/json",
            "Accept": "application/json",
            "traceid": trace_id,
        }
        timeout = httpx2.Timeout(timeout_seconds, connect=min(CONNECT_TIMEOUT, timeout_seconds))
        started = time.monotonic()
        try:
            with self._http.stream(
                "POST", url, content=content, headers=headers, timeout=timeout
            ) as response:
                status = response.status_code
                raw = _read_bounded(response, max_response_bytes, started + timeout_seconds)
        except _Deadline as exc:
            raise _timed_out(function, timeout_seconds) from exc
        except httpx2.TimeoutException as exc:
            if isinstance(exc, httpx2.ConnectTimeout):
                raise _unreachable(function, url, exc) from exc
            raise _timed_out(function, timeout_seconds) from exc
        except httpx2.TransportError as exc:
            raise _unreachable(function, url, exc) from exc
        logger.debug(
            "stack call %s (%s) -> %s in %.1f ms, traceid %s",
            function,
            kind,
            status,
            (time.monotonic() - started) * 1000,
            trace_id,
        )
        return _answer(function, status, raw, max_response_bytes)

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self._http.close()

    def __enter__(self) -> StackClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class _Deadline(Exception):
    """The body kept coming past the call's timeout."""


def _read_bounded(response: httpx2.Response, limit: int, deadline: float) -> bytes | None:
    """The body, or None when it is longer than ``limit`` (reading stops there)."""
    declared = response.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        return None
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_bytes():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if time.monotonic() > deadline:
            raise _Deadline
    return b"".join(chunks)


def _answer(function: str, status: int, raw: bytes | None, limit: int) -> Any:
    if status == 200:
        if raw is None:
            raise HookError(
                f"{function} returned more than {limit} bytes (maxResponseSize).",
                code=RESPONSE_TOO_LARGE,
            )
        if not raw.strip():
            return None
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise HookError(
                f"The stack answered {function} with a body that is not JSON: {_snippet(raw)}",
                code=INVALID_RESPONSE,
            ) from exc
    if status == 401:
        raise HookError("The stack refused its system token.", code=STACK_UNAUTHORIZED)
    if status == 422:
        errors = _errors(raw)
        if errors:
            message = "; ".join(str(e.get("message") or e.get("code")) for e in errors)
            raise HookError(message, code=str(errors[0].get("code") or SCRIPT_ERROR))
    text = _snippet(raw) if raw is not None else "(a body larger than maxResponseSize)"
    if status == 422:
        raise HookError(f"{function} failed on the stack: {text}", code=SCRIPT_ERROR)
    code = STACK_UNREACHABLE if status in (502, 503, 504) else STACK_ERROR
    raise HookError(f"The stack answered HTTP {status} to {function}: {text}", code=code)


def _errors(raw: bytes | None) -> list[dict[str, Any]]:
    """``errors[]`` of a 422 body, keeping entries that say something."""
    if not raw:
        return []
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return []
    errors = body.get("errors") if isinstance(body, dict) else None
    if not isinstance(errors, list):
        return []
    return [e for e in errors if isinstance(e, dict) and (e.get("message") or e.get("code"))]


def _snippet(raw: bytes) -> str:
    text = raw.decode("utf-8", "replace").strip() or "(an empty body)"
    return text if len(text) <= SNIPPET else text[:SNIPPET] + "…"


def _timed_out(function: str, seconds: float) -> HookError:
    return HookError(f"{function} did not answer within {seconds:g} s.", code=SCRIPT_TIMEOUT)


def _unreachable(function: str, url: str, exc: Exception) -> HookError:
    reason = str(exc) or type(exc).__name__
    return HookError(
        f"The stack at {url} could not be reached to run {function}: {reason}",
        code=STACK_UNREACHABLE,
    )
