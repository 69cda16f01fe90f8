"""Database engines for the embedded default (SQLite) and PostgreSQL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker


def _json_dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


def make_engine(url: str) -> Engine:
    """Create the engine for ``url``.

    SQLite gets WAL (readers never block the writer), a busy timeout (writers queue instead of
    failing with "database is locked") and foreign keys on. Documents are (de)serialised with
    orjson, which is several times faster than the standard library on the API's hot path.
    """
    kwargs: dict[str, Any] = {
        "json_serializer": _json_dumps,
        "json_deserializer": orjson.loads,
    }
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
        # One pooled connection per API worker thread (anyio's default pool is 40 threads):
        # opening SQLite connections per request costs more than the query.
        kwargs.update(pool_size=40, max_overflow=10)
        engine = create_engine(url, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        with engine.connect() as connection:
            # WAL is a property of the database file: set it once, not on every connection.
            connection.exec_driver_sql("PRAGMA journal_mode=WAL")
        return engine
    if url.startswith("postgresql"):
        kwargs.update(pool_size=10, max_overflow=20, pool_pre_ping=True)
    return create_engine(url, **kwargs)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions that keep loaded objects usable after commit (we return them to the API)."""
    return sessionmaker(engine, expire_on_commit=False)
