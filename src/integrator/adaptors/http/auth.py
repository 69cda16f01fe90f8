"""How an HTTP connection puts its credentials on a request (reference §2.1).

One small class per style, all behind ``Auth``: ``credentials()`` says which headers and query
parameters to add, and, for styles that can get a new token (OAuth 2.0), ``reauthenticate()``
fetches one. ``auth_from_connection`` reads an unsealed connection document (secrets in clear)
and picks the class:

=========================================  ===============================================
connection                                  class
=========================================  ===============================================
``http.auth.type: "basic"``;                ``BasicAuthStyle`` (``Authorization: Basic``)
legacy ``rest.basicAuth``
``http.auth.type: "token"``;                ``TokenAuth``: header (``headerName``/``scheme``,
legacy ``rest.bearerToken``                 legacy ``authHeader``/``authScheme``) or query
                                            parameter (``paramName``, legacy ``tokenParam``)
``http.auth.type: "oauth"``;                ``OAuth2Auth``: a ``TokenAuth`` whose token comes
legacy ``rest.authType: "oauth"``           from a token endpoint (client credentials or a
                                            refresh token), refreshed once for all threads
``custom``, none                            ``NoAuth`` (credentials live in ``headers``)
=========================================  ===============================================

Example modern OAuth 2.0 client-credentials connection (field names under ``oauth`` are ours
where integrator.io's schema is silent; see ``OAuth2Auth``)::

    {"type": "http", "http": {"baseURI": "https://api.example.com", "auth": {
        "type": "oauth",
        "oauth": {"tokenURI": "https://auth.example.com/token", "grantType": "clientcredentials",
                  "clientId": "abc", "clientSecret": "xyz", "scope": ["read", "write"]},
        "token": {"location": "header", "scheme": "Bearer"}}}}
"""

from __future__ import annotations

import base64
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx2

from integrator.adaptors.http.refresh import REFRESHES, RefreshCoordinator

#: Posts a form to a token endpoint: (url, form fields, headers) → response.
TokenPoster = Callable[[str, Mapping[str, str], Mapping[str, str]], httpx2.Response]
#: Told about every new token so the caller can persist it (a rotated refresh token above all).
TokenListener = Callable[["TokenSet"], None]

#: Refresh this many seconds before ``expires_in`` runs out, so a request never carries a token
#: that expires in flight.
EXPIRY_SKEW = 30.0


class AuthFailed(Exception):
    """The target rejected the connection's credentials (or a token could not be obtained).

    The caller should set the connection ``offline`` (reference §2.1): flows using it stop until
    someone re-authenticates.
    """

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


class UnsupportedAuth(ValueError):
    """The connection uses an auth type this client does not implement (yet)."""


@dataclass(frozen=True)
class Credentials:
    """What to add to one request, and which token generation it carries."""

    headers: dict[str, str] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)
    generation: int = 0


@dataclass(frozen=True)
class TokenSet:
    """An OAuth 2.0 access token with its refresh token and expiry (``time.monotonic`` clock)."""

    access_token: str | None
    refresh_token: str | None = None
    expires_at: float | None = None
    generation: int = 0


class Auth:
    """No credentials: ``type: custom`` (headers carry them) or no auth at all."""

    #: True when ``reauthenticate`` can obtain new credentials.
    reauthenticates = False

    def credentials(self) -> Credentials:
        return Credentials()

    def reauthenticate(self, generation: int) -> bool:
        """Get new credentials unless another thread already replaced ``generation``; True
        when they are another process's, adopted rather than obtained (they may be close to
        expiring, so a request refused with them may re-authenticate once more)."""
        raise AuthFailed("These credentials cannot be renewed automatically.")

    def secrets(self) -> list[str]:
        """Literal secret values, for redaction."""
        return []

    def secret_names(self) -> tuple[list[str], list[str]]:
        """(query parameter names, header names) that carry credentials, for redaction."""
        return [], []


NoAuth = Auth


