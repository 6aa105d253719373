"""Inbox batches: a per-shop index of pending rows and a retry time for failed tries; billing
attempts found by their order.

Revision ID: 0011_throughput
Revises: 0016_self_service
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import plugin.models.base

revision = "0011_throughput"
down_revision = "0016_self_service"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("webhook_inbox", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("retry_at", plugin.models.base.UtcDateTime(timezone=True), nullable=True)
        )
        batch_op.create_index(
            "ix_webhook_inbox_shop_pending",
            ["shop_id", "id"],
            unique=False,
            postgresql_where=sa.text("status = 'pending'"),
            sqlite_where=sa.text("status = 'pending'"),
        )
    with op.batch_alter_table("billing_attempts", schema=None) as batch_op:
        batch_op.create_index("ix_billing_attempts_order", ["shop_id", "order_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("billing_attempts", schema=None) as batch_op:
        batch_op.drop_index("ix_billing_attempts_order")
    with op.batch_alter_table("webhook_inbox", schema=None) as batch_op:
        batch_op.drop_index(
            "ix_webhook_inbox_shop_pending",
            postgresql_where=sa.text("status = 'pending'"),
            sqlite_where=sa.text("status = 'pending'"),
        )
        batch_op.drop_column("retry_at")
