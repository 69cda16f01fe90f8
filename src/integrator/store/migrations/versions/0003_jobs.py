"""Jobs, the page store, job errors with retry data, delta cutoffs and flow schedules.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

from integrator.store.models import UTCDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

ACTIVE = "flow_job_id IS NULL AND status IN ('running', 'canceling')"
QUEUED = "type = 'flow' AND status = 'queued'"


def _account() -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(
        "account_id",
        sa.String(24),
        sa.ForeignKey("accounts.id", ondelete="CASCADE"),
        nullable=False,
    )


def upgrade() -> None:
    op.create_table(
        "jobs",
        sa.Column("id", sa.String(24), primary_key=True),
        _account(),
        sa.Column("type", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("flow_id", sa.String(24)),
        sa.Column("flow_job_id", sa.String(24)),
        sa.Column("integration_id", sa.String(24)),
        sa.Column("export_id", sa.String(24)),
        sa.Column("import_id", sa.String(24)),
        sa.Column("retry_of_job_id", sa.String(24)),
        sa.Column("o_index", sa.Integer()),
        *(
            sa.Column(name, sa.Integer(), nullable=False, server_default="0")
            for name in (
                "num_success",
                "num_error",
                "num_ignore",
                "num_export",
                "num_pages_generated",
                "num_pages_processed",
                "generators",
                "generators_done",
            )
        ),
        sa.Column("options", sa.JSON()),
        sa.Column("message", sa.Text()),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("started_at", UTCDateTime()),
        sa.Column("ended_at", UTCDateTime()),
        sa.Column("last_modified", UTCDateTime(), nullable=False),
        sa.Column("heartbeat_at", UTCDateTime()),
    )
    op.create_index("ix_jobs_account_created", "jobs", ["account_id", "created_at"])
    op.create_index("ix_jobs_flow_job", "jobs", ["flow_job_id"])
    op.create_index("ix_jobs_flow_status", "jobs", ["flow_id", "status"])
    op.create_index(
        "uq_jobs_flow_active",
        "jobs",
        ["flow_id"],
        unique=True,
        sqlite_where=sa.text(ACTIVE),
        postgresql_where=sa.text(ACTIVE),
    )
    op.create_index(
        "uq_jobs_flow_queued",
        "jobs",
        ["flow_id"],
        unique=True,
        sqlite_where=sa.text(QUEUED),
        postgresql_where=sa.text(QUEUED),
    )
    op.create_table(
        "job_pages",
        sa.Column(
            "job_id", sa.String(24), sa.ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True
        ),
        sa.Column("generator", sa.Integer(), primary_key=True),
        sa.Column("page_index", sa.Integer(), primary_key=True),
        sa.Column("records", sa.LargeBinary()),
        sa.Column("processed", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.create_table(
        "job_errors",
        sa.Column("id", sa.String(24), primary_key=True),
        _account(),
        sa.Column("flow_id", sa.String(24)),
        sa.Column("flow_job_id", sa.String(24), nullable=False),
        sa.Column("job_id", sa.String(24)),
        sa.Column("step_id", sa.String(24), nullable=False),
        sa.Column("o_index", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("code", sa.String(100), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("source", sa.String(40), nullable=False),
        sa.Column("occurred_at", UTCDateTime(), nullable=False),
        sa.Column("trace_key", sa.String(200)),
        sa.Column("retry_data_key", sa.String(32)),
        sa.Column("retry_data", sa.JSON()),
        sa.Column("stage", sa.String(40)),
        sa.Column("resolved", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("resolved_at", UTCDateTime()),
        sa.Column("resolved_by", sa.String(24)),
        sa.Column("retry_job_id", sa.String(24)),
    )
    op.create_index(
        "ix_job_errors_step", "job_errors", ["account_id", "flow_id", "step_id", "resolved"]
    )
    op.create_index("ix_job_errors_flow_job", "job_errors", ["flow_job_id"])
    op.create_index("ix_job_errors_job", "job_errors", ["job_id"])
    op.create_index("ix_job_errors_retry_data_key", "job_errors", ["retry_data_key"])
    op.create_table(
        "export_cutoffs",
        sa.Column("flow_id", sa.String(24), primary_key=True),
        sa.Column("export_id", sa.String(24), primary_key=True),
        _account(),
        sa.Column("last_export_datetime", UTCDateTime(), nullable=False),
    )
    op.create_table(
        "flow_schedules",
        sa.Column("flow_id", sa.String(24), primary_key=True),
        sa.Column("generator", sa.String(24), primary_key=True),
        _account(),
        sa.Column("schedule", sa.String(200), nullable=False),
        sa.Column("timezone", sa.String(64), nullable=False),
        sa.Column("next_run_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_flow_schedules_due", "flow_schedules", ["next_run_at"])


def downgrade() -> None:
    for table in ("flow_schedules", "export_cutoffs", "job_errors", "job_pages", "jobs"):
        op.drop_table(table)