class BasicAuthStyle(Auth):
    """``Authorization: Basic base64(username:password)``."""

    def __init__(self, username: str, password: str) -> None:
        self.username = username
        self.password = password
        raw = f"{username}:{password}".encode()
        self._header = "Basic " + base64.b64encode(raw).decode("ascii")

    def credentials(self) -> Credentials:
        return Credentials(headers={"Authorization": self._header})

    def secrets(self) -> list[str]:
        return [self.password, self._header.removeprefix("Basic ")]


class TokenAuth(Auth):
    """A static token in a header (``<headerName>: <scheme> <token>``) or a query parameter.

    ``scheme`` of ``""`` or ``"none"`` sends the bare token (``X-Api-Key: abc``).
    """

    def __init__(
        self,
        token: str | None,
        *,
        location: str = "header",
        header_name: str = "Authorization",
        scheme: str = "Bearer",
        param_name: str = "access_token",
    ) -> None:
        self.location = location
        self.header_name = header_name
        self.scheme = "" if scheme.lower() in ("", "none") else scheme
        self.param_name = param_name
        self._token = token

    def current_token(self) -> tuple[str | None, int]:
        return self._token, 0

    def credentials(self) -> Credentials:
        token, generation = self.current_token()
        if not token:
            return Credentials(generation=generation)
        if self.location == "url":
            return Credentials(params={self.param_name: token}, generation=generation)
        value = f"{self.scheme} {token}" if self.scheme else token
        return Credentials(headers={self.header_name: value}, generation=generation)

    def secrets(self) -> list[str]:
        return [self._token] if self._token else []

    def secret_names(self) -> tuple[list[str], list[str]]:
        return [self.param_name], [self.header_name]


