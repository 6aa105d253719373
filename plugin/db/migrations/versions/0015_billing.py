"""billing: plans, plan versions, charges, dunning cases

Revision ID: 0015_billing
Revises: 0012_workspace
Create Date: 2026-12-07 09:16:43.689406
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import plugin.models.base

revision: str = "0015_billing"
down_revision: str | None = "0012_workspace"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "plans",
        sa.Column("shop_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("group_gid", sa.String(length=255), nullable=True),
        sa.Column(
            "products",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "variants",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("current_version", sa.Integer(), nullable=False),
        sa.Column("created_at", plugin.models.base.UtcDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", plugin.models.base.UtcDateTime(timezone=True), nullable=False),
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["shop_id"], ["shops.id"], name=op.f("fk_plans_shop_id_shops"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_plans")),
    )
    with op.batch_alter_table("plans", schema=None) as batch_op:
        batch_op.create_index("ix_plans_shop", ["shop_id", "name"], unique=False)

    op.create_table(
        "plan_versions",
        sa.Column("shop_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("plan_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("discount_type", sa.String(length=16), nullable=False),
        sa.Column("discount_value", sa.Numeric(precision=14, scale=2), nullable=False),
        sa.Column(
            "frequencies",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "selling_plans",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("effective_from", plugin.models.base.UtcDateTime(timezone=True), nullable=False),
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["plan_id"],
            ["plans.id"],
            name=op.f("fk_plan_versions_plan_id_plans"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["shop_id"],
            ["shops.id"],
            name=op.f("fk_plan_versions_shop_id_shops"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_plan_versions")),
        sa.UniqueConstraint("plan_id", "version", name=op.f("uq_plan_versions_plan_id_version")),
    )
    with op.batch_alter_table("plan_versions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_plan_versions_shop_id"), ["shop_id"], unique=False)

    op.create_table(
        "billing_charges",
        sa.Column("shop_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "contract_pk", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("cycle_index", sa.Integer(), nullable=False),
        sa.Column("cycle_date", sa.Date(), nullable=False),
        sa.Column("try_number", sa.Integer(), nullable=False),
        sa.Column("idempotency_key", sa.String(length=255), nullable=False),
        sa.Column("billed_on", sa.Date(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempt_gid", sa.String(length=255), nullable=True),
        sa.Column("error_code", sa.String(length=64), nullable=True),
        sa.Column("error_message", sa.String(length=1000), nullable=True),
        sa.Column("amount", sa.Numeric(precision=14, scale=2), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=True),
        sa.Column("created_at", plugin.models.base.UtcDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", plugin.models.base.UtcDateTime(timezone=True), nullable=False),
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["contract_pk"],
            ["contracts.id"],
            name=op.f("fk_billing_charges_contract_pk_contracts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["shop_id"],
            ["shops.id"],
            name=op.f("fk_billing_charges_shop_id_shops"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_billing_charges")),
        sa.UniqueConstraint(
            "shop_id", "idempotency_key", name=op.f("uq_billing_charges_shop_id_idempotency_key")
        ),
    )
    with op.batch_alter_table("billing_charges", schema=None) as batch_op:
        batch_op.create_index(
            "ix_billing_charges_cycle", ["contract_pk", "cycle_index", "try_number"], unique=False
        )
        batch_op.create_index("ix_billing_charges_day", ["shop_id", "billed_on"], unique=False)

    op.create_table(
        "dunning_cases",
        sa.Column("shop_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "contract_pk", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("cycle_index", sa.Integer(), nullable=False),
        sa.Column("cycle_date", sa.Date(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("retries_used", sa.Integer(), nullable=False),
        sa.Column("last_error_code", sa.String(length=64), nullable=True),
        sa.Column("next_retry_on", sa.Date(), nullable=True),
        sa.Column("needs_payment_update", sa.Boolean(), nullable=False),
        sa.Column("amount", sa.Numeric(precision=14, scale=2), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=True),
        sa.Column("final_action", sa.String(length=16), nullable=True),
        sa.Column("opened_at", plugin.models.base.UtcDateTime(timezone=True), nullable=False),
        sa.Column("closed_at", plugin.models.base.UtcDateTime(timezone=True), nullable=True),
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["contract_pk"],
            ["contracts.id"],
            name=op.f("fk_dunning_cases_contract_pk_contracts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["shop_id"],
            ["shops.id"],
            name=op.f("fk_dunning_cases_shop_id_shops"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dunning_cases")),
        sa.UniqueConstraint(
            "contract_pk", "cycle_index", name=op.f("uq_dunning_cases_contract_pk_cycle_index")
        ),
    )
    with op.batch_alter_table("dunning_cases", schema=None) as batch_op:
        batch_op.create_index(
            "ix_dunning_cases_due", ["shop_id", "status", "next_retry_on"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("dunning_cases", schema=None) as batch_op:
        batch_op.drop_index("ix_dunning_cases_due")

    op.drop_table("dunning_cases")
    with op.batch_alter_table("billing_charges", schema=None) as batch_op:
        batch_op.drop_index("ix_billing_charges_day")
        batch_op.drop_index("ix_billing_charges_cycle")

    op.drop_table("billing_charges")
    with op.batch_alter_table("plan_versions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_plan_versions_shop_id"))

    op.drop_table("plan_versions")
    with op.batch_alter_table("plans", schema=None) as batch_op:
        batch_op.drop_index("ix_plans_shop")

    op.drop_table("plans")
