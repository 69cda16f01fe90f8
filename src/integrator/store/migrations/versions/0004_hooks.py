"""Hooks: one-time tokens (``api_tokens.expires_at`` and ``scope``) and scripts' logs.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

from integrator.store.models import UTCDateTime

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("api_tokens") as batch:
        batch.add_column(sa.Column("expires_at", UTCDateTime()))
        batch.add_column(sa.Column("scope", sa.String(16)))
        batch.create_index("ix_api_tokens_expires_at", ["expires_at"])
    op.create_table(
        "script_logs",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column("account_id", sa.String(24), nullable=False),
        sa.Column(
            "script_id",
            sa.String(24),
            sa.ForeignKey("resources.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("time", UTCDateTime(), nullable=False),
        sa.Column("level", sa.String(16), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("function", sa.String(200)),
        sa.Column("flow_id", sa.String(24)),
        sa.Column("job_id", sa.String(24)),
    )
    # Leads with script_id: the cascade from a deleted resource looks its lines up by it.
    op.create_index("ix_script_logs_script", "script_logs", ["script_id", "id"])


def downgrade() -> None:
    op.drop_table("script_logs")
    with op.batch_alter_table("api_tokens") as batch:
        batch.drop_index("ix_api_tokens_expires_at")
        batch.drop_column("scope")
        batch.drop_column("expires_at")
