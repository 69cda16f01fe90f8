"""The HTTP connection client: URLs, headers, auth styles, retries, concurrency, debug log, ping.

Each test builds a connection document as a user would save it (secrets in clear, as the engine
hands them over after unsealing) and answers requests with an ``httpx2.MockTransport`` handler.
"""

from __future__ import annotations

import base64
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from functools import partial
from typing import Any
from urllib.parse import parse_qs

import httpx2
import pytest
import stamina

from integrator.adaptors.http.client import (
    AuthFailed,
    ConcurrencyLimits,
    ConnectionClient,
    DebugLog,
    PingFailed,
    RequestFailed,
)

Handler = Callable[[httpx2.Request], httpx2.Response]


@pytest.fixture(autouse=True)
def no_backoff() -> Iterator[None]:
    """Backoff waits are skipped; the client's own ``max_attempts`` still applies."""
    with stamina.set_testing(True, attempts=100, cap=True):
        yield


def http_connection(**http: Any) -> dict[str, Any]:
    block = {"baseURI": "https://api.example.com/v1", "mediaType": "json", **http}
    return {"_id": f"conn-{id(block)}", "type": "http", "http": block}


def rest_connection(**rest: Any) -> dict[str, Any]:
    block = {"baseURI": "https://legacy.example.com/api", "mediaType": "json", **rest}
    return {"_id": f"conn-{id(block)}", "type": "rest", "rest": block}


def client_for(
    connection: dict[str, Any], handler: Handler, **kwargs: Any
) -> tuple[ConnectionClient, list[float]]:
    sleeps: list[float] = []
    kwargs.setdefault("limits", ConcurrencyLimits())
    client = ConnectionClient(
        connection, transport=httpx2.MockTransport(handler), sleep=sleeps.append, **kwargs
    )
    return client, sleeps


def ok(request: httpx2.Request) -> httpx2.Response:
    return httpx2.Response(200, json={"url": str(request.url)})


class Recorder:
    """A handler that answers from a script and remembers every request."""

    def __init__(self, *responses: httpx2.Response | Exception) -> None:
        self.script = list(responses)
        self.requests: list[httpx2.Request] = []

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        self.requests.append(request)
        answer = self.script.pop(0) if self.script else httpx2.Response(200, json={"ok": True})
        if isinstance(answer, Exception):
            raise answer
        return answer


# -- URLs and headers ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("base", "relative", "expected"),
    [
        ("https://api.example.com/v1", "/customers", "https://api.example.com/v1/customers"),
        ("https://api.example.com/v1", "customers", "https://api.example.com/v1/customers"),
        ("https://api.example.com/v1/", "/customers", "https://api.example.com/v1/customers"),
        ("https://api.example.com/v1", "?page=2", "https://api.example.com/v1?page=2"),
        ("https://api.example.com/v1", "", "https://api.example.com/v1"),
        (
            "https://api.example.com/v1",
            "https://cdn.example.com/next?c=9",
            "https://cdn.example.com/next?c=9",
        ),
    ],
)
def test_relative_uris_join_the_base_uri_and_absolute_urls_are_used_as_is(
    base: str, relative: str, expected: str
) -> None:
    recorder = Recorder()
    client, _ = client_for(http_connection(baseURI=base), recorder)
    client.request("GET", relative)
    assert str(recorder.requests[0].url) == expected


def test_query_params_are_added_to_a_query_already_in_the_uri() -> None:
    recorder = Recorder()
    client, _ = client_for(http_connection(), recorder)
    client.request("GET", "/items?status=open", params={"page": 2})
    assert str(recorder.requests[0].url) == "https://api.example.com/v1/items?status=open&page=2"


def test_raw_content_is_sent_with_the_connection_media_type() -> None:
    recorder = Recorder()
    client, _ = client_for(http_connection(mediaType="xml"), recorder)
    client.request("POST", "/orders", content=b"<order/>")
    sent = recorder.requests[0]
    assert sent.headers["Content-Type"] == "application/xml"
    assert sent.content == b"<order/>"


def test_connection_headers_are_rendered_from_handlebars_and_media_type_sets_content_type() -> None:
    recorder = Recorder()
    connection = http_connection(
        headers=[
            {"name": "X-Api-Key", "value": "{{{connection.http.encrypted.apiKey}}}"},
            {"name": "X-Tenant", "value": "acme"},
        ],
        encrypted={"apiKey": "k&y/123"},
    )
    client, _ = client_for(connection, recorder)
    client.request("POST", "/items", json={"a": 1}, headers={"X-Tenant": "override"})
    sent = recorder.requests[0]
    assert sent.headers["X-Api-Key"] == "k&y/123"
    assert sent.headers["X-Tenant"] == "override"
    assert sent.headers["Content-Type"] == "application/json"
    assert sent.headers["Accept"] == "application/json"


