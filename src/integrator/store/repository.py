"""SQL for resources, their references, extras, state and audit. Every query is account-scoped:
a row of another account is never read, so it can never be returned, changed or detected."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, Row, bindparam, delete, select
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Session

from integrator.store.models import (
    AuditEvent,
    DebugEntry,
    Resource,
    ResourceExtra,
    ResourceRef,
    StateEntry,
)

FILTERABLE = re.compile(r"^_?[A-Za-z][A-Za-z0-9_]{0,63}$")


# Built once: constructing a SQLAlchemy statement costs more than running it on SQLite, and
# this one runs on every GET.
_GET_RESOURCE = select(Resource).where(
    Resource.id == bindparam("id"),
    Resource.account_id == bindparam("account_id"),
    Resource.type == bindparam("type"),
)


def get_resource(session: Session, account_id: str, type_: str, id_: str) -> Resource | None:
    """The resource as an ORM object, for changing it."""
    return session.scalar(_GET_RESOURCE, {"id": id_, "account_id": account_id, "type": type_})


_RESOURCES = Resource.__table__
_READ_RESOURCE = select(_RESOURCES).where(
    _RESOURCES.c.id == bindparam("id"),
    _RESOURCES.c.account_id == bindparam("account_id"),
    _RESOURCES.c.type == bindparam("type"),
)


_READ_VIEW = select(_RESOURCES.c.view).where(
    _RESOURCES.c.id == bindparam("id"),
    _RESOURCES.c.account_id == bindparam("account_id"),
    _RESOURCES.c.type == bindparam("type"),
)


_driver_sql: dict[str, tuple[str, tuple[str, ...] | None]] = {}


def _compiled_for(dialect: Dialect) -> tuple[str, tuple[str, ...] | None]:
    """``_READ_VIEW`` as the driver's own SQL, compiled once per dialect."""
    cached = _driver_sql.get(dialect.name)
    if cached is None:
        compiled = _READ_VIEW.compile(dialect=dialect)
        order = tuple(compiled.positiontup or ()) if compiled.positional else None
        cached = _driver_sql[dialect.name] = (compiled.string, order)
    return cached


def read_view(db: Session | Connection, account_id: str, type_: str, id_: str) -> str | None:
    """The stored response document of one resource (see ``Resource.view``).

    This is the query behind every ``GET /v1/{type}/{id}``. On a plain connection it runs on
    the driver's cursor with SQL compiled once: SQLAlchemy's per-execution bookkeeping costs
    about ten times the SQLite lookup itself.
    """
    params = {"id": id_, "account_id": account_id, "type": type_}
    if not isinstance(db, Connection):
        value: str | None = db.execute(_READ_VIEW, params).scalar()
        return value
    sql, order = _compiled_for(db.dialect)
    cursor = db.connection.cursor()
    try:
        cursor.execute(sql, tuple(params[name] for name in order) if order else params)
        row = cursor.fetchone()
    finally:
        cursor.close()
    return None if row is None else str(row[0])


def read_by_api_identifier(
    db: Session | Connection, account_id: str, api_identifier: str
) -> Row[Any] | None:
    """The export or import of this account with that ``apiIdentifier``."""
    return db.execute(
        select(_RESOURCES).where(
            _RESOURCES.c.api_identifier == api_identifier,
            _RESOURCES.c.account_id == account_id,
        )
    ).first()


def read_resource(
    db: Session | Connection, account_id: str, type_: str, id_: str
) -> Row[Any] | None:
    """The resource as a read-only row (same attribute names as ``Resource``).

    Core rather than ORM: on a pooled ``Connection`` this is several times cheaper, and reads
    are most of the API's traffic.
    """
    return db.execute(_READ_RESOURCE, {"id": id_, "account_id": account_id, "type": type_}).first()


def _filter_clause(key: str, value: str) -> ColumnElement[bool]:
    if key == "name":
        return Resource.name == value
    if key == "_id":
        return Resource.id == value
    if key == "_connectorId":
        return Resource.connector_id == value
    field = Resource.doc[key]
    if value in ("true", "false"):
        clause: ColumnElement[bool] = field.as_boolean() == (value == "true")
    else:
        clause = field.as_string() == value
    return clause


