"""Shared fixtures: a real database per backend (SQLite file and PostgreSQL), a real app, and
a fresh account per test — accounts are isolated, so tests never see each other's resources."""

from __future__ import annotations

import json
import os
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
import redis
import uvicorn
from fastapi.testclient import TestClient

from integrator.api.app import build_context, create_app
from integrator.api.context import AppContext
from integrator.config import Settings
from integrator.store import accounts

PG_ADMIN_DSN = os.environ.get("INTEGRATOR_TEST_PG_DSN", "postgresql://root@127.0.0.1:5432/postgres")
IN_CI = os.environ.get("CI") == "true"
SHARED = Path(__file__).resolve().parents[2] / "shared"
TEST_SECRET_KEY = "test-secret-key-for-the-suite"


def service_unavailable(what: str, exc: Exception) -> None:
    """Skip a test that needs a service, or fail the run under CI, where services must run."""
    message = f"{what} is not reachable: {exc}"
    if IN_CI:
        pytest.fail(message)
    pytest.skip(message)


def require_redis(url: str) -> str:
    """``url`` once its Redis answers; skips the test (fails it under CI) when it does not."""
    try:
        redis.Redis.from_url(url, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        service_unavailable("Redis", exc)
    return url


@pytest.fixture(scope="session")
def seed_requests() -> dict[str, Any]:
    path = SHARED / "fixtures" / "seed-requests.json"
    if not path.exists():
        if IN_CI:
            pytest.fail(f"{path} is missing")
        pytest.skip(f"{path} is missing")
    data: dict[str, Any] = json.loads(path.read_text())
    return data


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this test session, dropped at the end."""
    name = f"integrator_test_{uuid.uuid4().hex[:12]}"
    try:
        with psycopg.connect(PG_ADMIN_DSN, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
    except psycopg.Error as exc:
        service_unavailable("PostgreSQL", exc)
    base = PG_ADMIN_DSN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://")
    yield f"{base}/{name}"
    with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def make_settings(home: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "home": home,
        "secret_key": TEST_SECRET_KEY,
        "rate_limit_bucket": 1_000_000,
        "rate_limit_per_second": 1_000_000.0,
    }
    values.update(overrides)
    return Settings(**values)


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def context(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> AppContext:
    """The app's storage on one backend; every API test runs once on each."""
    home = tmp_path_factory.mktemp(f"home-{request.param}")
    url = None
    if request.param == "postgresql":
        url = request.getfixturevalue("postgres_url")
    ctx = build_context(make_settings(home, database_url=url, scheduler_interval=0.25))
    # Flows run as they do under `integrator serve`: a Celery worker (SQLite transport under
    # this home) and the scheduler in threads of this process.
    ctx.background.start()
    request.addfinalizer(ctx.background.stop)
    return ctx


@pytest.fixture(scope="session")
def client(context: AppContext) -> TestClient:
    return TestClient(create_app(context), raise_server_exceptions=False)


class Api:
    """A client authenticated as one account, with the shortcuts tests need."""

    def __init__(self, client: TestClient, token: str, account_id: str) -> None:
        self.client = client
        self.token = token
        self.account_id = account_id
        self.headers = {"Authorization": f"Bearer {token}"}

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        headers = {**self.headers, **kwargs.pop("headers", {})}
        return self.client.request(method, path, headers=headers, **kwargs)

    def get(self, path: str, **kwargs: Any) -> Any:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, json: Any = None, **kwargs: Any) -> Any:
        return self.request("POST", path, json=json, **kwargs)

    def put(self, path: str, json: Any = None, **kwargs: Any) -> Any:
        return self.request("PUT", path, json=json, **kwargs)

    def patch(self, path: str, json: Any = None, **kwargs: Any) -> Any:
        return self.request("PATCH", path, json=json, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> Any:
        return self.request("DELETE", path, **kwargs)

    def create(self, type_: str, body: dict[str, Any]) -> dict[str, Any]:
        response = self.post(f"/v1/{type_}", json=body)
        assert response.status_code == 201, response.text
        created: dict[str, Any] = response.json()
        return created


def new_account(context: AppContext, client: TestClient, connector_id: str | None = None) -> Api:
    with context.transaction() as session:
        account, token = accounts.create_account(session, f"acct-{uuid.uuid4().hex[:10]}")
        if connector_id is not None:
            token = accounts.create_token(session, account, connector_id=connector_id)
    return Api(client, token, account.id)


@pytest.fixture
def api(context: AppContext, client: TestClient) -> Api:
    return new_account(context, client)


@pytest.fixture
def other_api(context: AppContext, client: TestClient) -> Api:
    return new_account(context, client)


def sample_bodies(api: Api) -> dict[str, dict[str, Any]]:
    """Create one valid resource of every type in ``api``'s account; return them by type."""
    made: dict[str, dict[str, Any]] = {}
    made["connections"] = api.create(
        "connections",
        {
            "name": "Shop API",
            "type": "rest",
            "rest": {
                "baseURI": "https://shop.example.com/api",
                "mediaType": "json",
                "bearerToken": "s3cret-bearer",
            },
        },
    )
    cid = made["connections"]["_id"]
    made["exports"] = api.create(
        "exports",
        {
            "name": "Customers",
            "_connectionId": cid,
            "rest": {"relativeURI": "/customers", "method": "GET", "resourcePath": "customers"},
        },
    )
    made["imports"] = api.create(
        "imports",
        {
            "name": "Post customers",
            "_connectionId": cid,
            "rest": {"relativeURI": "/customers", "method": "POST"},
        },
    )
    made["integrations"] = api.create("integrations", {"name": "Shop sync"})
    made["flows"] = api.create(
        "flows",
        {
            "name": "Customers to shop",
            "_integrationId": made["integrations"]["_id"],
            "pageGenerators": [{"_exportId": made["exports"]["_id"]}],
            "pageProcessors": [{"type": "import", "_importId": made["imports"]["_id"]}],
            "schedule": "? 0 2 ? * *",
            "timezone": "America/New_York",
        },
    )
    made["connectors"] = api.create("connectors", {"name": "Shop connector"})
    made["iclients"] = api.create(
        "iclients",
        {
            "name": "Shop app",
            "provider": "custom_oauth2",
            "oauth2": {"clientId": "client-1", "clientSecret": "client-secret-1"},
        },
    )
    made["scripts"] = api.create(
        "scripts", {"name": "Hooks", "content": "function preSavePage(o) { return o; }"}
    )
    made["stacks"] = api.create(
        "stacks",
        {
            "name": "Stack",
            "type": "server",
            "server": {"hostURI": "https://stack.example.com", "systemToken": "stack-token"},
        },
    )
    made["templates"] = api.create("templates", {"name": "Template"})
    return made


@pytest.fixture
def scheduler_paused(request: pytest.FixtureRequest) -> Iterator[None]:
    """Stop the session's real-time scheduler for one test (it would claim the test's rows)."""
    if "context" not in request.fixturenames:
        yield
        return
    context: AppContext = request.getfixturevalue("context")
    background = context.background
    background.scheduler.stop()
    yield
    if background.started:
        background.scheduler.start()


@pytest.fixture(scope="module")
def live_api(context: AppContext) -> Iterator[str]:
    """The platform's API on a loopback port (uvicorn in a thread of this process): hooks'
    API calls go there, and webhook deliveries come in there."""
    server = uvicorn.Server(
        uvicorn.Config(create_app(context), host="127.0.0.1", port=0, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "the API server did not start"
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    previous = context.hooks.api_url
    context.hooks.api_url = f"http://127.0.0.1:{port}"
    yield context.hooks.api_url
    context.hooks.api_url = previous
    server.should_exit = True
    thread.join(timeout=10)
