"""SQLAlchemy tables.

Resource documents live whole in ``resources.doc`` (integrator.io-shaped JSON, secrets sealed as
``<field>_crypt``), with the columns the API filters and joins on promoted beside it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, DateTime, ForeignKey, Index, String, Text, TypeDecorator
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite keeps no zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, Any: JSON}


class Account(Base):
    __tablename__ = "accounts"

    id: Mapped[str] = mapped_column(String(24), primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ApiToken(Base):
    __tablename__ = "api_tokens"

    id: Mapped[str] = mapped_column(String(24), primary_key=True)
    account_id: Mapped[str] = mapped_column(
        String(24), ForeignKey("accounts.id", ondelete="CASCADE"), index=True
    )
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str | None] = mapped_column(String(100))
    connector_id: Mapped[str | None] = mapped_column(String(24))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class Resource(Base):
    __tablename__ = "resources"
    __table_args__ = (Index("ix_resources_account_type", "account_id", "type", "id"),)

    id: Mapped[str] = mapped_column(String(24), primary_key=True)
    account_id: Mapped[str] = mapped_column(
        String(24), ForeignKey("accounts.id", ondelete="CASCADE")
    )
    type: Mapped[str] = mapped_column(String(32))
    name: Mapped[str | None] = mapped_column(String(500))
    api_identifier: Mapped[str | None] = mapped_column(String(32), unique=True)
    connector_id: Mapped[str | None] = mapped_column(String(24))
    doc: Mapped[dict[str, Any]] = mapped_column(JSON)
    #: The document exactly as GET returns it (server fields added, secrets masked), serialised
    #: when the resource is written: reads, most of the traffic, then cost one indexed lookup.
    view: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_modified: Mapped[datetime] = mapped_column(UTCDateTime())


class ResourceRef(Base):
    """One reference from a resource to another (``_connectionId`` and friends).

    Kept in its own table so "who uses this?" (delete protection, ``/dependencies``) is one
    indexed query instead of a scan of every document.
    """

    __tablename__ = "resource_refs"
    __table_args__ = (Index("ix_resource_refs_target", "account_id", "to_id"),)

    from_id: Mapped[str] = mapped_column(
        String(24), ForeignKey("resources.id", ondelete="CASCADE"), primary_key=True
    )
    path: Mapped[str] = mapped_column(String(300), primary_key=True)
    account_id: Mapped[str] = mapped_column(String(24))
    from_type: Mapped[str] = mapped_column(String(32))
    to_type: Mapped[str] = mapped_column(String(32))
    to_id: Mapped[str] = mapped_column(String(24))


class ResourceExtra(Base):
    """A sub-document stored beside a resource, e.g. the ``distributed`` component of an export."""

    __tablename__ = "resource_extras"

    resource_id: Mapped[str] = mapped_column(
        String(24), ForeignKey("resources.id", ondelete="CASCADE"), primary_key=True
    )
    kind: Mapped[str] = mapped_column(String(32), primary_key=True)
    account_id: Mapped[str] = mapped_column(String(24), index=True)
    doc: Mapped[dict[str, Any]] = mapped_column(JSON)
    last_modified: Mapped[datetime] = mapped_column(UTCDateTime())


class StateEntry(Base):
    """A value of the state API: global (scope ``""``) or under one resource."""

    __tablename__ = "state_entries"

    account_id: Mapped[str] = mapped_column(
        String(24), ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True
    )
    scope_type: Mapped[str] = mapped_column(String(32), primary_key=True)
    scope_id: Mapped[str] = mapped_column(String(24), primary_key=True)
    key: Mapped[str] = mapped_column(String(500), primary_key=True)
    value: Mapped[Any] = mapped_column(JSON)
    last_modified: Mapped[datetime] = mapped_column(UTCDateTime())


class AuditEvent(Base):
    """One create, update or delete of a resource, with what changed (secrets masked)."""

    __tablename__ = "audit_events"
    __table_args__ = (
        Index("ix_audit_account_time", "account_id", "time"),
        Index("ix_audit_account_resource", "account_id", "resource_id"),
    )

    id: Mapped[str] = mapped_column(String(24), primary_key=True)
    account_id: Mapped[str] = mapped_column(
        String(24), ForeignKey("accounts.id", ondelete="CASCADE")
    )
    resource_type: Mapped[str] = mapped_column(String(32))
    resource_id: Mapped[str] = mapped_column(String(24))
    action: Mapped[str] = mapped_column(String(16))
    source: Mapped[str] = mapped_column(String(32))
    by_user_id: Mapped[str] = mapped_column(String(24))
    by_token_id: Mapped[str | None] = mapped_column(String(24))
    time: Mapped[datetime] = mapped_column(UTCDateTime())
    changes: Mapped[Any] = mapped_column(JSON)
    note: Mapped[str | None] = mapped_column(Text)


class DebugEntry(Base):
    """One request an adaptor sent for a connection in debug mode (``debugDate`` in the future,
    or ``debugUntil`` on the export/import), secrets already redacted."""

    __tablename__ = "debug_entries"
    __table_args__ = (Index("ix_debug_connection_time", "account_id", "connection_id", "time"),)

    id: Mapped[str] = mapped_column(String(24), primary_key=True)
    account_id: Mapped[str] = mapped_column(
        String(24), ForeignKey("accounts.id", ondelete="CASCADE")
    )
    connection_id: Mapped[str] = mapped_column(String(24))
    resource_id: Mapped[str | None] = mapped_column(String(24))
    time: Mapped[datetime] = mapped_column(UTCDateTime())
    entry: Mapped[Any] = mapped_column(JSON)
