"""Webhook listeners: deliveries accepted and waiting for their flow's job, and dedupe keys.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

from integrator.store.models import UTCDateTime

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "webhook_deliveries",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column("account_id", sa.String(24), nullable=False),
        sa.Column("export_id", sa.String(24), nullable=False),
        sa.Column("flow_id", sa.String(24)),
        sa.Column("received_at", UTCDateTime(), nullable=False),
        sa.Column("records", sa.LargeBinary(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("job_id", sa.String(24)),
        sa.Column("page_index", sa.Integer()),
    )
    op.create_index(
        "ix_webhook_deliveries_claim", "webhook_deliveries", ["flow_id", "job_id", "id"]
    )
    op.create_table(
        "webhook_keys",
        sa.Column("export_id", sa.String(24), primary_key=True),
        sa.Column("key", sa.String(200), primary_key=True),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_webhook_keys_expires_at", "webhook_keys", ["expires_at"])


def downgrade() -> None:
    op.drop_table("webhook_keys")
    op.drop_table("webhook_deliveries")
