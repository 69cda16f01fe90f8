"""Webhook listeners: ``POST|PUT|GET /v1/exports/{id}/data`` (``/v1/exports/{id}/{token}/data``
for a secret URL). Public: no bearer token; each export verifies its own way.

A delivery is verified (401 and nothing stored when it fails), parsed into records
(``BadPayload``: 400/415 when it cannot be), stored with one committed insert per listening
flow, and only then answered (``successStatusCode``, 204 by default). Subscription
handshakes are answered and not stored. The listening flows then run
(``Listeners.trigger``); see engine/webhooks.py.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

import orjson
from fastapi import APIRouter, Request, Response
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from integrator.adaptors.webhook import Delivery, challenge, records, success, verify
from integrator.api.auth import app_context
from integrator.engine import webhooks
from integrator.engine.runner import FlowRunner
from integrator.errors import ErrorItem, IntegratorError, NotFound
from integrator.mapping.datatypes import MISSING
from integrator.mapping.paths import compile_getter
from integrator.resources import REGISTRY
from integrator.resources.service import ResourceService
from integrator.store.accounts import Principal
from integrator.store.crypto import Cipher

log = logging.getLogger("integrator.webhooks")

router = APIRouter()

#: Seconds a listener's export (and its flows) is remembered: a change applies within this.
LISTENER_TTL = 1.0
#: Deliveries within this many seconds start their flow once.
TRIGGER_DELAY = 0.02
#: Dedupe window when the export sets a key but no window.
DEDUPE_WINDOW = 3600
#: Deliveries committed in one transaction at most.
WRITE_BATCH = 500


class MethodNotAllowed(IntegratorError):
    """405: a GET that is no subscription handshake."""

    def __init__(self, message: str) -> None:
        super().__init__(405, [ErrorItem("method_not_allowed", message)])


@dataclass(frozen=True)
class Listener:
    account_id: str
    export: dict[str, Any]
    flow_ids: list[str]

    @property
    def webhook(self) -> dict[str, Any]:
        block = self.export.get("webhook")
        return block if isinstance(block, dict) else {}


_Write = tuple["Listener", str, list[Any], str | None, "Future[bool]"]


class Listeners:
    """Each process's view of the listeners: their exports, briefly cached (a delivery must
    not cost a decryption), and the flows they start, at most once per ``TRIGGER_DELAY``."""

    def __init__(self, sessions: sessionmaker[Session], cipher: Cipher, runner: FlowRunner) -> None:
        self._sessions = sessions
        self._cipher = cipher
        self._runner = runner
        self._cache: dict[str, tuple[float, Listener | None]] = {}
        self._lock = threading.Lock()
        self._pending: set[tuple[str, str]] = set()
        self._writes: queue.Queue[_Write] = queue.Queue()
        self._writer: threading.Thread | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def get(self, export_id: str) -> Listener | None:
        """The listener, from the cache without leaving the event loop when it is fresh."""
        with self._lock:
            cached = self._cache.get(export_id)
        if cached is not None and time.monotonic() - cached[0] < LISTENER_TTL:
            return cached[1]
        return await run_in_threadpool(self._refresh, export_id)

    def _refresh(self, export_id: str) -> Listener | None:
        now = time.monotonic()
        listener = self._load(export_id)
        with self._lock:
            if len(self._cache) > 10_000:
                self._cache.clear()
            self._cache[export_id] = (now, listener)
        return listener

    def _load(self, export_id: str) -> Listener | None:
        with self._sessions() as session:
            account_id = webhooks.owner_of(session, export_id)
            if account_id is None:
                return None
            service = ResourceService(session, self._cipher, Principal(account_id, "webhook"))
            try:
                export = service.unsealed(REGISTRY["exports"], export_id)
            except NotFound:
                return None
            if export.get("type") != "webhook":
                return None
            flows = webhooks.listening_flows(session, account_id, export_id)
        return Listener(account_id, export, flows)

    async def store(
        self, listener: Listener, export_id: str, found: list[Any], key: str | None
    ) -> bool:
        """Store the delivery; returns once it is committed. False when its dedupe key was
        seen within its window (acknowledged, not stored again).

        Deliveries are written by one thread, as many per transaction as are waiting: under
        load one commit makes a batch durable (SQLite takes one writer at a time), and no
        delivery waits for more than the batch in flight before its own.
        """
        future: Future[bool] = Future()
        with self._lock:
            if self._writer is None or not self._writer.is_alive():
                self._writer = threading.Thread(target=self._write_forever, daemon=True)
                self._writer.start()
        self._writes.put((listener, export_id, found, key, future))
        return await asyncio.wrap_future(future)

    def _write_forever(self) -> None:
        while True:
            batch = [self._writes.get()]
            while len(batch) < WRITE_BATCH:
                try:
                    batch.append(self._writes.get_nowait())
                except queue.Empty:
                    break
            try:
                results = self._write(batch)
            except Exception as exc:  # the whole batch failed: every caller hears it
                for *_, future in batch:
                    future.set_exception(exc)
                continue
            for (*_, future), result in zip(batch, results, strict=True):
                future.set_result(result)

    def _write(self, batch: list[_Write]) -> list[bool]:
        results = []
        with self._sessions.begin() as session:
            for listener, export_id, found, key, _ in batch:
                if key is not None:
                    window = listener.webhook.get("dedupeWindowSeconds") or DEDUPE_WINDOW
                    if webhooks.seen_before(session, export_id, key, float(window)):
                        results.append(False)
                        continue
                webhooks.accept(session, listener.account_id, export_id, listener.flow_ids, found)
                results.append(True)
        return results

    def trigger(self, account_id: str, flow_ids: list[str]) -> None:
        """Start each flow soon: the deliveries of the next few milliseconds join the run
        (or the job queued behind a running one)."""
        loop = asyncio.get_running_loop()
        for flow_id in flow_ids:
            key = (account_id, flow_id)
            with self._lock:
                if key in self._pending:
                    continue
                self._pending.add(key)
            loop.call_later(TRIGGER_DELAY, self._start, loop, key)

    def _start(self, loop: asyncio.AbstractEventLoop, key: tuple[str, str]) -> None:
        task = loop.create_task(self._fire(key))
        self._tasks.add(task)  # held until done: the loop keeps only weak references
        task.add_done_callback(self._tasks.discard)

    async def _fire(self, key: tuple[str, str]) -> None:
        with self._lock:
            self._pending.discard(key)  # a delivery stored from now on triggers again
        try:
            await run_in_threadpool(self._runner.run_flow, key[0], key[1], scheduled=True)
        except Exception:  # housekeeping starts it later (webhooks.waiting_flows)
            log.exception("flow %s could not start after a delivery", key[1])


def _dedupe_key(webhook: dict[str, Any], delivery: Delivery) -> str | None:
    header = webhook.get("dedupeHeader")
    if isinstance(header, str) and header:
        value = delivery.headers.get(header.lower())
        return value or None
    path = webhook.get("dedupePath")
    if isinstance(path, str) and path:
        try:
            value = compile_getter(path)(orjson.loads(delivery.body))
        except ValueError:
            return None
        return None if value is None or value is MISSING else str(value)
    return None


async def _receive(request: Request, export_id: str, token: str | None) -> Response:
    context = app_context(request)
    listeners: Listeners = context.listeners
    listener = await listeners.get(export_id)
    if listener is None:
        raise NotFound(f"No webhook listener at export '{export_id}'.")
    body = await request.body()
    delivery = Delivery(
        method=request.method,
        url=str(request.url),
        headers={name.lower(): value for name, value in request.headers.items()},
        query=parse_qs(request.url.query, keep_blank_values=True),
        body=body,
        url_token=token,
    )
    webhook = listener.webhook
    verify(webhook, delivery)
    handshake = challenge(webhook, delivery)
    if handshake is not None:
        return Response(
            handshake.body,
            handshake.status,
            dict(handshake.headers),
            media_type=handshake.media_type,
        )
    if request.method == "GET":
        raise MethodNotAllowed("A webhook listener takes POST or PUT.")
    found = records(webhook, delivery)
    key = _dedupe_key(webhook, delivery)
    stored = await listeners.store(listener, export_id, found, key)
    if stored and found:
        listeners.trigger(listener.account_id, listener.flow_ids)
    answer = success(webhook, delivery)
    return Response(answer.body, answer.status, dict(answer.headers), media_type=answer.media_type)


for _path in ("/exports/{export_id}/data", "/exports/{export_id}/{token}/data"):

    @router.api_route(
        _path,
        methods=["POST", "PUT", "GET"],
        tags=["exports"],
        summary="Deliver to a webhook listener (public: verified by the export's settings)",
        include_in_schema=_path.endswith("{export_id}/data"),
    )
    async def deliver(request: Request, export_id: str, token: str | None = None) -> Response:
        return await _receive(request, export_id, token)


__all__ = ["Listener", "Listeners", "router"]
