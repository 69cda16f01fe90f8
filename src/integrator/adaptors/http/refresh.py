"""OAuth 2.0 token refresh, single-flight across processes.

Inside one process ``OAuth2Auth`` already refreshes once for all its threads. Workers on
several machines each hold their own copy of a connection's tokens, and providers that rotate
refresh tokens answer ``invalid_grant`` to the second process that sends the old one. With
``REFRESHES.share_through(redis_url, stored_tokens)``:

1. a process that needs a new token takes the connection's lock in Redis (``SET NX PX`` with a
   random value, released by a compare-and-delete script; it expires if its holder dies);
2. it reads the tokens stored on the connection (``stored_tokens``: the database, where every
   refresh is written before the lock is released);
3. when they differ from the ones it holds, another process refreshed in the meantime: it
   adopts them and sends nothing; otherwise it asks the provider and stores the answer.

Without Redis (or while it is unreachable) each process refreshes on its own, as before.
"""

from __future__ import annotations

import contextlib
import logging
import secrets
import time
from collections.abc import Callable, Iterator

import redis

log = logging.getLogger("integrator.adaptors")

#: ``connection id -> (access token, refresh token)`` as stored now, or None.
StoredTokens = Callable[[str], tuple[str | None, str | None] | None]

#: A lock whose holder died is free again after this long.
LOCK_TTL_MS = 30_000
#: How long a process waits for another's refresh before refreshing itself.
LOCK_WAIT_SECONDS = 35.0

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


class RefreshCoordinator:
    """Where refreshes of one connection queue across processes (see the module docstring)."""

    def __init__(self) -> None:
        self._redis: redis.Redis | None = None
        self._release: object = None
        self.stored_tokens: StoredTokens | None = None
        self.prefix = "integrator:oauth-refresh:"

    @property
    def shared(self) -> bool:
        return self._redis is not None and self.stored_tokens is not None

    def share_through(self, url: str | None, stored_tokens: StoredTokens | None) -> None:
        """Coordinate through the Redis at ``url`` (None: each process on its own)."""
        if not url or stored_tokens is None:
            self._redis = None
            self.stored_tokens = None
            return
        self._redis = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
        self._release = self._redis.register_script(_RELEASE)
        self.stored_tokens = stored_tokens

    @contextlib.contextmanager
    def lock(self, connection_id: str) -> Iterator[bool]:
        """Hold the connection's refresh lock; yields False when Redis could not be used."""
        assert self._redis is not None
        key = self.prefix + connection_id
        value = secrets.token_hex(12)
        deadline = time.monotonic() + LOCK_WAIT_SECONDS
        pause = 0.005
        try:
            while not self._redis.set(key, value, nx=True, px=LOCK_TTL_MS):
                if time.monotonic() > deadline:
                    log.warning("OAuth refresh lock of %s not released; refreshing", connection_id)
                    break
                time.sleep(pause)
                pause = min(pause * 2, 0.1)
        except redis.RedisError as exc:
            log.warning("OAuth refresh: Redis unreachable (%s); refreshing alone", exc)
            yield False
            return
        try:
            yield True
        finally:
            with contextlib.suppress(redis.RedisError):  # it expires anyway
                self._release(keys=[key], args=[value])  # type: ignore[operator]


#: The process-wide coordinator ``OAuth2Auth`` uses.
REFRESHES = RefreshCoordinator()
