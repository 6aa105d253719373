"""Billing attempts keyed by what Shopify's payloads carry; billing cycle dates and flags.

Shopify's published billing-attempt payloads carry `"id": null`: an attempt is keyed by its
idempotency key within its contract (else its id, else its order), and its id is filled in
when a later delivery brings it. Skip and unskip events keep the cycle's dates and flags.

Revision ID: 0010_conformance
Revises: 0001
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import plugin.models.base

revision: str = "0010_conformance"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("billing_attempts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("attempt_key", sa.String(length=300), nullable=True))
    op.execute(
        "UPDATE billing_attempts SET attempt_key = CASE WHEN idempotency_key IS NOT NULL "
        "THEN 'key:' || idempotency_key ELSE 'id:' || CAST(attempt_id AS VARCHAR(20)) END"
    )
    with op.batch_alter_table("billing_attempts", schema=None) as batch_op:
        batch_op.alter_column("attempt_key", existing_type=sa.String(length=300), nullable=False)
        batch_op.alter_column("attempt_id", existing_type=sa.BigInteger(), nullable=True)
        batch_op.create_unique_constraint(
            batch_op.f("uq_billing_attempts_contract_pk_attempt_key"),
            ["contract_pk", "attempt_key"],
        )

    utc = plugin.models.base.UtcDateTime(timezone=True)
    with op.batch_alter_table("billing_cycle_events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("cycle_start_at", utc, nullable=True))
        batch_op.add_column(sa.Column("cycle_end_at", utc, nullable=True))
        batch_op.add_column(sa.Column("billing_attempt_expected_at", utc, nullable=True))
        batch_op.add_column(sa.Column("skipped", sa.Boolean(), nullable=True))
        batch_op.add_column(sa.Column("edited", sa.Boolean(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("billing_cycle_events", schema=None) as batch_op:
        for column in (
            "edited",
            "skipped",
            "billing_attempt_expected_at",
            "cycle_end_at",
            "cycle_start_at",
        ):
            batch_op.drop_column(column)
    op.execute("DELETE FROM billing_attempts WHERE attempt_id IS NULL")
    with op.batch_alter_table("billing_attempts", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("uq_billing_attempts_contract_pk_attempt_key"), type_="unique"
        )
        batch_op.alter_column("attempt_id", existing_type=sa.BigInteger(), nullable=False)
        batch_op.drop_column("attempt_key")