def list_views(
    db: Session | Connection,
    account_id: str,
    type_: str,
    filters: dict[str, str],
    skip: int,
    limit: int,
) -> list[str]:
    """The stored response documents of one type, in creation order; ``filters`` are equality
    on top-level fields."""
    query = select(_RESOURCES.c.view).where(
        _RESOURCES.c.account_id == account_id, _RESOURCES.c.type == type_
    )
    for key, value in filters.items():
        query = query.where(_filter_clause(key, value))
    query = query.order_by(_RESOURCES.c.id).offset(skip).limit(limit)
    return list(db.execute(query).scalars())


def existing_ids(
    session: Session,
    account_id: str,
    pairs: Iterable[tuple[str, str]],
    connector_id: str | None = None,
) -> set[str]:
    """Which of the ``(type, id)`` pairs exist in the account (the ids of those that do);
    with ``connector_id``, only among that connector's resources."""
    wanted = list(pairs)
    if not wanted:
        return set()
    query = select(Resource.id, Resource.type).where(
        Resource.account_id == account_id, Resource.id.in_({i for _, i in wanted})
    )
    if connector_id is not None:
        query = query.where(Resource.connector_id == connector_id)
    rows = session.execute(query).all()
    found = {(row.type, row.id) for row in rows}
    return {i for t, i in wanted if (t, i) in found}


def api_identifier_taken(session: Session, api_identifier: str) -> bool:
    return bool(
        session.scalar(select(Resource.id).where(Resource.api_identifier == api_identifier))
    )


def replace_references(
    session: Session, resource: Resource, refs: Iterable[tuple[str, str, str]]
) -> None:
    """Store the ``(path, to_type, to_id)`` references a resource makes, replacing old ones."""
    session.execute(delete(ResourceRef).where(ResourceRef.from_id == resource.id))
    session.add_all(
        ResourceRef(
            from_id=resource.id,
            path=path,
            account_id=resource.account_id,
            from_type=resource.type,
            to_type=to_type,
            to_id=to_id,
        )
        for path, to_type, to_id in refs
    )


def dependants(session: Session, account_id: str, id_: str) -> list[tuple[Resource, str]]:
    """Resources that refer to ``id_``, each with the path of the referring field."""
    rows = session.execute(
        select(Resource, ResourceRef.path)
        .join(ResourceRef, ResourceRef.from_id == Resource.id)
        .where(
            ResourceRef.account_id == account_id,
            ResourceRef.to_id == id_,
            Resource.id != id_,
        )
        .order_by(Resource.type, Resource.id, ResourceRef.path)
    ).all()
    return [(row[0], row[1]) for row in rows]


def references_of(session: Session, id_: str) -> list[ResourceRef]:
    return list(
        session.scalars(
            select(ResourceRef).where(ResourceRef.from_id == id_).order_by(ResourceRef.path)
        )
    )


def names_of(session: Session, account_id: str, ids: Iterable[str]) -> dict[str, str | None]:
    wanted = set(ids)
    if not wanted:
        return {}
    rows = session.execute(
        select(Resource.id, Resource.name).where(
            Resource.account_id == account_id, Resource.id.in_(wanted)
        )
    ).all()
    return {row.id: row.name for row in rows}


# --- extras (sub-documents such as ``distributed``) -------------------------------------------


def get_extra(session: Session, resource_id: str, kind: str) -> ResourceExtra | None:
    return session.get(ResourceExtra, (resource_id, kind))


def put_extra(
    session: Session, resource: Resource, kind: str, doc: dict[str, Any], now: datetime
) -> ResourceExtra:
    extra = session.get(ResourceExtra, (resource.id, kind))
    if extra is None:
        extra = ResourceExtra(resource_id=resource.id, kind=kind, account_id=resource.account_id)
        session.add(extra)
    extra.doc = doc
    extra.last_modified = now
    return extra


# --- state API -------------------------------------------------------------------------------


def state_keys(session: Session, account_id: str, scope_type: str, scope_id: str) -> list[str]:
    return list(
        session.scalars(
            select(StateEntry.key)
            .where(
                StateEntry.account_id == account_id,
                StateEntry.scope_type == scope_type,
                StateEntry.scope_id == scope_id,
            )
            .order_by(StateEntry.key)
        )
    )


