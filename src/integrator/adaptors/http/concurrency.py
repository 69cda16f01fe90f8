"""``concurrencyLevel``: how many requests one connection may have in flight.

Process-wide by default (semaphores). ``share_through(redis_url)`` makes the limit hold across
every process that points at the same Redis (API and workers on any machine): a slot is a member
of a sorted set per connection, scored by its expiry on the Redis clock, taken and counted by one
atomic Lua script, so a process that dies holding slots frees them when they expire
(``SLOT_TTL_SECONDS``). While Redis is unreachable each process limits on its own.
"""

from __future__ import annotations

import contextlib
import logging
import secrets
import threading
import time
from collections.abc import Iterator

import redis

log = logging.getLogger("integrator.adaptors")

#: A slot held longer than this (a dead process) is given back: twice the clients' default
#: request timeout, since a slot is held only while a request is on the wire.
SLOT_TTL_SECONDS = 120
#: Longest pause between two attempts to take a shared slot.
MAX_POLL_SECONDS = 0.05

_TAKE_SLOT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local ttl = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[1]) then
  redis.call('ZADD', KEYS[1], now + ttl, ARGV[3])
  redis.call('EXPIRE', KEYS[1], math.ceil(ttl) + 60)
  return 1
end
return 0
"""

__all__ = ["CONCURRENCY", "ConcurrencyLimits"]


class ConcurrencyLimits:
    """Semaphores capping simultaneous requests per connection, shared by all clients.

    A connection's key is its ``_id``, or the ``_borrowConcurrencyFromConnectionId`` it borrows
    from. The lender's ``concurrencyLevel`` wins once its client has been built (``configure``);
    until then a borrower uses its own level. No level means unlimited ("burst" mode).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._levels: dict[str, int | None] = {}
        self._semaphores: dict[str, tuple[int, threading.BoundedSemaphore]] = {}
        self._redis: redis.Redis | None = None
        self._take: object = None
        self._warned_at = 0.0

    def share_through(self, url: str | None, prefix: str = "integrator:concurrency:") -> None:
        """Enforce levels across processes through the Redis at ``url`` (None: per process)."""
        if not url:
            self._redis = None
            return
        self._prefix = prefix
        self._redis = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
        self._take = self._redis.register_script(_TAKE_SLOT)

    def configure(self, key: str, level: int | None) -> None:
        """Record the level of the connection ``key`` (its own client calls this)."""
        with self._lock:
            self._levels[key] = level

    def level(self, key: str, fallback: int | None = None) -> int | None:
        with self._lock:
            return self._levels.get(key, fallback)

    @contextlib.contextmanager
    def slot(self, key: str, fallback: int | None = None) -> Iterator[None]:
        """Hold one of ``key``'s request slots for the duration of the block."""
        level = self.level(key, fallback)
        if level is None or level < 1:
            yield
            return
        if self._redis is not None:
            token = secrets.token_hex(8)
            if self._take_shared(key, level, token):
                try:
                    yield
                finally:
                    self._give_back(key, token)
                return
        with self._lock:
            current = self._semaphores.get(key)
            if current is None or current[0] != level:
                # A changed level starts a new semaphore; requests in flight release the old one.
                current = (level, threading.BoundedSemaphore(level))
                self._semaphores[key] = current
            semaphore = current[1]
        with semaphore:
            yield

    def _take_shared(self, key: str, level: int, token: str) -> bool:
        """Wait for a slot in Redis; False when Redis is unreachable (limit locally then)."""
        pause = 0.002
        while True:
            try:
                taken = self._take(  # type: ignore[operator]
                    keys=[self._prefix + key], args=[level, SLOT_TTL_SECONDS, token]
                )
            except redis.RedisError as exc:
                now = time.monotonic()
                if now - self._warned_at > 60:
                    self._warned_at = now
                    log.warning("concurrency: Redis unreachable (%s); limiting per process", exc)
                return False
            if int(taken) == 1:
                return True
            time.sleep(pause)
            pause = min(pause * 2, MAX_POLL_SECONDS)

    def _give_back(self, key: str, token: str) -> None:
        assert self._redis is not None
        with contextlib.suppress(redis.RedisError):  # it expires anyway
            self._redis.zrem(self._prefix + key, token)


#: The process-wide registry used when a client is not given one.
CONCURRENCY = ConcurrencyLimits()