class OAuth2Auth(TokenAuth):
    """OAuth 2.0: client credentials or refresh token, with single-flight refresh.

    Threads that find the token expired (or rejected) call ``reauthenticate(generation)`` with the
    generation they used. The first takes the lock and fetches a new token; the others wait on the
    lock, see the generation has moved on, and simply retry with the new token. So eight threads
    hitting an expired token cause one token request, and a rotating refresh token is sent once.

    Grant: ``refresh_token`` when a refresh token is known, else ``client_credentials`` with
    ``clientId``/``clientSecret`` (in the form body, or as Basic auth when
    ``clientCredentialsLocation`` is ``"basicauth"``). ``expires_in`` in the token response sets
    the expiry; a new ``refresh_token`` in it replaces the old one.
    """

    reauthenticates = True

    def __init__(
        self,
        *,
        token_uri: str,
        access_token: str | None,
        refresh_token: str | None,
        client_id: str | None,
        client_secret: str | None,
        scope: list[str] | None,
        scope_delimiter: str,
        credentials_location: str,
        post: TokenPoster,
        clock: Callable[[], float] = time.monotonic,
        on_token: TokenListener | None = None,
        location: str = "header",
        header_name: str = "Authorization",
        scheme: str = "Bearer",
        param_name: str = "access_token",
        connection_id: str | None = None,
        coordinator: RefreshCoordinator | None = None,
    ) -> None:
        super().__init__(
            None,
            location=location,
            header_name=header_name,
            scheme=scheme,
            param_name=param_name,
        )
        self.token_uri = token_uri
        self.client_id = client_id
        self.client_secret = client_secret
        self.scope = scope
        self.scope_delimiter = scope_delimiter
        self.credentials_location = credentials_location
        self._post = post
        self._clock = clock
        self._on_token = on_token
        #: Refreshes queue across processes through this (when it is shared).
        self.connection_id = connection_id
        self._coordinator = coordinator if coordinator is not None else REFRESHES
        self._lock = threading.Lock()
        #: Replaced whole (one atomic assignment), so readers never need the lock.
        self._state = TokenSet(access_token, refresh_token, None, 0)
        #: Every token seen, for redaction.
        self._seen: list[str] = [t for t in (access_token, refresh_token, client_secret) if t]
        #: How many token requests were sent; tests and metrics read it.
        self.refresh_count = 0

    @property
    def state(self) -> TokenSet:
        return self._state

    def current_token(self) -> tuple[str | None, int]:
        state = self._state
        expired = state.expires_at is not None and self._clock() >= state.expires_at
        if state.access_token is None or expired:
            self.reauthenticate(state.generation)
            state = self._state
        return state.access_token, state.generation

    def reauthenticate(self, generation: int) -> bool:
        with self._lock:
            if self._state.generation != generation:
                return False  # another thread refreshed while we waited
            coordinator = self._coordinator
            if self.connection_id and coordinator.shared:
                return self._refresh_shared(coordinator, self.connection_id)
            self._state = self._fetch(self._state)
            self.refresh_count += 1
        if self._on_token is not None:
            self._on_token(self._state)
        return False

    def _refresh_shared(self, coordinator: RefreshCoordinator, connection_id: str) -> bool:
        """Refresh under the connection's cross-process lock, or adopt the tokens another
        process stored while we waited (see ``refresh.py``); True when adopted. Runs under
        ``self._lock``."""
        with coordinator.lock(connection_id):
            state = self._state
            if self._adopt_stored(coordinator, connection_id, state):
                return True
            try:
                self._state = self._fetch(state)
            except AuthFailed:
                # Refused (a rotated refresh token another process used): if that process's
                # tokens are stored by now, they are ours too.
                if self._adopt_stored(coordinator, connection_id, state):
                    return True
                raise
            self.refresh_count += 1
            # Stored before the lock is released, so the next process finds it.
            if self._on_token is not None:
                self._on_token(self._state)
            return False

    def _adopt_stored(
        self, coordinator: RefreshCoordinator, connection_id: str, state: TokenSet
    ) -> bool:
        """Adopt the connection's stored tokens when another process replaced ours."""
        assert coordinator.stored_tokens is not None
        stored = coordinator.stored_tokens(connection_id)
        if stored is None:
            return False
        access, refresh = stored
        moved = (refresh is not None and refresh != state.refresh_token) or (
            access is not None and access != state.access_token
        )
        if moved:
            self._seen.extend(t for t in (access, refresh) if t)
            generation = state.generation + 1
            self._state = TokenSet(access, refresh or state.refresh_token, None, generation)
        return moved

    def _fetch(self, state: TokenSet) -> TokenSet:
        form: dict[str, str] = {}
        headers = {"Accept": "application/json"}
        if state.refresh_token:
            form["grant_type"] = "refresh_token"
            form["refresh_token"] = state.refresh_token
        elif self.client_id:
            form["grant_type"] = "client_credentials"
        else:
            raise AuthFailed(
                "The OAuth 2.0 token has expired and there is no refresh token or client id "
                "to get a new one; re-authorize the connection."
            )
        if self.scope and form["grant_type"] == "client_credentials":
            form["scope"] = self.scope_delimiter.join(self.scope)
        if self.client_id:
            if self.credentials_location == "basicauth":
                raw = f"{self.client_id}:{self.client_secret or ''}".encode()
                headers["Authorization"] = "Basic " + base64.b64encode(raw).decode("ascii")
            else:
                form["client_id"] = self.client_id
                if self.client_secret:
                    form["client_secret"] = self.client_secret
        try:
            response = self._post(self.token_uri, form, headers)
        except httpx2.TransportError as exc:
            raise AuthFailed(f"Token request to {self.token_uri} failed: {exc!r}") from exc
        if not response.is_success:
            raise AuthFailed(
                f"Token request to {self.token_uri} returned {response.status_code}: "
                f"{response.text[:200]}",
                status=response.status_code,
            )
        try:
            body: Any = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict) or not body.get("access_token"):
            raise AuthFailed(f"Token response from {self.token_uri} has no access_token.")
        access = str(body["access_token"])
        refresh = str(body["refresh_token"]) if body.get("refresh_token") else state.refresh_token
        expires_at: float | None = None
        if isinstance(body.get("expires_in"), int | float | str):
            try:
                lifetime = float(body["expires_in"])
                expires_at = self._clock() + max(lifetime - EXPIRY_SKEW, lifetime / 2)
            except ValueError:
                expires_at = None
        self._seen.extend(t for t in (access, refresh) if t)
        return TokenSet(access, refresh, expires_at, state.generation + 1)

    def secrets(self) -> list[str]:
        return list(self._seen)


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def auth_from_connection(
    connection: Mapping[str, Any],
    *,
    post: TokenPoster,
    clock: Callable[[], float] = time.monotonic,
    on_token: TokenListener | None = None,
) -> Auth:
    """The ``Auth`` an unsealed ``rest`` or ``http`` connection asks for.

    Raises ``UnsupportedAuth`` for types not implemented here (wsse, cookie, digest, oauth1,
    jwtbearer).
    """
    if connection.get("type") == "rest" or ("rest" in connection and "http" not in connection):
        return _legacy_auth(
            connection.get("rest") or {},
            post=post,
            clock=clock,
            on_token=on_token,
            connection_id=_text(connection.get("_id")),
        )
    http = connection.get("http") or {}
    auth = http.get("auth") or {}
    kind = auth.get("type")
    token = auth.get("token") or {}
    placement: dict[str, Any] = {
        "location": token.get("location") or "header",
        "header_name": token.get("headerName") or "Authorization",
        "scheme": token["scheme"] if isinstance(token.get("scheme"), str) else "Bearer",
        "param_name": token.get("paramName") or "access_token",
    }
    if kind in (None, "custom"):
        return NoAuth()
    if kind == "basic":
        basic = auth.get("basic") or {}
        return BasicAuthStyle(basic.get("username") or "", basic.get("password") or "")
    if kind == "token":
        return TokenAuth(_text(token.get("token")), **placement)
    if kind == "oauth":
        oauth = auth.get("oauth") or {}
        token_uri = _text(oauth.get("tokenURI")) or _text(oauth.get("accessTokenURI"))
        if token_uri is None:
            raise UnsupportedAuth("http.auth.oauth.tokenURI is required for OAuth 2.0.")
        return OAuth2Auth(
            token_uri=token_uri,
            access_token=_text(token.get("token")),
            refresh_token=_text(token.get("refreshToken")),
            client_id=_text(oauth.get("clientId")),
            client_secret=_text(oauth.get("clientSecret")),
            scope=list(oauth.get("scope") or []) or None,
            scope_delimiter=oauth.get("scopeDelimiter") or " ",
            credentials_location=oauth.get("clientCredentialsLocation") or "body",
            post=post,
            clock=clock,
            on_token=on_token,
            connection_id=_text(connection.get("_id")),
            **placement,
        )
    raise UnsupportedAuth(f"http.auth.type {kind!r} is not supported yet.")


