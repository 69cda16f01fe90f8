"""A connection's concurrencyLevel shared through Redis holds across processes (here: several
independent limiters, as separate processes would each have), and slots of a dead process
come back when they expire."""

from __future__ import annotations

import threading
import time

import pytest

from integrator.adaptors.http import concurrency
from integrator.adaptors.http.concurrency import ConcurrencyLimits
from integrator.ids import new_object_id

from conftest import require_redis

REDIS_URL = "redis://127.0.0.1:6379/3"


@pytest.fixture
def redis_url() -> str:
    return require_redis(REDIS_URL)


def limiter(url: str | None, key: str, level: int) -> ConcurrencyLimits:
    limits = ConcurrencyLimits()
    limits.share_through(url)
    limits.configure(key, level)
    return limits


def test_the_level_holds_across_limiters_sharing_a_redis(redis_url: str) -> None:
    key = new_object_id()
    processes = [limiter(redis_url, key, 2) for _ in range(3)]
    lock = threading.Lock()
    holding = 0
    peak = 0

    def work(limits: ConcurrencyLimits) -> None:
        nonlocal holding, peak
        for _ in range(5):
            with limits.slot(key):
                with lock:
                    holding += 1
                    peak = max(peak, holding)
                time.sleep(0.01)
                with lock:
                    holding -= 1

    threads = [threading.Thread(target=work, args=(p,)) for p in processes for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert peak == 2  # never more, and the two slots were really used at once


def test_slots_of_a_dead_process_come_back_when_they_expire(
    redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(concurrency, "SLOT_TTL_SECONDS", 1)
    key = new_object_id()
    dead = limiter(redis_url, key, 1)
    held = dead.slot(key)
    held.__enter__()  # taken and never given back: its process was killed
    alive = limiter(redis_url, key, 1)
    started = time.monotonic()
    with alive.slot(key):
        waited = time.monotonic() - started
    assert 0.5 < waited < 5


def test_without_redis_each_process_limits_on_its_own() -> None:
    key = new_object_id()
    limits = limiter("redis://127.0.0.1:1/0", key, 1)  # nothing listens there
    with limits.slot(key):
        pass  # falls back to the process's own semaphore instead of failing the request
