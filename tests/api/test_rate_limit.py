"""The seed's rate limit: a token bucket per account of 100, refilled 30 tokens a second."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from integrator.api.app import build_context, create_app
from integrator.api.context import AppContext
from integrator.api.ratelimit import MemoryRateLimiter, RedisRateLimiter, retry_after_seconds
from integrator.store import accounts

from conftest import make_settings, require_redis

REDIS_URL = "redis://127.0.0.1:6379/0"


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def seeded_context(home: Path, **overrides: object) -> AppContext:
    """A context with the seed's bucket (100, 30/s) unless overridden."""
    values: dict[str, object] = {"rate_limit_bucket": 100, "rate_limit_per_second": 30.0}
    values.update(overrides)
    settings = make_settings(home, **values)
    return build_context(settings)


def add_account(context: AppContext) -> str:
    with context.transaction() as session:
        _, token = accounts.create_account(session, f"a-{uuid.uuid4().hex[:8]}")
    return token


def get(client: TestClient, token: str) -> int:
    return client.get("/v1/tokenInfo", headers={"Authorization": f"Bearer {token}"}).status_code


def test_defaults_are_the_seeds_numbers() -> None:
    from integrator.config import Settings

    settings = Settings()
    assert (settings.rate_limit_bucket, settings.rate_limit_per_second) == (100, 30.0)


def test_burst_of_100_passes_the_101st_is_429_and_refill_is_30_per_second(tmp_path: Path) -> None:
    context = seeded_context(tmp_path)
    clock = FakeClock()
    context.limiter = MemoryRateLimiter(100, 30.0, clock=clock)
    client = TestClient(create_app(context))
    token = add_account(context)

    assert [get(client, token) for _ in range(100)] == [200] * 100
    refused = client.get("/v1/tokenInfo", headers={"Authorization": f"Bearer {token}"})
    assert refused.status_code == 429
    assert refused.headers["retry-after"] == "1"
    assert refused.json() == {
        "errors": [{"code": "rate_limited", "message": "Too many requests. Retry after 1 seconds."}]
    }
    clock.now += 1.0  # one second refills 30 tokens
    assert [get(client, token) for _ in range(31)] == [200] * 30 + [429]
    clock.now += 0.1  # 3 tokens
    assert [get(client, token) for _ in range(4)] == [200] * 3 + [429]
    clock.now += 3600  # never more than the bucket
    assert [get(client, token) for _ in range(101)] == [200] * 100 + [429]


def test_each_account_has_its_own_bucket(tmp_path: Path) -> None:
    context = seeded_context(tmp_path)
    context.limiter = MemoryRateLimiter(100, 30.0, clock=FakeClock())
    client = TestClient(create_app(context))
    first, second = add_account(context), add_account(context)
    assert [get(client, first) for _ in range(101)][-1] == 429
    assert get(client, second) == 200


def test_refill_at_30_per_second_in_real_time(tmp_path: Path) -> None:
    # The real clock, measured around the requests: a slow machine only changes the elapsed
    # time, not whether tokens and time agree.
    context = seeded_context(tmp_path)
    client = TestClient(create_app(context))
    token = add_account(context)
    while get(client, token) != 429:
        pass
    emptied = time.monotonic()
    time.sleep(0.5)
    granted = 0
    while get(client, token) == 200:
        granted += 1
    elapsed = time.monotonic() - emptied
    assert granted >= 10
    assert abs(granted - 30 * elapsed) <= 2, (granted, elapsed)


def test_retry_after_is_whole_seconds_and_never_zero() -> None:
    assert retry_after_seconds(0.01) == 1
    assert retry_after_seconds(1.0) == 1
    assert retry_after_seconds(1.2) == 2


@pytest.fixture
def redis_url() -> str:
    return require_redis(REDIS_URL)


def test_redis_bucket_is_shared_by_several_api_processes(tmp_path: Path, redis_url: str) -> None:
    # Two apps (as two API processes would be) on one database and one Redis. A slow refill
    # keeps the count exact whatever the machine's speed.
    contexts = [
        seeded_context(tmp_path, redis_url=redis_url, rate_limit_per_second=0.01) for _ in (1, 2)
    ]
    prefix = f"test:{uuid.uuid4().hex}:"
    for context in contexts:
        assert isinstance(context.limiter, RedisRateLimiter)
        context.limiter.prefix = prefix
    token = add_account(contexts[0])
    one, two = (TestClient(create_app(context)) for context in contexts)
    assert [get(one if i % 2 else two, token) for i in range(100)] == [200] * 100
    refused = two.get("/v1/tokenInfo", headers={"Authorization": f"Bearer {token}"})
    assert refused.status_code == 429
    assert int(refused.headers["retry-after"]) >= 1
    assert get(one, token) == 429


def test_unreachable_redis_falls_back_to_a_per_process_bucket(tmp_path: Path) -> None:
    context = seeded_context(
        tmp_path, redis_url="redis://127.0.0.1:1/0", rate_limit_per_second=0.01
    )
    client = TestClient(create_app(context))
    token = add_account(context)
    results = [get(client, token) for _ in range(101)]
    assert results[:100] == [200] * 100
    assert results[100] == 429
