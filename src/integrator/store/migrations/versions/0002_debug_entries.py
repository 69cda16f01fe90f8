"""Debug log entries of connections.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

from integrator.store.models import UTCDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "debug_entries",
        sa.Column("id", sa.String(24), primary_key=True),
        sa.Column(
            "account_id",
            sa.String(24),
            sa.ForeignKey("accounts.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("connection_id", sa.String(24), nullable=False),
        sa.Column("resource_id", sa.String(24)),
        sa.Column("time", UTCDateTime(), nullable=False),
        sa.Column("entry", sa.JSON()),
    )
    op.create_index(
        "ix_debug_connection_time", "debug_entries", ["account_id", "connection_id", "time"]
    )


def downgrade() -> None:
    op.drop_table("debug_entries")