def _legacy_auth(
    rest: Mapping[str, Any],
    *,
    post: TokenPoster,
    clock: Callable[[], float],
    on_token: TokenListener | None,
    connection_id: str | None = None,
) -> Auth:
    kind = rest.get("authType")
    basic = rest.get("basicAuth") or {}
    placement: dict[str, Any] = {
        "location": rest.get("tokenLocation") or "header",
        "header_name": rest.get("authHeader") or "Authorization",
        "scheme": rest["authScheme"] if isinstance(rest.get("authScheme"), str) else "Bearer",
        "param_name": rest.get("tokenParam") or "access_token",
    }
    if kind == "basic" or (kind is None and basic.get("username")):
        return BasicAuthStyle(basic.get("username") or "", basic.get("password") or "")
    if kind == "oauth" and _text(rest.get("refreshToken")) and _text(rest.get("oauthTokenURI")):
        return OAuth2Auth(
            token_uri=rest["oauthTokenURI"],
            access_token=_text(rest.get("bearerToken")),
            refresh_token=rest["refreshToken"],
            client_id=None,
            client_secret=None,
            scope=list(rest.get("scope") or []) or None,
            scope_delimiter=rest.get("scopeDelimiter") or " ",
            credentials_location="body",
            post=post,
            clock=clock,
            on_token=on_token,
            connection_id=connection_id,
            **placement,
        )
    if kind in (None, "token", "oauth") and _text(rest.get("bearerToken")):
        return TokenAuth(rest["bearerToken"], **placement)
    if kind in (None, "custom", "token", "oauth"):
        return NoAuth()
    raise UnsupportedAuth(f"rest.authType {kind!r} is not supported yet.")
