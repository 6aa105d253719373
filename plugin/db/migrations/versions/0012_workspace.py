"""workspace: progress of backfill runs started from the onboarding checklist

Revision ID: 0012_workspace
Revises: 0001
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import plugin.models.base

revision: str = "0012_workspace"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "backfill_runs",
        sa.Column("shop_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("phase", sa.String(length=16), nullable=True),
        sa.Column("objects", sa.Integer(), nullable=False),
        sa.Column("imported", sa.Integer(), nullable=False),
        sa.Column("total", sa.Integer(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", plugin.models.base.UtcDateTime(timezone=True), nullable=False),
        sa.Column("started_at", plugin.models.base.UtcDateTime(timezone=True), nullable=True),
        sa.Column("updated_at", plugin.models.base.UtcDateTime(timezone=True), nullable=False),
        sa.Column("finished_at", plugin.models.base.UtcDateTime(timezone=True), nullable=True),
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["shop_id"],
            ["shops.id"],
            name=op.f("fk_backfill_runs_shop_id_shops"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_backfill_runs")),
    )
    op.create_index("ix_backfill_runs_shop", "backfill_runs", ["shop_id", "id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_backfill_runs_shop", table_name="backfill_runs")
    op.drop_table("backfill_runs")
