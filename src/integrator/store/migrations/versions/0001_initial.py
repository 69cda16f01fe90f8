"""Accounts, tokens, resources, references, extras, state and audit.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

from integrator.store.models import UTCDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "accounts",
        sa.Column("id", sa.String(24), primary_key=True),
        sa.Column("name", sa.String(100), nullable=False, unique=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.String(24), primary_key=True),
        sa.Column(
            "account_id",
            sa.String(24),
            sa.ForeignKey("accounts.id", ondelete="CASCADE"),
            nullable=False,
            index=True,
        ),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("name", sa.String(100)),
        sa.Column("connector_id", sa.String(24)),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("revoked_at", UTCDateTime()),
    )
    op.create_table(
        "resources",
        sa.Column("id", sa.String(24), primary_key=True),
        sa.Column(
            "account_id",
            sa.String(24),
            sa.ForeignKey("accounts.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("type", sa.String(32), nullable=False),
        sa.Column("name", sa.String(500)),
        sa.Column("api_identifier", sa.String(32), unique=True),
        sa.Column("connector_id", sa.String(24)),
        sa.Column("doc", sa.JSON(), nullable=False),
        sa.Column("view", sa.Text(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("last_modified", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_resources_account_type", "resources", ["account_id", "type", "id"])
    op.create_table(
        "resource_refs",
        sa.Column(
            "from_id",
            sa.String(24),
            sa.ForeignKey("resources.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("path", sa.String(300), primary_key=True),
        sa.Column("account_id", sa.String(24), nullable=False),
        sa.Column("from_type", sa.String(32), nullable=False),
        sa.Column("to_type", sa.String(32), nullable=False),
        sa.Column("to_id", sa.String(24), nullable=False),
    )
    op.create_index("ix_resource_refs_target", "resource_refs", ["account_id", "to_id"])
    op.create_table(
        "resource_extras",
        sa.Column(
            "resource_id",
            sa.String(24),
            sa.ForeignKey("resources.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("kind", sa.String(32), primary_key=True),
        sa.Column("account_id", sa.String(24), nullable=False, index=True),
        sa.Column("doc", sa.JSON(), nullable=False),
        sa.Column("last_modified", UTCDateTime(), nullable=False),
    )
    op.create_table(
        "state_entries",
        sa.Column(
            "account_id",
            sa.String(24),
            sa.ForeignKey("accounts.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("scope_type", sa.String(32), primary_key=True),
        sa.Column("scope_id", sa.String(24), primary_key=True),
        sa.Column("key", sa.String(500), primary_key=True),
        sa.Column("value", sa.JSON()),
        sa.Column("last_modified", UTCDateTime(), nullable=False),
    )
    op.create_table(
        "audit_events",
        sa.Column("id", sa.String(24), primary_key=True),
        sa.Column(
            "account_id",
            sa.String(24),
            sa.ForeignKey("accounts.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("resource_type", sa.String(32), nullable=False),
        sa.Column("resource_id", sa.String(24), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("source", sa.String(32), nullable=False),
        sa.Column("by_user_id", sa.String(24), nullable=False),
        sa.Column("by_token_id", sa.String(24)),
        sa.Column("time", UTCDateTime(), nullable=False),
        sa.Column("changes", sa.JSON()),
        sa.Column("note", sa.Text()),
    )
    op.create_index("ix_audit_account_time", "audit_events", ["account_id", "time"])
    op.create_index("ix_audit_account_resource", "audit_events", ["account_id", "resource_id"])


def downgrade() -> None:
    for table in (
        "audit_events",
        "state_entries",
        "resource_extras",
        "resource_refs",
        "resources",
        "api_tokens",
        "accounts",
    ):
        op.drop_table(table)
