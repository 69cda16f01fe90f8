"""One HTTP connection's client: base URI, headers, auth, retries, concurrency, debug log.

Exports, imports, lookups and pings of an HTTP/REST connection all send their requests through a
``ConnectionClient``, so every one of them behaves the way integrator.io documents a connection
(reference §2.1, §9):

* URIs are relative to ``baseURI`` unless absolute (next-page URLs are);
* connection ``headers`` (handlebars, e.g. ``{{{connection.http.encrypted.apiKey}}}``) and the
  ``mediaType`` go on every request; credentials are added by the connection's auth style
  (``auth.py``);
* a rate-limited response (429, or ``http.rateLimit``) waits for ``Retry-After`` (or the
  connection's ``retryHeader``) and retries without using up attempts;
* 5xx responses and network errors retry with exponential backoff and jitter (stamina), then
  raise ``RequestFailed``; other 4xx responses are returned to the caller;
* an auth failure re-authenticates once when it can (OAuth 2.0), else raises ``AuthFailed`` so the
  caller can set the connection offline;
* ``concurrencyLevel`` caps simultaneous requests per connection across the whole process
  (``ConcurrencyLimits``), shared with connections that set ``_borrowConcurrencyFromConnectionId``;
* each attempt is recorded, secrets masked, in an optional ``DebugLog`` and at DEBUG level.

>>> client = ConnectionClient({"_id": "c1", "type": "http", "http": {
...     "baseURI": "https://api.example.com/v1", "mediaType": "json",
...     "auth": {"type": "token", "token": {"token": "abc"}}}})
>>> client.resolve("/customers")
'https://api.example.com/v1/customers'
"""

from __future__ import annotations

import email.utils
import functools
import logging
import ssl
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import httpx2
import stamina

from integrator.adaptors.http.auth import (
    Auth,
    AuthFailed,
    TokenListener,
    UnsupportedAuth,
    auth_from_connection,
)
from integrator.adaptors.http.concurrency import CONCURRENCY, ConcurrencyLimits
from integrator.adaptors.http.debuglog import DebugLog, Redactor
from integrator.adaptors.http.errors import HttpAdaptorError, PingFailed, RequestFailed, _Transient
from integrator.adaptors.http.ping import as_text, check_ping_body, value_at
from integrator.mapping.datatypes import MISSING
from integrator.mapping.templates import render, template_context

__all__ = [
    "AuthFailed",
    "ConcurrencyLimits",
    "ConnectionClient",
    "DebugLog",
    "HttpAdaptorError",
    "PingFailed",
    "RequestFailed",
    "UnsupportedAuth",
    "connection_block",
]

logger = logging.getLogger(__name__)

#: Content-Type (and Accept) for each ``mediaType``; ``form-data`` sets its own boundary.
MEDIA_TYPES = {
    "json": "application/json",
    "urlencoded": "application/x-www-form-urlencoded",
    "xml": "application/xml",
    "csv": "text/csv",
    "plaintext": "text/plain",
}
#: Longest wait a ``Retry-After`` may ask for; longer values are capped, not refused.
MAX_RETRY_AFTER = 300.0
#: Wait when a rate-limited response says nothing about when to come back.
DEFAULT_RETRY_AFTER = 1.0
#: How many rate-limited responses one request may wait out before giving up.
MAX_RATE_LIMIT_WAITS = 50
#: Re-authentications one request may cause before a 401 is final.
MAX_REAUTHENTICATIONS = 2
SNIPPET = 500


def connection_block(connection: Mapping[str, Any]) -> dict[str, Any]:
    """The settings block of a ``rest`` (legacy) or ``http`` (modern) connection."""
    name = "rest" if connection.get("type") == "rest" else "http"
    if connection.get("type") not in ("rest", "http"):
        name = "http" if isinstance(connection.get("http"), dict) else "rest"
    block = connection.get(name)
    return dict(block) if isinstance(block, Mapping) else {}


@functools.cache
def _verifying_context() -> ssl.SSLContext:
    """One certificate-verifying TLS context for every client: building one loads the CA
    bundle, which cost more than a whole page of an import when each client made its own."""
    return ssl.create_default_context()