def get_state(
    session: Session, account_id: str, scope_type: str, scope_id: str, key: str
) -> StateEntry | None:
    return session.get(StateEntry, (account_id, scope_type, scope_id, key))


def put_state(
    session: Session,
    account_id: str,
    scope_type: str,
    scope_id: str,
    key: str,
    value: Any,
    now: datetime,
) -> bool:
    """Create or replace a state value; True when it was created."""
    entry = session.get(StateEntry, (account_id, scope_type, scope_id, key))
    created = entry is None
    if entry is None:
        entry = StateEntry(account_id=account_id, scope_type=scope_type, scope_id=scope_id, key=key)
        session.add(entry)
    entry.value = value
    entry.last_modified = now
    return created


def delete_state(
    session: Session, account_id: str, scope_type: str, scope_id: str, key: str | None = None
) -> int:
    """Delete one key, or every key of the scope when ``key`` is None; return how many."""
    query = delete(StateEntry).where(
        StateEntry.account_id == account_id,
        StateEntry.scope_type == scope_type,
        StateEntry.scope_id == scope_id,
    )
    if key is not None:
        query = query.where(StateEntry.key == key)
    return int(session.execute(query).rowcount)  # type: ignore[attr-defined]


# --- audit -----------------------------------------------------------------------------------


def add_audit(session: Session, event: AuditEvent) -> None:
    session.add(event)


def list_audit(
    session: Session,
    account_id: str,
    *,
    resource_type: str | None = None,
    resource_id: str | None = None,
    by_user_id: str | None = None,
    source: str | None = None,
    action: str | None = None,
    time_from: datetime | None = None,
    time_to: datetime | None = None,
    skip: int = 0,
    limit: int = 100,
) -> Sequence[AuditEvent]:
    """Audit events of the account, newest first."""
    query = select(AuditEvent).where(AuditEvent.account_id == account_id)
    conditions = (
        (AuditEvent.resource_type, resource_type),
        (AuditEvent.resource_id, resource_id),
        (AuditEvent.by_user_id, by_user_id),
        (AuditEvent.source, source),
        (AuditEvent.action, action),
    )
    for column, value in conditions:
        if value is not None:
            query = query.where(column == value)
    if time_from is not None:
        query = query.where(AuditEvent.time >= time_from)
    if time_to is not None:
        query = query.where(AuditEvent.time <= time_to)
    query = query.order_by(AuditEvent.time.desc(), AuditEvent.id.desc()).offset(skip).limit(limit)
    return session.scalars(query).all()


# --- debug log -------------------------------------------------------------------------------

#: Entries kept per connection; older ones are dropped as new ones arrive.
DEBUG_ENTRIES_KEPT = 1000


def add_debug_entries(
    session: Session,
    account_id: str,
    connection_id: str,
    resource_id: str | None,
    entries: list[tuple[datetime, dict[str, Any]]],
    make_id: Callable[[], str],
) -> None:
    session.add_all(
        DebugEntry(
            id=make_id(),
            account_id=account_id,
            connection_id=connection_id,
            resource_id=resource_id,
            time=moment,
            entry=entry,
        )
        for moment, entry in entries
    )
    session.flush()
    cutoff = session.scalar(
        select(DebugEntry.time)
        .where(DebugEntry.account_id == account_id, DebugEntry.connection_id == connection_id)
        .order_by(DebugEntry.time.desc())
        .offset(DEBUG_ENTRIES_KEPT)
        .limit(1)
    )
    if cutoff is not None:
        session.execute(
            delete(DebugEntry).where(
                DebugEntry.account_id == account_id,
                DebugEntry.connection_id == connection_id,
                DebugEntry.time <= cutoff,
            )
        )


def list_debug_entries(
    db: Session | Connection,
    account_id: str,
    connection_id: str,
    resource_id: str | None,
    limit: int,
) -> list[Any]:
    """The connection's debug entries, newest first (only one export's or import's if asked)."""
    query = select(DebugEntry.entry, DebugEntry.resource_id).where(
        DebugEntry.account_id == account_id, DebugEntry.connection_id == connection_id
    )
    if resource_id is not None:
        query = query.where(DebugEntry.resource_id == resource_id)
    rows = db.execute(query.order_by(DebugEntry.time.desc()).limit(limit)).all()
    return [{**row.entry, "_resourceId": row.resource_id} for row in rows]