def test_other_client_errors_are_returned_to_the_caller_without_retrying() -> None:
    recorder = Recorder(httpx2.Response(404, json={"message": "nope"}))
    client, sleeps = client_for(http_connection(), recorder)
    response = client.request("GET", "/missing")
    assert response.status_code == 404
    assert len(recorder.requests) == 1
    assert sleeps == []


# -- auth styles --------------------------------------------------------------------------------


def test_legacy_bearer_token_goes_in_the_authorization_header() -> None:
    recorder = Recorder()
    client, _ = client_for(rest_connection(bearerToken="tok-123"), recorder)
    client.request("GET", "/me")
    assert recorder.requests[0].headers["Authorization"] == "Bearer tok-123"


def test_legacy_token_in_url_uses_token_param() -> None:
    recorder = Recorder()
    connection = rest_connection(bearerToken="tok-123", tokenLocation="url", tokenParam="api_key")
    client, _ = client_for(connection, recorder)
    client.request("GET", "/me?fields=id")
    sent = recorder.requests[0]
    assert parse_qs(sent.url.query.decode()) == {"fields": ["id"], "api_key": ["tok-123"]}
    assert "Authorization" not in sent.headers


def test_legacy_auth_header_and_scheme_override_the_defaults() -> None:
    recorder = Recorder()
    connection = rest_connection(bearerToken="tok-123", authHeader="X-Auth", authScheme="Token")
    client, _ = client_for(connection, recorder)
    client.request("GET", "/me")
    assert recorder.requests[0].headers["X-Auth"] == "Token tok-123"


def test_legacy_basic_auth_sends_username_and_password() -> None:
    recorder = Recorder()
    connection = rest_connection(authType="basic", basicAuth={"username": "ann", "password": "pw!"})
    client, _ = client_for(connection, recorder)
    client.request("GET", "/me")
    expected = "Basic " + base64.b64encode(b"ann:pw!").decode()
    assert recorder.requests[0].headers["Authorization"] == expected


def test_modern_basic_auth_sends_username_and_password() -> None:
    recorder = Recorder()
    auth = {"type": "basic", "basic": {"username": "bob", "password": "s3cret"}}
    client, _ = client_for(http_connection(auth=auth), recorder)
    client.request("GET", "/me")
    expected = "Basic " + base64.b64encode(b"bob:s3cret").decode()
    assert recorder.requests[0].headers["Authorization"] == expected


def test_modern_token_in_a_custom_header_without_scheme() -> None:
    recorder = Recorder()
    token = {"token": "abc-999", "location": "header", "headerName": "X-Api-Key", "scheme": ""}
    client, _ = client_for(http_connection(auth={"type": "token", "token": token}), recorder)
    client.request("GET", "/me")
    assert recorder.requests[0].headers["X-Api-Key"] == "abc-999"
    assert "Authorization" not in recorder.requests[0].headers


def test_modern_token_in_the_url_uses_param_name() -> None:
    recorder = Recorder()
    token = {"token": "abc-999", "location": "url", "paramName": "key"}
    client, _ = client_for(http_connection(auth={"type": "token", "token": token}), recorder)
    client.request("GET", "/me")
    assert recorder.requests[0].url.params["key"] == "abc-999"


def test_modern_token_defaults_to_a_bearer_authorization_header() -> None:
    recorder = Recorder()
    auth = {"type": "token", "token": {"token": "abc-999"}}
    client, _ = client_for(http_connection(auth=auth), recorder)
    client.request("GET", "/me")
    assert recorder.requests[0].headers["Authorization"] == "Bearer abc-999"


def test_custom_auth_sends_only_the_connection_headers() -> None:
    recorder = Recorder()
    connection = http_connection(
        auth={"type": "custom"}, headers=[{"name": "X-Key", "value": "plain-key"}]
    )
    client, _ = client_for(connection, recorder)
    client.request("GET", "/me")
    assert recorder.requests[0].headers["X-Key"] == "plain-key"
    assert "Authorization" not in recorder.requests[0].headers


