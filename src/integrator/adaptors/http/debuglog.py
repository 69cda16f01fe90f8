"""A connection's request log, and the redaction that keeps secrets out of it.

integrator.io records requests and responses while a connection's ``debugDate`` is in the
future (reference §2.1, §9). ``DebugLog`` is the in-memory half of that: a small, thread-safe ring
buffer of one entry per HTTP attempt. Whoever persists it (``GET /connections/{id}/debug``) reads
``entries()``; the HTTP client only appends.

Nothing secret may reach an entry or a log line, so every URL and header passes through a
``Redactor`` built from the connection's credentials first:

>>> redactor = Redactor(secrets=["s3cr3t"], param_names=["api_key"])
>>> redactor.url("https://api.example.com/v1/items?api_key=s3cr3t&page=2")
'https://api.example.com/v1/items?api_key=******&page=2'
>>> redactor.headers({"Authorization": "Bearer s3cr3t", "Accept": "application/json"})
{'Authorization': '******', 'Accept': 'application/json'}
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

MASK = "******"

#: Query parameters whose value is a credential whatever the connection says.
SECRET_PARAMS = frozenset(
    {
        "access_token",
        "token",
        "api_key",
        "apikey",
        "key",
        "password",
        "secret",
        "client_secret",
        "refresh_token",
        "signature",
    }
)

#: Headers whose value is a credential whatever the connection says.
SECRET_HEADERS = frozenset(
    {"authorization", "proxy-authorization", "cookie", "set-cookie", "x-api-key", "api-key"}
)


class Redactor:
    """Masks credentials in URLs, headers and free text.

    ``secrets`` are literal values (tokens, passwords) masked wherever they appear;
    ``param_names``/``header_names`` add query parameters and headers to the built-in lists
    (e.g. a connection's ``tokenParam`` or ``headerName``). Secrets learnt later, such as a
    refreshed OAuth token, are added with ``add_secret``.
    """

    def __init__(
        self,
        secrets: Iterable[str] = (),
        *,
        param_names: Iterable[str] = (),
        header_names: Iterable[str] = (),
    ) -> None:
        self._lock = threading.Lock()
        self._secrets: set[str] = set()
        self._params = SECRET_PARAMS | {name.lower() for name in param_names if name}
        self._headers = SECRET_HEADERS | {name.lower() for name in header_names if name}
        for secret in secrets:
            self.add_secret(secret)

    def add_secret(self, secret: str | None) -> None:
        """Mask ``secret`` from now on; values under 4 characters are ignored (too common)."""
        if secret and len(secret) >= 4:
            with self._lock:
                self._secrets.add(secret)

    def text(self, text: str) -> str:
        """``text`` with every known secret replaced by the mask, longest first."""
        with self._lock:
            secrets = sorted(self._secrets, key=len, reverse=True)
        for secret in secrets:
            if secret in text:
                text = text.replace(secret, MASK)
        return text

    def url(self, url: str) -> str:
        """``url`` with credential query values and any user-info password masked."""
        parts = urlsplit(url)
        netloc = parts.netloc
        if "@" in netloc:
            userinfo, _, host = netloc.rpartition("@")
            user = userinfo.split(":", 1)[0]
            netloc = f"{user}:{MASK}@{host}" if ":" in userinfo else netloc
        query = parts.query
        if query:
            pairs = parse_qsl(query, keep_blank_values=True)
            masked = [(k, MASK if k.lower() in self._params else v) for k, v in pairs]
            query = urlencode(masked, safe="*")
        return self.text(urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment)))

    def headers(self, headers: Mapping[str, str]) -> dict[str, str]:
        """A copy of ``headers`` with credential headers masked entirely."""
        return {
            name: MASK if name.lower() in self._headers else self.text(value)
            for name, value in headers.items()
        }


class DebugLog:
    """The last ``maxlen`` request attempts of a connection, oldest first.

    Each entry is a plain dict (already redacted) such as::

        {"time": 1718000000.0, "method": "GET", "url": "https://api.example.com/v1/items",
         "requestHeaders": {"Authorization": "******"}, "status": 429, "durationMs": 12.5,
         "attempt": 1, "retry": "rate limited: waiting 2s (Retry-After)", "error": None}
    """

    def __init__(self, maxlen: int = 1000) -> None:
        self._entries: deque[dict[str, Any]] = deque(maxlen=maxlen)
        self._lock = threading.Lock()

    def record(self, entry: Mapping[str, Any]) -> None:
        """Append one entry (the caller redacts it first)."""
        with self._lock:
            self._entries.append(dict(entry))

    def entries(self) -> list[dict[str, Any]]:
        """A snapshot of the entries, oldest first; safe to read while requests run."""
        with self._lock:
            return [dict(entry) for entry in self._entries]

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)
