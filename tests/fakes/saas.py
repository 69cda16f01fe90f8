"""A fake SaaS HTTP application for testing the HTTP adaptor and for benchmarks.

    with FakeSaas.running(records=250, page_size=100, seed=7) as fake:
        fake.fail_rate_429 = 0.1          # knobs can change while it runs
        get(f"{fake.base_url}/stripe/items?limit=100")
        assert fake.requests[0].status in (200, 429)

It serves the same `records` through many paging styles (see `paging.py` and README.md), plus
OAuth, stateful CRUD endpoints for imports (`api.py`), injected 429/500 failures and delays.
Fixtures: `from fakes.saas import fake_saas` in a conftest (tests/ is on sys.path)."""

from __future__ import annotations

import random
import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import pytest

from . import api, paging
from .server import (
    HttpError,
    LoggedRequest,
    Request,
    RequestLog,
    Response,
    ServerThread,
    dumps,
    json_response,
)

Route = Callable[..., Response]

FIRST_UPDATED_AT = datetime(2024, 1, 1, tzinfo=UTC)
UPDATED_AT_STEP = timedelta(minutes=10)

EXACT_ROUTES: dict[tuple[str, str], Route] = {
    ("GET", "/ping"): api.ping,
    ("GET", "/ping-fail"): api.ping_fail,
    ("POST", "/oauth/token"): api.oauth_token,
    ("GET", "/api/customers"): api.list_customers,
    ("POST", "/api/customers"): api.create_customer,
    ("POST", "/api/customers/batch"): api.batch_customers,
    ("GET", "/api/items"): api.list_items,
    **{("GET", path): route for path, route in paging.GET_ROUTES.items()},
    ("POST", "/graphql"): paging.graphql,
}
PATTERN_ROUTES: list[tuple[str, re.Pattern[str], Route]] = [
    ("GET", re.compile(r"/api/customers/(?P<customer_id>\d+)"), api.get_customer),
    ("PUT", re.compile(r"/api/customers/(?P<customer_id>\d+)"), api.update_customer),
    ("PUT", re.compile(r"/api/items/(?P<item_id>[^/]+)/exported"), api.mark_exported),
    (
        "GET",
        re.compile(r"/salesforce/query/(?P<locator>[^/]+)-(?P<offset>\d+)"),
        paging.salesforce_more,
    ),
]
# Paths that authenticate themselves (the token endpoint checks client credentials).
UNAUTHENTICATED = {"/oauth/token"}