def test_a_rejected_static_token_raises_auth_failed_so_the_connection_can_go_offline() -> None:
    recorder = Recorder(httpx2.Response(401, json={"error": "invalid token"}))
    client, _ = client_for(rest_connection(bearerToken="expired"), recorder)
    with pytest.raises(AuthFailed) as caught:
        client.request("GET", "/me")
    assert caught.value.status == 401
    assert len(recorder.requests) == 1


def test_auth_fail_path_in_a_200_body_counts_as_an_auth_failure() -> None:
    recorder = Recorder(httpx2.Response(200, json={"status": "SESSION_EXPIRED"}))
    auth = {
        "type": "token",
        "token": {"token": "abc"},
        "failPath": "status",
        "failValues": ["SESSION_EXPIRED"],
    }
    client, _ = client_for(http_connection(auth=auth), recorder)
    with pytest.raises(AuthFailed):
        client.request("GET", "/me")


# -- OAuth 2.0 ----------------------------------------------------------------------------------


class FakeOAuthServer:
    """Issues tokens at /token; each refresh token works once; the API needs a live token."""

    def __init__(self, expires_in: int | None = 3600) -> None:
        self.lock = threading.Lock()
        self.token_requests: list[dict[str, list[str]]] = []
        self.valid_tokens: set[str] = set()
        self.valid_refresh = {"refresh-0"}
        self.expires_in = expires_in
        self.api_calls = 0

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        if request.url.path == "/token":
            form = parse_qs(request.content.decode())
            with self.lock:
                self.token_requests.append(form)
                number = len(self.token_requests)
                if form["grant_type"] == ["refresh_token"]:
                    if form["refresh_token"][0] not in self.valid_refresh:
                        return httpx2.Response(400, json={"error": "invalid_grant"})
                    self.valid_refresh.discard(form["refresh_token"][0])
                elif form.get("client_secret") != ["shh"]:
                    return httpx2.Response(401, json={"error": "invalid_client"})
                self.valid_tokens = {f"access-{number}"}
                self.valid_refresh.add(f"refresh-{number}")
            body: dict[str, Any] = {
                "access_token": f"access-{number}",
                "refresh_token": f"refresh-{number}",
                "token_type": "bearer",
            }
            if self.expires_in is not None:
                body["expires_in"] = self.expires_in
            time.sleep(0.05)  # a slow token endpoint widens the race window
            return httpx2.Response(200, json=body)
        token = request.headers.get("Authorization", "").removeprefix("Bearer ")
        with self.lock:
            self.api_calls += 1
            live = token in self.valid_tokens
        if not live:
            return httpx2.Response(401, json={"error": "expired"})
        return httpx2.Response(200, json={"token": token})


def oauth_connection(**oauth: Any) -> dict[str, Any]:
    settings = {"tokenURI": "https://auth.example.com/token", **oauth}
    token = settings.pop("token", {})
    return http_connection(auth={"type": "oauth", "oauth": settings, "token": token})


def test_oauth_client_credentials_fetches_a_token_then_reuses_it_until_it_expires() -> None:
    server = FakeOAuthServer(expires_in=3600)
    now = [1000.0]
    connection = oauth_connection(
        grantType="clientcredentials", clientId="app", clientSecret="shh", scope=["read", "write"]
    )
    client, _ = client_for(connection, server, clock=lambda: now[0])
    assert client.request("GET", "/me").json() == {"token": "access-1"}
    assert client.request("GET", "/me").json() == {"token": "access-1"}
    first = server.token_requests[0]
    assert first["grant_type"] == ["client_credentials"]
    assert first["client_id"] == ["app"]
    assert first["scope"] == ["read write"]
    assert len(server.token_requests) == 1

    now[0] += 3600  # past expiry: refreshed before sending, no 401 round trip
    calls_before = server.api_calls
    assert client.request("GET", "/me").json() == {"token": "access-2"}
    assert server.api_calls == calls_before + 1
    assert server.token_requests[1]["grant_type"] == ["refresh_token"]
    assert server.token_requests[1]["refresh_token"] == ["refresh-1"]


def test_oauth_client_credentials_can_go_in_basic_auth() -> None:
    seen: list[httpx2.Request] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        seen.append(request)
        if request.url.path == "/token":
            return httpx2.Response(200, json={"access_token": "a1"})
        return httpx2.Response(200, json={})

    connection = oauth_connection(
        clientId="app", clientSecret="shh", clientCredentialsLocation="basicauth"
    )
    client, _ = client_for(connection, handler)
    client.request("GET", "/me")
    token_request = seen[0]
    expected = "Basic " + base64.b64encode(b"app:shh").decode()
    assert token_request.headers["Authorization"] == expected
    assert "client_secret" not in token_request.content.decode()
    assert seen[1].headers["Authorization"] == "Bearer a1"