class ConnectionClient:
    """Sends requests for one unsealed ``rest``/``http`` connection (secrets in clear).

    Thread-safe: one client may serve many threads (lookups and imports run in parallel).
    ``sleep`` is used for rate-limit waits, ``clock`` (monotonic) for token expiry; tests pass
    fakes. ``on_token`` is told about each new OAuth token so the caller can persist it.
    """

    def __init__(
        self,
        connection: Mapping[str, Any],
        *,
        transport: httpx2.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        limits: ConcurrencyLimits | None = None,
        max_attempts: int = 5,
        timeout: float = 60.0,
        debug: DebugLog | None = None,
        clock: Callable[[], float] = time.monotonic,
        on_token: TokenListener | None = None,
        max_retry_after: float = MAX_RETRY_AFTER,
    ) -> None:
        self.connection = connection
        self.block = connection_block(connection)
        self.legacy = connection.get("type") == "rest" or (
            "rest" in connection and "http" not in connection
        )
        self.max_attempts = max(1, max_attempts)
        self.max_retry_after = max_retry_after
        self.debug = debug
        self._sleep = sleep
        self._limits = limits if limits is not None else CONCURRENCY
        self._http = httpx2.Client(
            transport=transport,
            timeout=timeout,
            verify=False if self.block.get("disableStrictSSL") else _verifying_context(),
            follow_redirects=True,
        )
        context = template_context(connection=connection)
        self.base_uri = render(str(self.block.get("baseURI") or ""), context, "plain")
        self.headers = self._connection_headers(context)
        self.auth: Auth = auth_from_connection(
            connection, post=self._post_token, clock=clock, on_token=on_token
        )
        self._configure_concurrency(connection)
        self._redactor = self._build_redactor(connection)

    # -- set-up -----------------------------------------------------------------------------

    def _connection_headers(self, context: Mapping[str, Any]) -> dict[str, str]:
        headers: dict[str, str] = {}
        media = MEDIA_TYPES.get(str(self.block.get("mediaType") or ""))
        if media is not None and media != MEDIA_TYPES["urlencoded"]:
            headers["Accept"] = media
        for header in self.block.get("headers") or []:
            name = header.get("name") if isinstance(header, Mapping) else None
            if name:
                headers[name] = render(str(header.get("value") or ""), context, "plain")
        return headers

    def _configure_concurrency(self, connection: Mapping[str, Any]) -> None:
        level = self.block.get("concurrencyLevel")
        self._level = level if isinstance(level, int) and level > 0 else None
        borrowed = connection.get("_borrowConcurrencyFromConnectionId")
        own_id = connection.get("_id")
        if borrowed:
            self._concurrency_key = str(borrowed)
        elif own_id:
            self._concurrency_key = str(own_id)
            self._limits.configure(self._concurrency_key, self._level)
        else:
            self._concurrency_key = f"client:{id(self)}"

    def _build_redactor(self, connection: Mapping[str, Any]) -> Redactor:
        secrets: list[str] = list(self.auth.secrets())
        for section in (connection, self.block):
            encrypted = section.get("encrypted")
            if isinstance(encrypted, Mapping):
                secrets.extend(str(v) for v in encrypted.values() if isinstance(v, str | int))
        for name in ("bearerToken", "refreshToken"):
            if isinstance(self.block.get(name), str):
                secrets.append(self.block[name])
        params, header_names = self.auth.secret_names()
        # Connection headers usually carry API keys: mask any header built from a template
        # or whose name mentions a credential.
        for header in self.block.get("headers") or []:
            name, value = str(header.get("name") or ""), str(header.get("value") or "")
            if "{{" in value or any(w in name.lower() for w in ("key", "token", "auth", "secret")):
                header_names.append(name)
                secrets.append(self.headers.get(name, ""))
        return Redactor(secrets, param_names=params, header_names=header_names)

    # -- public API ---------------------------------------------------------------------------

    def resolve(self, url: str) -> str:
        """``url`` if absolute, else ``baseURI`` + ``url`` (with exactly one ``/`` between)."""
        if url.lower().startswith(("http://", "https://")):
            return url
        if not url:
            return self.base_uri
        if url.startswith(("?", "#")):
            return self.base_uri + url
        return self.base_uri.rstrip("/") + "/" + url.lstrip("/")

    def request(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        content: bytes | None = None,
        json: Any = None,
    ) -> httpx2.Response:
        """Send one request with the connection's headers, auth, retries and concurrency.

        Returns the response for 2xx-4xx (except auth failures and rate limiting, handled here).
        Raises ``RequestFailed`` when 5xx responses or network errors outlast ``max_attempts``,
        ``AuthFailed`` when the credentials are rejected and cannot be renewed.
        """
        method = method.upper()
        target = self.resolve(url)
        state = {"rate_waits": 0, "reauthenticated": 0, "may_reauthenticate": 1}
        response: httpx2.Response | None = None
        try:
            for attempt in stamina.retry_context(
                on=_Transient,
                attempts=self.max_attempts,
                timeout=None,
                wait_initial=0.5,
                wait_max=30.0,
                wait_jitter=1.0,
            ):
                with attempt:
                    response = self._attempt(
                        method, target, params, headers, content, json, attempt.num, state
                    )
        except _Transient as exc:
            raise RequestFailed(exc.message, status=exc.status, body=exc.body, url=exc.url) from (
                exc.__cause__ or exc
            )
        assert response is not None
        return response

    def get(self, url: str, **kwargs: Any) -> httpx2.Response:
        return self.request("GET", url, **kwargs)

    def ping(self) -> None:
        """Test the connection with its ping request; ``None`` on success, else ``PingFailed``.

        Legacy: ``rest.pingRelativeURI`` (``pingMethod``, ``pingBody``, ``pingSuccessPath``,
        ``pingSuccessValues``). Modern: ``http.ping{relativeURI, method, body, successPath,
        successValues, failPath, failValues, errorPath}``. A connection without a ping URI has
        nothing to test and passes.
        """
        if self.legacy:
            ping = {
                "relativeURI": self.block.get("pingRelativeURI"),
                "method": self.block.get("pingMethod"),
                "body": self.block.get("pingBody"),
                "successPath": self.block.get("pingSuccessPath"),
                "successValues": self.block.get("pingSuccessValues"),
            }
        else:
            ping = dict(self.block.get("ping") or {})
        relative = ping.get("relativeURI")
        if not relative:
            return None
        context = template_context(connection=self.connection)
        uri = render(str(relative), context, "uri")
        body = ping.get("body")
        content = render(str(body), context, "body").encode() if body else None
        method = str(ping.get("method") or ("POST" if content else "GET"))
        try:
            response = self.request(method, uri, content=content)
        except AuthFailed as exc:
            raise PingFailed(f"Authentication failed: {exc.message}") from exc
        except RequestFailed as exc:
            raise PingFailed(exc.message) from exc
        if not response.is_success:
            raise PingFailed(
                f"Ping {method} {self._redactor.url(str(response.url))} returned HTTP "
                f"{response.status_code}: {self._snippet(response)}"
            )
        check_ping_body(ping, response)
        return None

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> ConnectionClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- one attempt ----------------------------------------------------------------------------

    def _attempt(
        self,
        method: str,
        url: str,
        params: Mapping[str, Any] | None,
        headers: Mapping[str, str] | None,
        content: bytes | None,
        json: Any,
        number: int,
        state: dict[str, Any],
    ) -> httpx2.Response:
        """One stamina attempt: rate-limit waits and one re-authentication happen inside it."""
        while True:
            credentials = self.auth.credentials()
            # Case-insensitive, like HTTP: a request's "x-version" replaces the connection's
            # "X-Version" instead of travelling beside it.
            merged_headers = httpx2.Headers(self.headers)
            if content is not None:  # with ``json=`` httpx sets application/json itself
                media = MEDIA_TYPES.get(str(self.block.get("mediaType") or ""))
                if media is not None:
                    merged_headers["Content-Type"] = media
            merged_headers.update(credentials.headers)
            merged_headers.update(headers or {})
            merged_params = {**dict(params or {}), **credentials.params}
            # httpx replaces a URL's query with ``params``; integrator.io keeps both.
            full_url = httpx2.URL(url)
            if merged_params:
                full_url = full_url.copy_merge_params(merged_params)
            request = self._http.build_request(
                method,
                full_url,
                headers=merged_headers,
                content=content,
                json=json,
            )
            response = self._send(request, number)
            if self._is_rate_limited(response):
                if state["rate_waits"] >= MAX_RATE_LIMIT_WAITS:
                    raise RequestFailed(
                        f"Still rate limited after {MAX_RATE_LIMIT_WAITS} waits.",
                        status=response.status_code,
                        body=self._snippet(response),
                        url=self._redactor.url(url),
                    )
                wait = self._retry_after(response)
                state["rate_waits"] += 1
                self._log(request, response, number, f"rate limited: waiting {wait:g}s")
                self._sleep(wait)
                continue
            if self._is_auth_failure(response):
                # Once, or twice when the first time adopted another process's tokens: they
                # may have expired meanwhile, and the second time they are refreshed.
                if (
                    self.auth.reauthenticates
                    and state["reauthenticated"] < state["may_reauthenticate"]
                ):
                    state["reauthenticated"] += 1
                    self._log(request, response, number, "auth failed: re-authenticating")
                    if self.auth.reauthenticate(credentials.generation):
                        state["may_reauthenticate"] = MAX_REAUTHENTICATIONS
                    continue
                self._log(request, response, number, None)
                raise AuthFailed(
                    f"{method} {self._redactor.url(url)} was refused with HTTP "
                    f"{response.status_code}: {self._snippet(response)}",
                    status=response.status_code,
                )
            if response.status_code >= 500:
                retry = "server error: retrying" if number < self.max_attempts else None
                self._log(request, response, number, retry)
                raise _Transient(
                    f"{method} {self._redactor.url(url)} failed with HTTP "
                    f"{response.status_code} after {number} attempt(s): {self._snippet(response)}",
                    status=response.status_code,
                    body=self._snippet(response),
                    url=self._redactor.url(url),
                )
            self._log(request, response, number, None)
            return response

    def _send(self, request: httpx2.Request, number: int) -> httpx2.Response:
        started = time.perf_counter()
        try:
            with self._limits.slot(self._concurrency_key, self._level):
                response = self._http.send(request)
        except httpx2.TransportError as exc:
            retry = "network error: retrying" if number < self.max_attempts else None
            self._log(request, None, number, retry, error=repr(exc), started=started)
            url = self._redactor.url(str(request.url))
            raise _Transient(
                f"{request.method} {url} failed after {number} attempt(s): "
                f"{self._redactor.text(repr(exc))}",
                url=url,
            ) from exc
        response.extensions["integrator.duration"] = time.perf_counter() - started
        return response

    def _post_token(
        self, url: str, form: Mapping[str, str], headers: Mapping[str, str]
    ) -> httpx2.Response:
        """Token requests bypass auth and retries; they are logged without their body."""
        request = self._http.build_request("POST", url, data=dict(form), headers=dict(headers))
        started = time.perf_counter()
        response = self._http.send(request)
        response.extensions["integrator.duration"] = time.perf_counter() - started
        self._log(request, response, 1, None)
        return response

    # -- response classification --------------------------------------------------------------

    def _json(self, response: httpx2.Response) -> Any:
        try:
            return response.json()
        except ValueError:
            return MISSING

    def _path_matches(self, response: httpx2.Response, path: Any, values: Any) -> bool:
        if not path or not values:
            return False
        body = self._json(response)
        if body is MISSING:
            return False
        value = value_at(body, str(path))
        return value is not MISSING and as_text(value) in {str(v) for v in values}

    def _is_rate_limited(self, response: httpx2.Response) -> bool:
        rate_limit = {} if self.legacy else dict(self.block.get("rateLimit") or {})
        status = rate_limit.get("failStatusCode") or 429
        if response.status_code == status:
            return True
        return self._path_matches(
            response, rate_limit.get("failPath"), rate_limit.get("failValues")
        )

    def _is_auth_failure(self, response: httpx2.Response) -> bool:
        auth = {} if self.legacy else dict(self.block.get("auth") or {})
        if response.status_code in (401, 403) or response.status_code == auth.get("failStatusCode"):
            return True
        return self._path_matches(response, auth.get("failPath"), auth.get("failValues"))

    def _retry_after(self, response: httpx2.Response) -> float:
        """Seconds to wait: the retry header as seconds or an HTTP date, capped; 1 s if absent."""
        name = str(self.block.get("retryHeader") or "Retry-After")
        raw = response.headers.get(name)
        if raw is None:
            return DEFAULT_RETRY_AFTER
        raw = raw.strip()
        try:
            seconds = float(raw)
        except ValueError:
            try:
                moment = email.utils.parsedate_to_datetime(raw)
            except (TypeError, ValueError):
                return DEFAULT_RETRY_AFTER
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=UTC)
            seconds = (moment - datetime.now(UTC)).total_seconds()
        return min(max(seconds, 0.0), self.max_retry_after)

    def _snippet(self, response: httpx2.Response) -> str:
        return self._redactor.text(response.text[:SNIPPET])

    # -- debug log --------------------------------------------------------------------------------

    def _log(
        self,
        request: httpx2.Request,
        response: httpx2.Response | None,
        number: int,
        retry: str | None,
        *,
        error: str | None = None,
        started: float | None = None,
    ) -> None:
        if self.debug is None and not logger.isEnabledFor(logging.DEBUG):
            return  # redacting costs more than a request to a fast API: only when it is read
        if response is not None:
            duration = float(response.extensions.get("integrator.duration", 0.0))
        else:
            duration = time.perf_counter() - started if started is not None else 0.0
        if self.auth.reauthenticates:
            for secret in self.auth.secrets():  # tokens learnt since the client was built
                self._redactor.add_secret(secret)
        url = self._redactor.url(str(request.url))
        entry = {
            "time": time.time(),
            "method": request.method,
            "url": url,
            "requestHeaders": self._redactor.headers(dict(request.headers)),
            "status": response.status_code if response is not None else None,
            "durationMs": round(duration * 1000, 3),
            "attempt": number,
            "retry": retry,
            "error": self._redactor.text(error) if error else None,
        }
        if self.debug is not None:
            self.debug.record(entry)
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug(
                "%s %s -> %s in %.1f ms (attempt %d)%s%s",
                request.method,
                url,
                entry["status"],
                entry["durationMs"],
                number,
                f"; {retry}" if retry else "",
                f"; {entry['error']}" if error else "",
            )
