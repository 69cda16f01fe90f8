"""SQLAlchemy tables.

Resource documents live whole in ``resources.doc`` (integrator.io-shaped JSON, secrets sealed as
``<field>_crypt``), with the columns the API filters and joins on promoted beside it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    TypeDecorator,
    text,
)
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
    #: When a one-time token stops working (None: an account's own token, until revoked).
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)
    #: What the token may do: None is everything; ``invoke`` and ``connector`` are the
    #: one-time tokens of hooks (``integrator.hooks.tokens``).
    scope: Mapped[str | None] = mapped_column(String(16))


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


#: Parent job types (one flow run or one retry); children are ``export`` and ``import``.
PARENT_JOB_TYPES = ("flow", "retry")
#: A parent job in one of these holds its flow: no other parent job of the flow may start.
ACTIVE_STATUSES = ("running", "canceling")


class Job(Base):
    """A run of a flow (``type: flow``), of a retry (``retry``), or of one step of either
    (``export``/``import`` children, ``flow_job_id`` naming the parent).

    Two partial unique indexes make the database enforce the run rules: at most one running
    parent job per flow, and at most one queued flow job per flow (further triggers coalesce).
    """

    __tablename__ = "jobs"
    __table_args__ = (
        Index("ix_jobs_account_created", "account_id", "created_at"),
        Index("ix_jobs_flow_job", "flow_job_id"),
        Index("ix_jobs_flow_status", "flow_id", "status"),
        Index(
            "uq_jobs_flow_active",
            "flow_id",
            unique=True,
            sqlite_where=text("flow_job_id IS NULL AND status IN ('running', 'canceling')"),
            postgresql_where=text("flow_job_id IS NULL AND status IN ('running', 'canceling')"),
        ),
        Index(
            "uq_jobs_flow_queued",
            "flow_id",
            unique=True,
            sqlite_where=text("type = 'flow' AND status = 'queued'"),
            postgresql_where=text("type = 'flow' AND status = 'queued'"),
        ),
    )

    id: Mapped[str] = mapped_column(String(24), primary_key=True)
    account_id: Mapped[str] = mapped_column(
        String(24), ForeignKey("accounts.id", ondelete="CASCADE")
    )
    type: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))
    flow_id: Mapped[str | None] = mapped_column(String(24))
    flow_job_id: Mapped[str | None] = mapped_column(String(24))
    integration_id: Mapped[str | None] = mapped_column(String(24))
    export_id: Mapped[str | None] = mapped_column(String(24))
    import_id: Mapped[str | None] = mapped_column(String(24))
    retry_of_job_id: Mapped[str | None] = mapped_column(String(24))
    #: Step order of a child job (integrator.io's ``oIndex``): generator or processor index.
    o_index: Mapped[int | None] = mapped_column(Integer)
    num_success: Mapped[int] = mapped_column(Integer, default=0)
    num_error: Mapped[int] = mapped_column(Integer, default=0)
    num_ignore: Mapped[int] = mapped_column(Integer, default=0)
    num_export: Mapped[int] = mapped_column(Integer, default=0)
    num_pages_generated: Mapped[int] = mapped_column(Integer, default=0)
    num_pages_processed: Mapped[int] = mapped_column(Integer, default=0)
    #: Page generators of a parent job that have finished (done or failed) out of ``generators``.
    generators: Mapped[int] = mapped_column(Integer, default=0)
    generators_done: Mapped[int] = mapped_column(Integer, default=0)
    #: What the trigger asked for: ``_exportIds``, ``startDate``/``endDate``, retry keys.
    options: Mapped[Any] = mapped_column(JSON, default=None)
    #: Why a job failed or was canceled, for people reading it.
    message: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_modified: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    #: Last sign of life of the worker running the export (scale-out resumes stale jobs).
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class JobPage(Base):
    """The page store: one exported page waiting for (or done with) its page processors.

    Keyed by job, generator and page index, so storing a page twice (a redelivered export task)
    is a no-op and processing it twice is detected. Records are orjson bytes.
    """

    __tablename__ = "job_pages"

    job_id: Mapped[str] = mapped_column(
        String(24), ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True
    )
    generator: Mapped[int] = mapped_column(Integer, primary_key=True)
    page_index: Mapped[int] = mapped_column(Integer, primary_key=True)
    records: Mapped[bytes | None] = mapped_column(LargeBinary)
    processed: Mapped[bool] = mapped_column(Boolean, default=False)


class JobError(Base):
    """A record that failed at one step of a flow, with what is needed to retry it."""

    __tablename__ = "job_errors"
    __table_args__ = (
        Index("ix_job_errors_step", "account_id", "flow_id", "step_id", "resolved"),
        Index("ix_job_errors_flow_job", "flow_job_id"),
        Index("ix_job_errors_job", "job_id"),
    )

    id: Mapped[str] = mapped_column(String(24), primary_key=True)
    account_id: Mapped[str] = mapped_column(
        String(24), ForeignKey("accounts.id", ondelete="CASCADE")
    )
    flow_id: Mapped[str | None] = mapped_column(String(24))
    #: The flow job the error belongs to (a retry's errors stay with the original flow job).
    flow_job_id: Mapped[str] = mapped_column(String(24))
    #: The child (export or import) job where it happened.
    job_id: Mapped[str | None] = mapped_column(String(24))
    #: The export or import the failing step runs.
    step_id: Mapped[str] = mapped_column(String(24))
    o_index: Mapped[int] = mapped_column(Integer, default=0)
    code: Mapped[str] = mapped_column(String(100))
    message: Mapped[str] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(40))
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    trace_key: Mapped[str | None] = mapped_column(String(200))
    retry_data_key: Mapped[str | None] = mapped_column(String(32), index=True)
    #: The record as it entered the failing step (None when the flow skips retries).
    retry_data: Mapped[Any] = mapped_column(JSON(none_as_null=True), default=None)
    #: Where a retry starts: ``pageProcessors.<n>`` (integrator.io's retry ``stage``).
    stage: Mapped[str | None] = mapped_column(String(40))
    resolved: Mapped[bool] = mapped_column(Boolean, default=False)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    resolved_by: Mapped[str | None] = mapped_column(String(24))
    #: The retry job that last tried this record, if any.
    retry_job_id: Mapped[str | None] = mapped_column(String(24))


class ExportCutoff(Base):
    """A delta export's ``lastExportDateTime`` in one flow, written only when a run succeeds."""

    __tablename__ = "export_cutoffs"

    flow_id: Mapped[str] = mapped_column(String(24), primary_key=True)
    export_id: Mapped[str] = mapped_column(String(24), primary_key=True)
    account_id: Mapped[str] = mapped_column(
        String(24), ForeignKey("accounts.id", ondelete="CASCADE")
    )
    last_export_datetime: Mapped[datetime] = mapped_column(UTCDateTime())


