"""Which adaptor serves a connection, by its ``type``: the one place that knows them all.

Each adaptor subpackage implements the same small interface (ping, export pages, import
records, lookups); adding an adaptor means adding its subpackage and a line here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

from integrator.adaptors.http.client import ConnectionClient, PingFailed
from integrator.adaptors.http.export import export_pages
from integrator.adaptors.http.imports import import_records as import_http


class AdaptorUnavailable(Exception):
    """No adaptor for this connection type is installed yet."""


def _ping_http(connection: Mapping[str, Any]) -> None:
    with ConnectionClient(dict(connection), max_attempts=2, timeout=30.0) as client:
        client.ping()


PINGS: dict[str, Callable[[Mapping[str, Any]], None]] = {
    "http": _ping_http,
    "rest": _ping_http,
}


def _export_http(
    export: Mapping[str, Any], connection: Mapping[str, Any], limit: int
) -> tuple[list[dict[str, Any]], bool]:
    records: list[dict[str, Any]] = []
    for page in export_pages(export, connection):
        records.extend(page)
        if len(records) > limit:
            return records[:limit], True
    return records, False


EXPORTS: dict[
    str, Callable[[Mapping[str, Any], Mapping[str, Any], int], tuple[list[dict[str, Any]], bool]]
] = {
    "http": _export_http,
    "rest": _export_http,
}


def iter_export_pages(
    export: Mapping[str, Any], connection: Mapping[str, Any]
) -> Iterator[list[dict[str, Any]]]:
    """The export's records in platform pages (``pageSize``), fetched as they are read."""
    kind = str(connection.get("type"))
    if kind not in ("http", "rest"):
        raise AdaptorUnavailable(f"Exports from connections of type '{kind}' are not built yet.")
    return export_pages(export, connection)


def export_records(
    export: Mapping[str, Any], connection: Mapping[str, Any], limit: int
) -> tuple[list[dict[str, Any]], bool]:
    """Run an export to the end and return its records (at most ``limit``) and whether it had
    more. ``connection`` is unsealed. Raises the adaptor's errors (``ExportError``...)."""
    kind = str(connection.get("type"))
    runner = EXPORTS.get(kind)
    if runner is None:
        raise AdaptorUnavailable(f"Exports from connections of type '{kind}' are not built yet.")
    return runner(export, connection, limit)


IMPORTS: dict[
    str, Callable[[dict[str, Any], dict[str, Any], list[dict[str, Any]]], list[dict[str, Any]]]
] = {
    "http": lambda doc, connection, records: import_http(doc, connection, records),
    "rest": lambda doc, connection, records: import_http(doc, connection, records),
}


def import_records(
    import_doc: Mapping[str, Any], connection: Mapping[str, Any], records: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Send records through an import; one result per record, in order (``statusCode``,
    ``id``, ``_json``, ``errors``, ``ignored``). ``connection`` is unsealed."""
    kind = str(connection.get("type"))
    runner = IMPORTS.get(kind)
    if runner is None:
        raise AdaptorUnavailable(f"Imports into connections of type '{kind}' are not built yet.")
    return runner(dict(import_doc), dict(connection), records)


def ping(connection: Mapping[str, Any]) -> None:
    """Test an unsealed connection document: None when it works, else ``PingFailed`` saying why
    (``AdaptorUnavailable`` for a type whose adaptor is not written yet)."""
    kind = str(connection.get("type"))
    tester = PINGS.get(kind)
    if tester is None:
        raise AdaptorUnavailable(f"Connections of type '{kind}' cannot be pinged yet.")
    tester(connection)


__all__ = [
    "AdaptorUnavailable",
    "PingFailed",
    "export_records",
    "import_records",
    "iter_export_pages",
    "ping",
]
