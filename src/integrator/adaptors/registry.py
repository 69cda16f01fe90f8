"""Which adaptor serves a connection, by its ``type``: the one place that knows them all.

Each adaptor subpackage implements the same small interface (ping, export pages, import
records, lookups); adding an adaptor means adding its subpackage and a line here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from integrator.adaptors.http.client import ConnectionClient, PingFailed


class AdaptorUnavailable(Exception):
    """No adaptor for this connection type is installed yet."""


def _ping_http(connection: Mapping[str, Any]) -> None:
    with ConnectionClient(dict(connection), max_attempts=2, timeout=30.0) as client:
        client.ping()


PINGS: dict[str, Callable[[Mapping[str, Any]], None]] = {
    "http": _ping_http,
    "rest": _ping_http,
}


def ping(connection: Mapping[str, Any]) -> None:
    """Test an unsealed connection document: None when it works, else ``PingFailed`` saying why
    (``AdaptorUnavailable`` for a type whose adaptor is not written yet)."""
    kind = str(connection.get("type"))
    tester = PINGS.get(kind)
    if tester is None:
        raise AdaptorUnavailable(f"Connections of type '{kind}' cannot be pinged yet.")
    tester(connection)


__all__ = ["AdaptorUnavailable", "PingFailed", "ping"]
