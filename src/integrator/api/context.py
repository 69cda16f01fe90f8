"""What a running API holds: settings, database, cipher, rate limiter, and the auth cache."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeVar

from celery import Celery
from sqlalchemy import Connection, Engine
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from integrator.api.ratelimit import RateLimiter
from integrator.config import Settings
from integrator.engine.background import Background
from integrator.engine.paged_exports import PagedExports
from integrator.engine.runner import FlowRunner
from integrator.hooks.runner import ScriptHookRunner

if TYPE_CHECKING:
    from integrator.api.webhook_routes import Listeners
from integrator.store.accounts import Principal
from integrator.store.crypto import Cipher

T = TypeVar("T")


@dataclass
class AuthCache:
    """Token hash → principal for a few seconds, so a busy client costs one lookup per window.

    A revoked token stops working in this process at once (``forget``) and in other API
    processes within ``ttl`` seconds (``INTEGRATOR_AUTH_CACHE_SECONDS``; 0 turns caching off).
    Hooks' one-time tokens (a ``scope``) are never kept: they must stop working everywhere the
    moment their call returns.
    """

    ttl: float
    _entries: dict[str, tuple[Principal, float]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def get(self, token_hash: str) -> Principal | None:
        entry = self._entries.get(token_hash)
        if entry is None or entry[1] < time.monotonic():
            return None
        return entry[0]

    def put(self, token_hash: str, principal: Principal) -> None:
        if self.ttl <= 0 or principal.scope is not None:
            return
        with self._lock:
            if len(self._entries) > 10_000:
                self._entries.clear()
            self._entries[token_hash] = (principal, time.monotonic() + self.ttl)

    def forget_all(self) -> None:
        with self._lock:
            self._entries.clear()


@dataclass
class AppContext:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    cipher: Cipher
    limiter: RateLimiter
    auth_cache: AuthCache
    paged_exports: PagedExports
    #: Starts, advances and ends flow runs (``engine.runner``); tasks go through ``celery``.
    runner: FlowRunner
    celery: Celery
    #: The embedded worker and scheduler; started by ``integrator serve`` (and test fixtures).
    background: Background
    #: Runs scripts and stack functions (the runner's hooks; wrapper connections' calls).
    hooks: ScriptHookRunner
    #: Webhook listeners: their exports, and the flows deliveries start.
    listeners: Listeners

    @property
    def inline_reads(self) -> bool:
        """SQLite answers a read in microseconds, less than handing it to a worker thread
        costs; a networked database does not, so its reads go to the thread pool."""
        return self.engine.dialect.name == "sqlite"

    async def read(self, work: Callable[[Connection], T]) -> T:
        """Run ``work`` with a read connection, on the event loop or in a worker thread."""
        if self.inline_reads:
            with self.reading() as connection:
                return work(connection)
        return await run_in_threadpool(self._read_in_thread, work)

    def _read_in_thread(self, work: Callable[[Connection], T]) -> T:
        with self.reading() as connection:
            return work(connection)

    @contextmanager
    def reading(self) -> Iterator[Connection]:
        """A pooled connection for reads: no ORM session, no transaction bookkeeping."""
        with self.engine.connect() as connection:
            yield connection

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """One database transaction: committed when the block ends, rolled back on any error."""
        with self.sessions() as session, session.begin():
            yield session
