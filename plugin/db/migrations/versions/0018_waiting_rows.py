"""Indexes for batches: a shop's rows waiting for a retry, and contracts by origin order.

- A drain that ends looks for the shop's earliest retry time, and a batch that learns of
  contracts makes the rows waiting for them due: both read only the few pending rows that
  wait (`retry_at` set), not all of a shop's backlog.
- An order event finds the contract it started by its origin order id.

Revision ID: 0018_waiting_rows
Revises: 0017_score_fingerprint
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0018_waiting_rows"
down_revision = "0017_score_fingerprint"
branch_labels = None
depends_on = None

_WAITING = "status = 'pending' AND retry_at IS NOT NULL"


def upgrade() -> None:
    with op.batch_alter_table("webhook_inbox", schema=None) as batch_op:
        batch_op.create_index(
            "ix_webhook_inbox_shop_waiting",
            ["shop_id", "retry_at"],
            unique=False,
            postgresql_where=sa.text(_WAITING),
            sqlite_where=sa.text(_WAITING),
        )
    with op.batch_alter_table("contracts", schema=None) as batch_op:
        batch_op.create_index("ix_contracts_origin_order", ["shop_id", "origin_order_id"])


def downgrade() -> None:
    with op.batch_alter_table("contracts", schema=None) as batch_op:
        batch_op.drop_index("ix_contracts_origin_order")
    with op.batch_alter_table("webhook_inbox", schema=None) as batch_op:
        batch_op.drop_index(
            "ix_webhook_inbox_shop_waiting",
            postgresql_where=sa.text(_WAITING),
            sqlite_where=sa.text(_WAITING),
        )