class FlowSchedule(Base):
    """When a scheduled flow (``generator`` ``""``) or one page generator with its own
    ``schedule`` (``generator`` = its export id) is next due. The scheduler advances
    ``next_run_at`` with a compare-and-set, so two schedulers never start the same run twice."""

    __tablename__ = "flow_schedules"
    __table_args__ = (Index("ix_flow_schedules_due", "next_run_at"),)

    flow_id: Mapped[str] = mapped_column(String(24), primary_key=True)
    generator: Mapped[str] = mapped_column(String(24), primary_key=True)
    account_id: Mapped[str] = mapped_column(
        String(24), ForeignKey("accounts.id", ondelete="CASCADE")
    )
    schedule: Mapped[str] = mapped_column(String(200))
    timezone: Mapped[str] = mapped_column(String(64))
    next_run_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ScriptLog(Base):
    """One line a script logged while a hook ran (``console.log``, ``print``); only the newest
    lines of each script are kept (``integrator.hooks.logs``). Deleting the script deletes them."""

    __tablename__ = "script_logs"
    __table_args__ = (Index("ix_script_logs_script", "script_id", "id"),)

    #: Insertion order: lines read back oldest first by it.
    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True
    )
    account_id: Mapped[str] = mapped_column(String(24))
    script_id: Mapped[str] = mapped_column(
        String(24), ForeignKey("resources.id", ondelete="CASCADE")
    )
    time: Mapped[datetime] = mapped_column(UTCDateTime())
    level: Mapped[str] = mapped_column(String(16))
    message: Mapped[str] = mapped_column(Text)
    function: Mapped[str | None] = mapped_column(String(200))
    flow_id: Mapped[str | None] = mapped_column(String(24))
    job_id: Mapped[str | None] = mapped_column(String(24))


class WebhookDelivery(Base):
    """Records a webhook listener accepted, waiting for a job of a flow that reads it.

    One row per listening flow (a delivery to an export two flows read is stored twice). A
    job's export task claims rows (``job_id``, ``page_index``) and deletes them in the
    transaction that stores their page, so a delivery is handed to exactly one job page.
    """

    __tablename__ = "webhook_deliveries"
    __table_args__ = (Index("ix_webhook_deliveries_claim", "flow_id", "job_id", "id"),)

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True
    )
    account_id: Mapped[str] = mapped_column(String(24))
    export_id: Mapped[str] = mapped_column(String(24))
    #: None: no flow listened when it arrived (kept, never processed).
    flow_id: Mapped[str | None] = mapped_column(String(24))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())
    #: The delivery's records, orjson bytes.
    records: Mapped[bytes] = mapped_column(LargeBinary)
    count: Mapped[int] = mapped_column(Integer)
    job_id: Mapped[str | None] = mapped_column(String(24))
    page_index: Mapped[int | None] = mapped_column(Integer)


class WebhookKey(Base):
    """A dedupe key a listener saw, until ``expires_at`` (its window)."""

    __tablename__ = "webhook_keys"
    __table_args__ = (Index("ix_webhook_keys_expires_at", "expires_at"),)

    export_id: Mapped[str] = mapped_column(String(24), primary_key=True)
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
