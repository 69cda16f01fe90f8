"""The platform's ``HookRunner``: from a hook reference to a result.

For each call it reads the script (or the stack) in the caller's account, builds integrator.io's
``options`` (``bearerToken``, ``_flowId``, ``_integrationId``, ``settings``, ``testMode``,
``job``), mints the one-time token the call may use against ``/v1`` and revokes it when the
call returns, runs the function in the script's language (JavaScript in V8, Python in the
bubblewrap sandbox) or on the stack, and keeps what the script logged (``GET
/v1/scripts/{id}/logs``). Runtimes start on first use: a platform without Python hooks never
starts a sandbox.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx2
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from integrator.config import Settings
from integrator.engine.hooks import CallKind, HookContext, HookError, HookRef
from integrator.errors import NotFound
from integrator.hooks import logs as script_logs
from integrator.hooks.base import Api, ApiCallError, Invocation, Limits, LogLine, Runtime
from integrator.hooks.js_process import JavaScriptProcesses
from integrator.hooks.stacks import StackClient
from integrator.hooks.tokens import CallToken
from integrator.resources import REGISTRY
from integrator.resources.service import ResourceService
from integrator.store.accounts import Principal
from integrator.store.crypto import Cipher
from integrator.store.models import Resource

log = logging.getLogger("integrator.hooks")

#: The principal the runner reads scripts with (the account's own data, no token).
RUNNER_TOKEN = "hooks"


def limits_from(settings: Settings) -> Limits:
    return Limits(
        timeout_seconds=settings.hook_timeout_seconds,
        memory_mb=settings.hook_memory_mb,
        cpu_seconds=settings.hook_cpu_seconds,
        file_size_mb=settings.hook_file_size_mb,
        processes=settings.hook_processes,
    )


class HttpApi:
    """The ``/v1`` API over HTTP with one call's one-time token: what scripts' API module
    and ``integrator_api`` use."""

    def __init__(self, client: httpx2.Client, token: CallToken) -> None:
        self._client = client
        self._token = token

    def request(self, method: str, path: str, body: Any = None) -> Any:
        headers = {"Authorization": f"Bearer {self._token.store()}"}
        try:
            response = self._client.request(method, path, json=body, headers=headers)
        except httpx2.TransportError as exc:
            raise ApiCallError(503, {"errors": [{"message": f"API unreachable: {exc}"}]}) from exc
        try:
            decoded = response.json() if response.content else None
        except ValueError:
            decoded = response.text
        if response.status_code >= 400:
            raise ApiCallError(response.status_code, decoded)
        return decoded


@dataclass
class _Target:
    """What a reference resolved to: a script (source and language) or a stack document."""

    script_id: str | None = None
    language: str = "javascript"
    source: str = ""
    source_key: str = ""
    stack: dict[str, Any] | None = None
    settings: Any = None


class ScriptHookRunner:
    """Runs hooks, wrappers and filters for the engine and the API; one per process."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        cipher: Cipher,
        settings: Settings,
        *,
        javascript: Runtime | None = None,
        python: Runtime | None = None,
        stacks: StackClient | None = None,
    ) -> None:
        self._sessions = sessions
        self._cipher = cipher
        self._settings = settings
        self.limits = limits_from(settings)
        self._javascript = javascript
        self._python = python
        self._stacks = stacks
        self._lock = threading.Lock()
        self._api: httpx2.Client | None = None
        #: Where the API module's requests go; ``integrator serve`` sets its own address.
        self.api_url = (settings.api_url or "http://127.0.0.1:8000").rstrip("/")

    def call(
        self,
        ref: HookRef,
        options: dict[str, Any],
        context: HookContext,
        kind: CallKind = "hook",
        each: list[Any] | None = None,
    ) -> Any:
        target = self._resolve(ref, context)
        function = ref.function or ref.name
        full = self._options(options, context, target.settings)
        if ref.configuration is not None:
            full.setdefault("configuration", ref.configuration)
        token = CallToken(self._sessions, context.account_id, context.connector_id)
        full["bearerToken"] = token.clear
        try:
            if target.stack is not None:
                token.store()  # the stack may call back with it at once
                return self._call_stack(target.stack, function, full, context, kind, each)
            invocation = Invocation(
                tenant=context.account_id,
                source=target.source,
                source_key=target.source_key,
                function=function,
                options=full,
                each=each,
                api=self._http_api(token),
            )
            runtime = self._runtime(target.language)
            try:
                outcome = runtime.run(invocation, self.limits)
            except HookError as exc:
                self._keep_logs(context, target, function, exc.logs)
                raise
        finally:
            token.revoke()
        self._keep_logs(context, target, function, outcome.logs)
        return outcome.value

    def close(self) -> None:
        with self._lock:
            for runtime in (self._javascript, self._python):
                if runtime is not None:
                    runtime.close()
            if self._stacks is not None:
                self._stacks.close()
            if self._api is not None:
                self._api.close()
            self._javascript = self._python = self._stacks = self._api = None

    # -- resolution --------------------------------------------------------------------------

    def _resolve(self, ref: HookRef, context: HookContext) -> _Target:
        with self._sessions() as session:
            principal = Principal(context.account_id, RUNNER_TOKEN)
            service = ResourceService(session, self._cipher, principal)
            target = _Target()
            try:
                if ref.stack_id:
                    target.stack = self._stack(session, service, ref.stack_id, context)
                else:
                    script = service.get(REGISTRY["scripts"], str(ref.script_id))
                    target.script_id = str(ref.script_id)
                    target.language = str(script.get("language") or "javascript")
                    target.source = str(script.get("content") or "")
                    target.source_key = f"{ref.script_id}:{script.get('lastModified')}"
            except NotFound:
                what = f"stack {ref.stack_id}" if ref.stack_id else f"script {ref.script_id}"
                raise HookError(
                    f"The {ref.name} hook's {what} does not exist.", code="script_not_found"
                ) from None
            if context.integration_id:
                try:
                    integration = service.get(REGISTRY["integrations"], context.integration_id)
                    target.settings = integration.get("settings")
                except NotFound:
                    pass
            return target

    def _stack(
        self, session: Session, service: ResourceService, stack_id: str, context: HookContext
    ) -> dict[str, Any]:
        """The stack in the caller's account; for a connector installed from another account,
        the stack of the connector's owner (the connector names it in ``_stackId``)."""
        try:
            return service.unsealed(REGISTRY["stacks"], stack_id)
        except NotFound:
            if context.connector_id is None:
                raise
        connector = session.execute(
            select(Resource.account_id, Resource.doc).where(
                Resource.id == context.connector_id, Resource.type == "connectors"
            )
        ).first()
        if connector is None or connector.doc.get("_stackId") != stack_id:
            raise NotFound(f"No stack {stack_id}.")
        owner = ResourceService(
            session, self._cipher, Principal(connector.account_id, RUNNER_TOKEN)
        )
        return owner.unsealed(REGISTRY["stacks"], stack_id)

    @staticmethod
    def _options(options: Mapping[str, Any], context: HookContext, settings: Any) -> dict[str, Any]:
        full: dict[str, Any] = {
            "_flowId": context.flow_id,
            "_integrationId": context.integration_id,
            "settings": settings if settings is not None else {},
            "testMode": context.test_mode,
        }
        if context.job_id:
            full["job"] = {"_id": context.job_id}
        full.update({key: value for key, value in options.items() if value is not None})
        return full

    # -- runtimes ----------------------------------------------------------------------------

    def _runtime(self, language: str) -> Runtime:
        with self._lock:
            if language == "python":
                if self._python is None:
                    from integrator.hooks.python_sandbox import PythonRuntime

                    self._python = PythonRuntime(
                        interpreter=self._settings.hook_python,
                        bwrap=self._settings.bwrap_path,
                        pool_size=self._settings.hook_runners,
                    )
                return self._python
            if self._javascript is None:
                self._javascript = JavaScriptProcesses(self._settings.hook_runners)
            return self._javascript

    def _call_stack(
        self,
        stack: dict[str, Any],
        function: str,
        options: dict[str, Any],
        context: HookContext,
        kind: CallKind,
        each: list[Any] | None,
    ) -> Any:
        with self._lock:
            if self._stacks is None:
                self._stacks = StackClient()
            client = self._stacks

        def one(call_options: dict[str, Any]) -> Any:
            return client.call(
                stack,
                function,
                call_options,
                kind=kind,
                connector_id=context.connector_id,
                timeout_seconds=self.limits.timeout_seconds,
                max_response_bytes=self.limits.max_response_bytes,
            )

        if each is None:
            return one(options)
        return [one({**options, "record": record}) for record in each]

    def _http_api(self, token: CallToken) -> Api:
        with self._lock:
            if self._api is None or str(self._api.base_url).rstrip("/") != self.api_url:
                if self._api is not None:
                    self._api.close()
                self._api = httpx2.Client(
                    base_url=self.api_url.rstrip("/"), timeout=self.limits.timeout_seconds
                )
            return HttpApi(self._api, token)

    def _keep_logs(
        self, context: HookContext, target: _Target, function: str, lines: list[LogLine]
    ) -> None:
        if not lines or target.script_id is None:
            return
        try:
            with self._sessions.begin() as session:
                script_logs.write(
                    session,
                    context.account_id,
                    target.script_id,
                    lines,
                    function=function,
                    flow_id=context.flow_id,
                    job_id=context.job_id,
                )
        except SQLAlchemyError as exc:  # e.g. the script was deleted meanwhile: logs are lost
            log.warning("logs of script %s not kept: %s", target.script_id, exc)


__all__ = ["HttpApi", "ScriptHookRunner", "limits_from"]
