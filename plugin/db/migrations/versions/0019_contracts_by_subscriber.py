"""Contracts by subscriber within a shop, with their status.

Whether a subscriber holds a live contract is asked for every invitation settled
(`plugin.surveys.invitations`). With only the single-column subscriber index, a planner
working from the statistics of a shop's first hours (tables grown fast since the last analyze)
scanned the shop's contracts by another index once per invitation.

Revision ID: 0019_contracts_by_subscriber
Revises: 0018_waiting_rows
"""

from __future__ import annotations

from alembic import op

revision = "0019_contracts_by_subscriber"
down_revision = "0018_waiting_rows"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("contracts", schema=None) as batch_op:
        batch_op.create_index(
            "ix_contracts_shop_subscriber", ["shop_id", "subscriber_id", "status"]
        )


def downgrade() -> None:
    with op.batch_alter_table("contracts", schema=None) as batch_op:
        batch_op.drop_index("ix_contracts_shop_subscriber")