def make_records(count: int) -> list[dict[str, Any]]:
    """Records with ids 1..count and `updated_at` ten minutes apart, oldest first."""
    return [
        {
            "id": i,
            "name": f"Customer {i}",
            "email": f"customer{i}@example.com",
            "updated_at": (FIRST_UPDATED_AT + i * UPDATED_AT_STEP).strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        for i in range(1, count + 1)
    ]


class FakeSaas:
    """The fake app's data, knobs and state; `running()` serves it on a random loopback port."""

    def __init__(
        self,
        records: int | list[dict[str, Any]] = 0,
        *,
        page_size: int = 100,
        max_page_size: int = 1000,
        seed: int = 0,
        fail_rate_429: float = 0.0,
        fail_rate_500: float = 0.0,
        delay_seconds: float = 0.0,
        retry_after: float | str = 0,
        retry_after_header: str = "Retry-After",
        require_token: bool = False,
        basic_auth: tuple[str, str] | None = None,
        token_ttl_seconds: float = 3600.0,
        log_requests: bool = True,
    ) -> None:
        self._records: list[dict[str, Any]] = []
        self.records = make_records(records) if isinstance(records, int) else records
        self.page_size = page_size
        self.max_page_size = max_page_size
        # Knobs: plain attributes, read on every request, so tests may change them at runtime.
        self.fail_rate_429 = fail_rate_429
        self.fail_rate_500 = fail_rate_500
        self.delay_seconds = delay_seconds
        self.retry_after = retry_after
        self.retry_after_header = retry_after_header
        self.require_token = require_token
        self.basic_auth = basic_auth
        self.token_ttl_seconds = token_ttl_seconds
        self.log_requests = log_requests
        self.static_tokens: set[str] = {"test-token"}
        self.clients: dict[str, str] = {"client-id": "client-secret"}
        self.requests = RequestLog()
        self.errors: list[str] = []  # tracebacks of crashes inside the fake (should stay empty)
        self.rng = random.Random(seed)
        self.lock = threading.Lock()  # guards rng and the mutable state below
        self.forced_failures: list[int] = []
        self.access_tokens: dict[str, float] = {}  # token -> expiry (time.monotonic())
        self.refresh_tokens: dict[str, str] = {}  # token -> client_id; deleted once used
        self.customers: dict[int, dict[str, Any]] = {}
        self.customer_emails: dict[str, int] = {}  # email -> customer id (uniqueness in O(1))
        #: Customers whose ``external_id`` is in here are refused with 422 (a picky target).
        self.reject_external_ids: set[Any] = set()
        self.next_customer_id = 1
        self.exported: set[int] = set()
        #: Requests being handled right now, and the most there ever were at once.
        self.in_flight = 0
        self.max_in_flight = 0
        self._flight_lock = threading.Lock()
        self.query_locators: dict[str, int] = {}  # Salesforce locator -> batch size
        self._server: ServerThread | None = None

    # -- running ---------------------------------------------------------------------------

    @classmethod
    @contextmanager
    def running(cls, records: int | list[dict[str, Any]] = 0, **knobs: Any) -> Iterator[FakeSaas]:
        """Start the fake on 127.0.0.1:<random port>; stop it when the block exits."""
        fake = cls(records, **knobs)
        fake.start()
        try:
            yield fake
        finally:
            fake.stop()

    def start(self) -> None:
        self._server = ServerThread(self.handle, self.errors)

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError("the fake is not running; use FakeSaas.running()")
        return f"http://127.0.0.1:{self._server.port}"

    # -- data ------------------------------------------------------------------------------

    @property
    def records(self) -> list[dict[str, Any]]:
        """The source data. Assign a new list to change it (that drops the page cache)."""
        return self._records

    @records.setter
    def records(self, records: list[dict[str, Any]]) -> None:
        self._records = records
        self._positions: dict[str, int] = {str(r["id"]): i for i, r in enumerate(records)}
        self._views: dict[tuple[str | None, str | None], list[dict[str, Any]]] = {}
        self._pages: dict[tuple[str | None, str | None, int, int], bytes] = {}

    def view(self, since: str | None = None, before: str | None = None) -> list[dict[str, Any]]:
        """Records with since <= updated_at < before (ISO strings compare in time order)."""
        if since is None and before is None:
            return self._records
        key = (since, before)
        if key not in self._views:
            self._views[key] = [
                r
                for r in self._records
                if (since is None or r["updated_at"] >= since)
                and (before is None or r["updated_at"] < before)
            ]
        return self._views[key]

    def page_bytes(
        self, start: int, size: int, since: str | None = None, before: str | None = None
    ) -> bytes:
        """The JSON array of view[start:start+size], serialised once and cached."""
        key = (since, before, start, size)
        cached = self._pages.get(key)
        if cached is None:
            cached = self._pages[key] = dumps(self.view(since, before)[start : start + size])
        return cached

    def position_of(self, record_id: str) -> int | None:
        return self._positions.get(record_id)

    def url(self, path: str, query: dict[str, Any]) -> str:
        """Absolute URL on this fake; query values of None are dropped."""
        params = {k: v for k, v in query.items() if v is not None}
        return f"{self.base_url}{path}" + (f"?{urlencode(params)}" if params else "")

    # -- test helpers ----------------------------------------------------------------------

    def fail_next(self, status: int, count: int = 1) -> None:
        """Answer the next `count` requests with `status` (429 carries the Retry-After knob)."""
        with self.lock:
            self.forced_failures.extend([status] * count)

    def expire_tokens(self) -> None:
        """Expire every access token issued so far (refresh tokens stay valid)."""
        with self.lock:
            for token in self.access_tokens:
                self.access_tokens[token] = 0.0

    # -- request handling ------------------------------------------------------------------

    def handle(self, request: Request) -> Response:
        with self._flight_lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            response = self._answer(request)
        except HttpError as error:
            response = error.response
        finally:
            # Before the response is written: a client can't see its answer before this drops.
            with self._flight_lock:
                self.in_flight -= 1
        if self.log_requests:
            self.requests.append(
                LoggedRequest(
                    request.method,
                    request.path,
                    request.query,
                    request.headers,
                    request.body,
                    response.status,
                )
            )
        return response

    def _answer(self, request: Request) -> Response:
        if self.delay_seconds:
            time.sleep(self.delay_seconds)
        failure = self._injected_failure()
        if failure is not None:
            return failure
        if request.path not in UNAUTHENTICATED:
            api.authenticate(self, request)
        route = EXACT_ROUTES.get((request.method, request.path))
        if route is not None:
            return route(self, request)
        path_matched = False
        for method, pattern, pattern_route in PATTERN_ROUTES:
            match = pattern.fullmatch(request.path)
            if match:
                if method == request.method:
                    return pattern_route(self, request, **match.groupdict())
                path_matched = True
        if path_matched or any(path == request.path for _, path in EXACT_ROUTES):
            return json_response(405, {"error": "method not allowed"})
        return json_response(404, {"error": "not found"})

    def _injected_failure(self) -> Response | None:
        with self.lock:
            # One draw per request keeps the sequence reproducible for a given seed.
            draw = self.rng.random()
            status = self.forced_failures.pop(0) if self.forced_failures else None
        if status is None:
            if draw < self.fail_rate_429:
                status = 429
            elif draw < self.fail_rate_429 + self.fail_rate_500:
                status = 500
        if status == 429:
            headers = {self.retry_after_header: str(self.retry_after)}
            return json_response(429, {"error": "rate limit exceeded"}, headers)
        if status is not None:
            return json_response(status, {"error": "injected failure"})
        return None


@pytest.fixture
def fake_saas() -> Iterator[FakeSaas]:
    """A running fake with 250 records served 100 per page, seed 0."""
    with FakeSaas.running(records=250, page_size=100, seed=0) as fake:
        yield fake