def test_eight_threads_hitting_an_expired_token_cause_exactly_one_refresh() -> None:
    server = FakeOAuthServer()
    connection = oauth_connection(
        clientId="app", clientSecret="shh", token={"token": "stale", "refreshToken": "refresh-0"}
    )
    new_tokens: list[str | None] = []
    client, _ = client_for(
        connection, server, on_token=lambda tokens: new_tokens.append(tokens.refresh_token)
    )
    barrier = threading.Barrier(8)
    results: list[Any] = []
    errors: list[BaseException] = []

    def call() -> None:
        barrier.wait()
        try:
            results.append(client.request("GET", "/me").json())
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=call) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert results == [{"token": "access-1"}] * 8
    assert len(server.token_requests) == 1
    assert server.token_requests[0]["refresh_token"] == ["refresh-0"]
    assert new_tokens == ["refresh-1"]


def test_oauth_gives_up_with_auth_failed_when_the_refresh_token_is_rejected() -> None:
    server = FakeOAuthServer()
    server.valid_refresh = set()
    connection = oauth_connection(token={"token": "stale", "refreshToken": "revoked"})
    client, _ = client_for(connection, server)
    with pytest.raises(AuthFailed, match="400"):
        client.request("GET", "/me")


def test_oauth_re_authenticates_only_once_per_request() -> None:
    token_calls = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        if request.url.path == "/token":
            token_calls.append(request)
            return httpx2.Response(200, json={"access_token": f"a{len(token_calls)}"})
        return httpx2.Response(401)

    client, _ = client_for(oauth_connection(clientId="app", clientSecret="shh"), handler)
    with pytest.raises(AuthFailed):
        client.request("GET", "/me")
    assert len(token_calls) == 2  # the first token, then one re-authentication


# -- rate limits, server errors, network errors --------------------------------------------------


def test_rate_limited_requests_wait_retry_after_and_the_debug_log_shows_the_retry() -> None:
    recorder = Recorder(
        httpx2.Response(429, headers={"Retry-After": "2"}),
        httpx2.Response(429, headers={"Retry-After": "3"}),
        httpx2.Response(200, json={"ok": True}),
    )
    debug = DebugLog()
    client, sleeps = client_for(http_connection(), recorder, debug=debug, max_attempts=1)
    response = client.request("GET", "/items")
    assert response.json() == {"ok": True}
    assert sleeps == [2.0, 3.0]
    entries = debug.entries()
    assert [e["status"] for e in entries] == [429, 429, 200]
    assert entries[0]["retry"] == "rate limited: waiting 2s"
    assert entries[2]["retry"] is None


def test_rate_limit_honours_retry_header_http_dates_defaults_and_the_cap() -> None:
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    recorder = Recorder(
        httpx2.Response(429, headers={"X-Wait": "5"}),
        httpx2.Response(429, headers={"X-Wait": later}),
        httpx2.Response(429),
        httpx2.Response(429, headers={"X-Wait": "86400"}),
    )
    client, sleeps = client_for(http_connection(retryHeader="X-Wait"), recorder)
    client.request("GET", "/items")
    assert sleeps[0] == 5.0
    assert 25 <= sleeps[1] <= 30
    assert sleeps[2] == 1.0
    assert sleeps[3] == 300.0


def test_rate_limit_fail_status_code_and_fail_path_are_configurable() -> None:
    recorder = Recorder(
        httpx2.Response(503, headers={"Retry-After": "4"}),
        httpx2.Response(200, json={"error": {"code": "THROTTLED"}}),
        httpx2.Response(200, json={"ok": True}),
    )
    rate_limit = {"failStatusCode": 503, "failPath": "error.code", "failValues": ["THROTTLED"]}
    client, sleeps = client_for(http_connection(rateLimit=rate_limit), recorder)
    assert client.request("GET", "/items").json() == {"ok": True}
    assert sleeps == [4.0, 1.0]


def test_flaky_server_errors_are_retried_until_they_succeed() -> None:
    recorder = Recorder(httpx2.Response(500), httpx2.Response(502), httpx2.Response(200, json=[]))
    debug = DebugLog()
    client, _ = client_for(http_connection(), recorder, debug=debug)
    assert client.request("GET", "/items").json() == []
    assert [e["retry"] for e in debug.entries()] == [
        "server error: retrying",
        "server error: retrying",
        None,
    ]


