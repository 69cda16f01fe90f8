"""``concurrencyLevel``: how many requests one connection may have in flight, process-wide."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

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
        with self._lock:
            current = self._semaphores.get(key)
            if current is None or current[0] != level:
                # A changed level starts a new semaphore; requests in flight release the old one.
                current = (level, threading.BoundedSemaphore(level))
                self._semaphores[key] = current
            semaphore = current[1]
        with semaphore:
            yield


#: The process-wide registry used when a client is not given one.
CONCURRENCY = ConcurrencyLimits()
