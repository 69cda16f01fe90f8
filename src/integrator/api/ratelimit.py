"""Per-account token bucket, as the seed states it: bucket of 100, refilled 30 tokens a second.

Each request takes one token. An empty bucket answers 429 with ``Retry-After`` in whole seconds.
In one process the bucket lives in memory; with ``INTEGRATOR_REDIS_URL`` it lives in Redis, so
every API process shares it (one atomic Lua script per request, clocked by the Redis server).
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from typing import Protocol

import redis

log = logging.getLogger("integrator.ratelimit")


class RateLimiter(Protocol):
    #: True when ``take`` does network I/O (the API then calls it from a worker thread).
    blocking: bool

    def take(self, key: str) -> float:
        """Take one token for ``key``; return 0 when granted, else the seconds until one is."""
        ...


def retry_after_seconds(wait: float) -> int:
    """``Retry-After`` is whole seconds, never 0 for a refused request."""
    return max(1, math.ceil(wait))


class MemoryRateLimiter:
    """Token buckets in this process's memory."""

    blocking = False

    def __init__(
        self, capacity: int, per_second: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.capacity = float(capacity)
        self.per_second = per_second
        self.clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, key: str) -> float:
        with self._lock:
            now = self.clock()
            tokens, last = self._buckets.get(key, (self.capacity, now))
            tokens = min(self.capacity, tokens + max(0.0, now - last) * self.per_second)
            if tokens >= 1:
                self._buckets[key] = (tokens - 1, now)
                return 0.0
            self._buckets[key] = (tokens, now)
            return (1 - tokens) / self.per_second


_TAKE = """
local capacity = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(state[1]) or capacity
local ts = tonumber(state[2]) or now
tokens = math.min(capacity, tokens + math.max(0, now - ts) * rate)
local wait = 0
if tokens >= 1 then tokens = tokens - 1 else wait = (1 - tokens) / rate end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(capacity / rate * 1000) + 1000)
return tostring(wait)
"""


class RedisRateLimiter:
    """Token buckets in Redis, shared by every API process that points at the same server."""

    blocking = True

    def __init__(
        self, url: str, capacity: int, per_second: float, prefix: str = "integrator:ratelimit:"
    ) -> None:
        self.client = redis.Redis.from_url(url, socket_timeout=1, socket_connect_timeout=1)
        self.capacity = capacity
        self.per_second = per_second
        self.prefix = prefix
        self._script = self.client.register_script(_TAKE)
        # While Redis is unreachable each process keeps limiting on its own, rather than
        # refusing every request or letting every request through.
        self._fallback = MemoryRateLimiter(capacity, per_second)
        self._warned_at = 0.0

    def take(self, key: str) -> float:
        try:
            result = self._script(keys=[self.prefix + key], args=[self.capacity, self.per_second])
        except redis.RedisError as exc:
            now = time.monotonic()
            if now - self._warned_at > 60:
                self._warned_at = now
                log.warning("rate limiter: Redis unreachable (%s); limiting per process", exc)
            return self._fallback.take(key)
        return float(result.decode() if isinstance(result, bytes) else result)
