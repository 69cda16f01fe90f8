"""Which adaptor serves a connection, by its ``type``: the one place that knows them all.

Each adaptor implements the same small interface (ping, export pages, import records); adding
one means adding its subpackage and its types here. Every function takes the unsealed
connection document, an optional ``DebugLog`` that records each request made, and an optional
``on_token`` told about each new OAuth token (to store it on the connection). Wrapper
connections run custom code: their calls need ``extensions``, the hook runner bound to the
caller (HTTP connections ignore it).
"""

from __future__ import annotations

from collections.abc import Generator, Mapping
from typing import Any

from integrator.adaptors import wrapper
from integrator.adaptors.http.auth import TokenListener
from integrator.adaptors.http.client import ConnectionClient, DebugLog, PingFailed
from integrator.adaptors.http.export import export_pages, mark_exported
from integrator.adaptors.http.imports import PostMap
from integrator.adaptors.http.imports import import_records as import_http
from integrator.engine.hooks import Extensions

#: Connection types with an adaptor.
HTTP_TYPES = frozenset({"http", "rest"})

Records = list[dict[str, Any]]


class AdaptorUnavailable(Exception):
    """No adaptor for this connection type is installed yet."""


def _is_wrapper(connection: Mapping[str, Any]) -> bool:
    return connection.get("type") == "wrapper"


def _extensions(extensions: Extensions | None) -> Extensions:
    if extensions is None:
        raise AdaptorUnavailable("Wrapper connections cannot run here: no hook runner.")
    return extensions


def _http_client(
    connection: Mapping[str, Any],
    debug: DebugLog | None,
    on_token: TokenListener | None = None,
    **options: Any,
) -> ConnectionClient:
    kind = str(connection.get("type"))
    if kind not in HTTP_TYPES:
        raise AdaptorUnavailable(f"Connections of type '{kind}' are not supported yet.")
    return ConnectionClient(dict(connection), debug=debug, on_token=on_token, **options)


def ping(
    connection: Mapping[str, Any],
    debug: DebugLog | None = None,
    on_token: TokenListener | None = None,
    *,
    extensions: Extensions | None = None,
) -> None:
    """None when the connection answers its ping, else ``PingFailed`` saying why
    (``AdaptorUnavailable`` for a type whose adaptor is not written yet)."""
    if _is_wrapper(connection):
        wrapper.ping(connection, _extensions(extensions))
        return
    with _http_client(connection, debug, on_token, max_attempts=2, timeout=30.0) as client:
        client.ping()


def iter_export_pages(
    export: Mapping[str, Any],
    connection: Mapping[str, Any],
    debug: DebugLog | None = None,
    on_token: TokenListener | None = None,
    *,
    context: Mapping[str, Any] | None = None,
    mark: bool = True,
    extensions: Extensions | None = None,
) -> Generator[Records, None, None]:
    """The export's records in platform pages (``pageSize``), fetched as they are read.

    ``context`` adds template values (a delta window's ``lastExportDateTime``, a lookup's
    ``record``). For ``once`` exports with ``mark``, each page is marked exported once the
    reader asks for the next one; flows pass ``mark=False`` and call ``mark_records`` after
    the page has been processed. A wrapper's ``once`` export marks its own records.
    """
    if _is_wrapper(connection):
        yield from wrapper.export_pages(
            export, connection, _extensions(extensions), context=context
        )
        return
    client = _http_client(connection, debug, on_token)
    try:
        for page in export_pages(export, connection, client=client, context=context):
            yield page
            if mark:
                mark_exported(export, page, client)
    finally:
        client.close()


def mark_records(
    export: Mapping[str, Any],
    connection: Mapping[str, Any],
    records: Records,
    debug: DebugLog | None = None,
    on_token: TokenListener | None = None,
) -> int:
    """Mark records of a ``once`` export as exported; how many marks failed."""
    if _is_wrapper(connection):
        return 0
    with _http_client(connection, debug, on_token) as client:
        return mark_exported(export, records, client)


def export_records(
    export: Mapping[str, Any],
    connection: Mapping[str, Any],
    limit: int,
    debug: DebugLog | None = None,
    on_token: TokenListener | None = None,
    *,
    context: Mapping[str, Any] | None = None,
    extensions: Extensions | None = None,
) -> tuple[Records, bool]:
    """Run an export to the end: its records (at most ``limit``) and whether it had more."""
    records: Records = []
    pages = iter_export_pages(
        export, connection, debug, on_token, context=context, extensions=extensions
    )
    try:
        for page in pages:
            if len(records) + len(page) > limit:
                # The records past the limit are not returned, so they must not be marked.
                records.extend(page[: limit - len(records)])
                return records, True
            records.extend(page)
    finally:
        pages.close()
    return records, False


def import_records(
    import_doc: Mapping[str, Any],
    connection: Mapping[str, Any],
    records: Records,
    debug: DebugLog | None = None,
    on_token: TokenListener | None = None,
    *,
    post_map: PostMap | None = None,
    extensions: Extensions | None = None,
) -> Records:
    """Send records through an import; one result per record, in order (``statusCode``,
    ``id``, ``_json``, ``errors``, ``ignored``). ``post_map`` sees the mapped page before it is
    sent (the flow's postMap hook)."""
    if _is_wrapper(connection):
        return wrapper.import_records(
            import_doc, connection, records, _extensions(extensions), post_map=post_map
        )
    attempts = import_doc.get("maxAttempts")
    attempts = attempts if isinstance(attempts, int) and attempts > 0 else 5
    with _http_client(connection, debug, on_token, max_attempts=attempts) as client:
        return import_http(
            dict(import_doc), dict(connection), records, client=client, post_map=post_map
        )


__all__ = [
    "AdaptorUnavailable",
    "PingFailed",
    "export_records",
    "import_records",
    "iter_export_pages",
    "mark_records",
    "ping",
]