def test_persistent_server_errors_raise_request_failed_after_max_attempts() -> None:
    recorder = Recorder(*[httpx2.Response(500, text="database on fire")] * 10)
    client, _ = client_for(http_connection(), recorder, max_attempts=3)
    with pytest.raises(RequestFailed) as caught:
        client.request("GET", "/items")
    assert len(recorder.requests) == 3
    assert caught.value.status == 500
    assert "database on fire" in caught.value.body


def test_network_errors_are_retried_and_then_raise_request_failed() -> None:
    request = httpx2.Request("GET", "https://api.example.com/v1/items")
    flaky = Recorder(httpx2.ConnectError("refused", request=request), httpx2.Response(200, json=[]))
    client, _ = client_for(http_connection(), flaky)
    assert client.request("GET", "/items").json() == []

    down = Recorder(*[httpx2.ReadTimeout("slow", request=request)] * 5)
    client, _ = client_for(http_connection(), down, max_attempts=2)
    with pytest.raises(RequestFailed) as caught:
        client.request("GET", "/items")
    assert caught.value.status is None
    assert len(down.requests) == 2


# -- concurrency --------------------------------------------------------------------------------


class InFlight:
    """A slow handler counting simultaneous requests."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.current = 0
        self.peak = 0

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        with self.lock:
            self.current += 1
            self.peak = max(self.peak, self.current)
        time.sleep(0.03)
        with self.lock:
            self.current -= 1
        return httpx2.Response(200, json={})


def run_in_threads(calls: list[Callable[[], Any]]) -> None:
    threads = [threading.Thread(target=call) for call in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def test_concurrency_level_caps_simultaneous_requests_across_clients() -> None:
    handler = InFlight()
    limits = ConcurrencyLimits()
    connection = http_connection(concurrencyLevel=2)
    clients = [client_for(connection, handler, limits=limits)[0] for _ in range(3)]
    run_in_threads([partial(c.request, "GET", "/x") for c in clients for _ in range(2)])
    assert handler.peak == 2


def test_without_concurrency_level_requests_run_in_burst_mode() -> None:
    handler = InFlight()
    client, _ = client_for(http_connection(), handler)
    run_in_threads([lambda: client.request("GET", "/x") for _ in range(6)])
    assert handler.peak > 2


def test_borrowed_concurrency_is_shared_with_the_lending_connection() -> None:
    handler = InFlight()
    limits = ConcurrencyLimits()
    lender = http_connection(concurrencyLevel=2)
    borrower = http_connection()
    borrower["_borrowConcurrencyFromConnectionId"] = lender["_id"]
    lending_client, _ = client_for(lender, handler, limits=limits)
    borrowing_client, _ = client_for(borrower, handler, limits=limits)
    run_in_threads(
        [lambda: lending_client.request("GET", "/x") for _ in range(3)]
        + [lambda: borrowing_client.request("GET", "/x") for _ in range(3)]
    )
    assert handler.peak == 2


# -- debug log and redaction --------------------------------------------------------------------


def test_debug_entries_never_contain_secrets(caplog: pytest.LogCaptureFixture) -> None:
    recorder = Recorder(httpx2.Response(500), httpx2.Response(200, json={}))
    connection = rest_connection(
        bearerToken="super-secret-token", tokenLocation="url", tokenParam="auth"
    )
    connection["rest"]["headers"] = [{"name": "X-Api-Key", "value": "hidden-api-key"}]
    debug = DebugLog()
    client, _ = client_for(connection, recorder, debug=debug)
    with caplog.at_level("DEBUG", logger="integrator.adaptors.http.client"):
        client.request("GET", "/me?q=1")
    text = repr(debug.entries()) + caplog.text
    assert "super-secret-token" not in text
    assert "hidden-api-key" not in text
    assert debug.entries()[0]["url"] == "https://legacy.example.com/api/me?q=1&auth=******"
    assert debug.entries()[0]["requestHeaders"]["x-api-key"] == "******"


def test_debug_entries_mask_basic_auth_and_refreshed_oauth_tokens() -> None:
    debug = DebugLog()
    auth = {"type": "basic", "basic": {"username": "bob", "password": "pa55word"}}
    client, _ = client_for(http_connection(auth=auth), ok, debug=debug)
    client.request("GET", "/me")
    assert debug.entries()[0]["requestHeaders"]["authorization"] == "******"

    server = FakeOAuthServer()
    debug = DebugLog()
    connection = oauth_connection(clientId="app", clientSecret="shh")
    client, _ = client_for(connection, server, debug=debug)
    client.request("GET", "/me")
    assert "access-1" not in repr(debug.entries())
    assert "shh" not in repr(debug.entries())


def test_debug_log_keeps_only_the_newest_entries() -> None:
    debug = DebugLog(maxlen=2)
    client, _ = client_for(http_connection(), ok, debug=debug)
    for page in range(3):
        client.request("GET", f"/items?page={page}")
    assert [e["url"][-1] for e in debug.entries()] == ["1", "2"]


# -- ping ---------------------------------------------------------------------------------------


def test_legacy_ping_succeeds_when_the_success_path_is_truthy() -> None:
    recorder = Recorder(httpx2.Response(200, json={"user": {"active": True}}))
    connection = rest_connection(pingRelativeURI="/me", pingSuccessPath="user.active")
    client, _ = client_for(connection, recorder)
    client.ping()  # no PingFailed
    assert str(recorder.requests[0].url) == "https://legacy.example.com/api/me"


def test_legacy_ping_fails_when_the_success_value_does_not_match() -> None:
    recorder = Recorder(httpx2.Response(200, json={"status": "locked"}))
    connection = rest_connection(
        pingRelativeURI="/me", pingSuccessPath="status", pingSuccessValues=["ok"]
    )
    client, _ = client_for(connection, recorder)
    with pytest.raises(PingFailed, match="status is 'locked'"):
        client.ping()


def test_modern_ping_uses_method_body_and_fail_path() -> None:
    recorder = Recorder(httpx2.Response(200, json={"result": "DENIED"}))
    ping = {
        "relativeURI": "/check",
        "method": "POST",
        "body": '{"probe": true}',
        "failPath": "result",
        "failValues": ["DENIED"],
    }
    client, _ = client_for(http_connection(ping=ping), recorder)
    with pytest.raises(PingFailed, match="DENIED"):
        client.ping()
    sent = recorder.requests[0]
    assert sent.method == "POST"
    assert sent.content == b'{"probe": true}'


def test_modern_ping_reports_the_error_path() -> None:
    recorder = Recorder(httpx2.Response(200, json={"errors": [{"message": "bad key"}]}))
    ping = {"relativeURI": "/check", "errorPath": "errors.0.message"}
    client, _ = client_for(http_connection(ping=ping), recorder)
    with pytest.raises(PingFailed, match="bad key"):
        client.ping()


def test_ping_fails_with_the_status_of_an_error_response() -> None:
    recorder = Recorder(httpx2.Response(404, text="no such endpoint"))
    client, _ = client_for(http_connection(ping={"relativeURI": "/nope"}), recorder)
    with pytest.raises(PingFailed, match="404"):
        client.ping()


def test_ping_fails_when_credentials_are_rejected() -> None:
    recorder = Recorder(httpx2.Response(401))
    auth = {"type": "token", "token": {"token": "bad"}}
    client, _ = client_for(http_connection(ping={"relativeURI": "/me"}, auth=auth), recorder)
    with pytest.raises(PingFailed, match="Authentication failed"):
        client.ping()


def test_ping_without_a_relative_uri_has_nothing_to_test() -> None:
    recorder = Recorder()
    client, _ = client_for(http_connection(), recorder)
    client.ping()  # no PingFailed
    assert recorder.requests == []


def test_legacy_oauth_connection_refreshes_its_bearer_token_with_the_refresh_token() -> None:
    server = FakeOAuthServer()
    connection = rest_connection(
        authType="oauth",
        bearerToken="stale",
        refreshToken="refresh-0",
        oauthTokenURI="https://auth.example.com/token",
    )
    client, _ = client_for(connection, server)
    assert client.request("GET", "/me").json() == {"token": "access-1"}
    assert server.token_requests[0]["grant_type"] == ["refresh_token"]


def test_forbidden_responses_raise_auth_failed_for_static_credentials() -> None:
    recorder = Recorder(httpx2.Response(403, text="forbidden"))
    auth = {"type": "basic", "basic": {"username": "u", "password": "p4ssw0rd"}}
    client, _ = client_for(http_connection(auth=auth), recorder)
    with pytest.raises(AuthFailed) as caught:
        client.request("GET", "/me")
    assert caught.value.status == 403
