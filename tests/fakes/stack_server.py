"""A server stack of our own for tests: integrator.io's extension protocol over real HTTP.

It runs on ``127.0.0.1:<random port>`` (the fake SaaS app's threaded server: keep-alive,
``TCP_NODELAY``) and answers ``POST /function`` as integrator.io's extension server does
(reference §8.1):

* the system token comes as ``Authorization: Bearer <token>`` (or ``access_token`` in the body
  or query); a wrong one → 401, ``WWW-Authenticate`` and ``{"errors": [...]}``;
* the module is ``diy`` (``"diy": true``) or ``connectors[_connectorId]``; ``type`` picks the
  section (``hook`` → ``hooks``, ``wrapper`` → ``wrappers``, ``installer``, ``uninstaller``,
  ``setting`` → ``settings``, ``utility`` → ``utilities``), no ``type`` the module root;
* the function gets ``options`` and its result is answered 200 as JSON; an exception →
  422 ``{"errors": [{"code": exc.code or the class name, "message": str(exc)}]}``; a result
  that is not JSON data → 422 ``invalid_extension_response``; one larger than
  ``maxResponseSize`` (default 5 MB) → 422 ``response_size_exceeded``.

Tests register plain Python functions; a function may return ``Raw(...)`` to answer with
exactly that status and body (a misbehaving stack), and may call back into an HTTP API with
``options["bearerToken"]`` itself::

    with FakeStack.running() as stack:
        stack.register("wrappers", "ping", lambda options: {"statusCode": 200})
        StackClient().call(stack.document, "ping", {}, kind="wrapper")
        assert stack.calls[0].function == "ping"

Fixture: ``fake_stack`` (``from fakes.stack_server import fake_stack  # noqa: F401``).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest

from .server import Request, Response, ServerThread, dumps, json_response

#: ``type`` of the request → the module's section holding the function.
SECTIONS = {
    "hook": "hooks",
    "wrapper": "wrappers",
    "installer": "installer",
    "uninstaller": "uninstaller",
    "setting": "settings",
    "utility": "utilities",
}
#: integrator.io's default ``maxResponseSize``.
DEFAULT_MAX_RESPONSE_SIZE = 5 * 1024 * 1024

StackFunction = Callable[[dict[str, Any]], Any]


class StackFunctionError(Exception):
    """Raise in a registered function to throw an error with a ``code`` (JS ``err.code``)."""

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Raw:
    """Returned by a registered function: answer exactly this, bypassing the protocol."""

    status: int
    body: bytes = b""
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class StackCall:
    """One request the stack received and the status it answered; header names lower-cased,
    ``body`` decoded (None when it was not JSON)."""

    headers: dict[str, str]
    body: Any
    status: int

    def _field(self, name: str) -> Any:
        return self.body.get(name) if isinstance(self.body, dict) else None

    @property
    def function(self) -> Any:
        return self._field("function")

    @property
    def type(self) -> Any:
        return self._field("type")

    @property
    def options(self) -> Any:
        return self._field("options")

    @property
    def trace_id(self) -> str | None:
        return self.headers.get("traceid")


class FakeStack:
    """The stack: its system token, its registered functions, the calls it received."""

    def __init__(self, system_token: str = "stack-system-token") -> None:
        self.system_token = system_token
        #: Answer 422 ``response_size_exceeded`` past ``maxResponseSize`` (a faithful stack);
        #: False lets oversize results through so the caller's own limit can be tested.
        self.enforce_max_response_size = True
        #: Tracebacks of crashes of the fake itself (should stay empty).
        self.errors: list[str] = []
        self._modules: dict[str, dict[str, dict[str, StackFunction]]] = {"diy": {}}
        self._lock = threading.Lock()
        self._calls: list[StackCall] = []
        self._server: ServerThread | None = None

    # -- set-up -----------------------------------------------------------------------------------

    def register(
        self,
        section: str | None,
        name: str,
        function: StackFunction,
        *,
        connector_id: str | None = None,
    ) -> None:
        """Add ``function`` as ``name`` under ``section`` (``hooks``, ``wrappers``, ``installer``,
        ``uninstaller``, ``settings``, ``utilities``; None: the module root) of the ``diy``
        module, or of the connector's module."""
        module = self._modules.setdefault(connector_id or "diy", {})
        module.setdefault(section or "", {})[name] = function

    def start(self) -> None:
        self._server = ServerThread(self.app, self.errors)

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None

    @classmethod
    @contextmanager
    def running(cls, system_token: str = "stack-system-token") -> Iterator[FakeStack]:
        stack = cls(system_token)
        stack.start()
        try:
            yield stack
        finally:
            stack.stop()

    @property
    def host_uri(self) -> str:
        assert self._server is not None, "start the stack first"
        return f"http://127.0.0.1:{self._server.port}"

    @property
    def document(self) -> dict[str, Any]:
        """An unsealed stack document (``/v1/stacks``) pointing at this server."""
        return {
            "_id": "stack-1",
            "name": "Fake stack",
            "type": "server",
            "server": {"hostURI": self.host_uri, "systemToken": self.system_token},
        }

    @property
    def calls(self) -> list[StackCall]:
        with self._lock:
            return list(self._calls)

    def clear(self) -> None:
        with self._lock:
            self._calls.clear()

    # -- the protocol -----------------------------------------------------------------------------

    def app(self, request: Request) -> Response:
        try:
            body = json.loads(request.body) if request.body else None
        except ValueError:
            body = None
        response = self._answer(request, body)
        with self._lock:
            self._calls.append(StackCall(request.headers, body, response.status))
        return response

    def _answer(self, request: Request, body: Any) -> Response:
        if request.path != "/function":
            return _error(404, "not_found", f"No route {request.path}.")
        if request.method != "POST":
            return _error(405, "method_not_allowed", "Use POST /function.")
        if not self._authorized(request, body):
            response = _error(401, "unauthorized", "Invalid or missing system token.")
            response.headers["WWW-Authenticate"] = 'Bearer realm="stack"'
            return response
        if not isinstance(body, dict):
            return _error(422, "invalid_request", "The body must be a JSON object.")
        module_name = "diy" if body.get("diy") is True else body.get("_connectorId")
        if not module_name:
            return _error(422, "missing_required_field", "Send diy: true or _connectorId.")
        module = self._modules.get(str(module_name))
        if module is None:
            return _error(422, "unknown_connector", f"No module for {module_name}.")
        kind = body.get("type")
        if kind is not None and kind not in SECTIONS:
            return _error(422, "invalid_type", f"Unknown type {kind}.")
        section = SECTIONS[kind] if kind is not None else ""
        name = body.get("function")
        function = module.get(section, {}).get(name) if isinstance(name, str) else None
        if function is None:
            where = f"{section}.{name}" if section else str(name)
            return _error(422, "missing_function", f"Function {where} is not defined.")
        options = body.get("options")
        if not isinstance(options, dict):
            options = {}
        try:
            result = function(options)
        except Exception as exc:
            code = getattr(exc, "code", None) or type(exc).__name__
            return _error(422, str(code), str(exc))
        if isinstance(result, Raw):
            return Response(result.status, result.body, dict(result.headers), result.content_type)
        try:
            encoded = dumps(result)
        except (TypeError, ValueError):
            message = "The function returned something that is not JSON data."
            return _error(422, "invalid_extension_response", message)
        limit = body.get("maxResponseSize")
        limit = limit if isinstance(limit, int) and limit > 0 else DEFAULT_MAX_RESPONSE_SIZE
        if self.enforce_max_response_size and len(encoded) > limit:
            message = f"The response is larger than maxResponseSize ({limit} bytes)."
            return _error(422, "response_size_exceeded", message)
        return Response(200, encoded)

    def _authorized(self, request: Request, body: Any) -> bool:
        header = request.header("authorization") or ""
        scheme, _, token = header.partition(" ")
        if scheme.lower() == "bearer" and token.strip() == self.system_token:
            return True
        if isinstance(body, dict) and body.get("access_token") == self.system_token:
            return True
        return request.query.get("access_token") == self.system_token


def _error(status: int, code: str, message: str) -> Response:
    return json_response(status, {"errors": [{"code": code, "message": message}]})


@pytest.fixture
def fake_stack() -> Iterator[FakeStack]:
    """A running fake stack with no functions; register them in the test."""
    with FakeStack.running() as stack:
        yield stack
