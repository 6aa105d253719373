"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-23 19:05:31.058949
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import plugin.models.base

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table(
        "shops",
        sa.Column("domain", sa.String(length=255), nullable=False),
        sa.Column("installed_at", plugin.models.base.UtcDateTime(timezone=True), nullable=False),
        sa.Column("uninstalled_at", plugin.models.base.UtcDateTime(timezone=True), nullable=True),
        sa.Column("scopes", sa.Text(), nullable=False),
        sa.Column(
            "scopes_updated_at", plugin.models.base.UtcDateTime(timezone=True), nullable=True
        ),
        sa.Column("access_token_enc", sa.Text(), nullable=True),
        sa.Column(
            "access_token_expires_at", plugin.models.base.UtcDateTime(timezone=True), nullable=True
        ),
        sa.Column("refresh_token_enc", sa.Text(), nullable=True),
        sa.Column(
            "refresh_token_expires_at", plugin.models.base.UtcDateTime(timezone=True), nullable=True
        ),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("locale", sa.String(length=16), nullable=False),
        sa.Column(
            "settings",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("created_at", plugin.models.base.UtcDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", plugin.models.base.UtcDateTime(timezone=True), nullable=False),
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_shops")),
        sa.UniqueConstraint("domain", name=op.f("uq_shops_domain")),
    )
    op.create_table(
        "cancel_reason_options",
        sa.Column("shop_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("driver", sa.String(length=32), nullable=False),
        sa.Column("requires_comment", sa.Boolean(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column(
            "labels",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("created_at", plugin.models.base.UtcDateTime(timezone=True), nullable=False),
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["shop_id"],
            ["shops.id"],
            name=op.f("fk_cancel_reason_options_shop_id_shops"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cancel_reason_options")),
        sa.UniqueConstraint(
            "shop_id", "code", "version", name=op.f("uq_cancel_reason_options_shop_id_code_version")
        ),
    )
    op.create_table(
        "data_exports",
        sa.Column("shop_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("customer_id", sa.BigInteger(), nullable=False),
        sa.Column("request_key", sa.String(length=255), nullable=False),
        sa.Column("requested_at", plugin.models.base.UtcDateTime(timezone=True), nullable=False),
        sa.Column("created_at", plugin.models.base.UtcDateTime(timezone=True), nullable=False),
        sa.Column(
            "data",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["shop_id"],
            ["shops.id"],
            name=op.f("fk_data_exports_shop_id_shops"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_data_exports")),
        sa.UniqueConstraint(
            "shop_id", "request_key", name=op.f("uq_data_exports_shop_id_request_key")
        ),
    )
    with op.batch_alter_table("data_exports", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_data_exports_customer_id"), ["customer_id"], unique=False
        )

    op.create_table(
        "fulfillment_events",
        sa.Column("shop_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("event_id", sa.BigInteger(), nullable=False),
        sa.Column("fulfillment_id", sa.BigInteger(), nullable=True),
        sa.Column("order_id", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("happened_at", plugin.models.base.UtcDateTime(timezone=True), nullable=False),
        sa.Column(
            "estimated_delivery_at", plugin.models.base.UtcDateTime(timezone=True), nullable=True
        ),
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["shop_id"],
            ["shops.id"],
            name=op.f("fk_fulfillment_events_shop_id_shops"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fulfillment_events")),
        sa.UniqueConstraint(
            "shop_id", "event_id", name=op.f("uq_fulfillment_events_shop_id_event_id")
        ),
    )
    with op.batch_alter_table("fulfillment_events", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_fulfillment_events_order_id"), ["order_id"], unique=False
        )

    op.create_table(
        "initiatives",
        sa.Column("shop_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("hypothesis", sa.Text(), nullable=False),
        sa.Column("driver", sa.String(length=32), nullable=False),
        sa.Column("target_metric", sa.String(length=64), nullable=False),
        sa.Column("expected_direction", sa.String(length=8), nullable=False),
        sa.Column("expected_change", sa.Float(), nullable=False),
        sa.Column("owner", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("starts_on", sa.Date(), nullable=True),
        sa.Column("ends_on", sa.Date(), nullable=True),
        sa.Column("window_days", sa.Integer(), nullable=False),
        sa.Column("created_at", plugin.models.base.UtcDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", plugin.models.base.UtcDateTime(timezone=True), nullable=False),
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["shop_id"],
            ["shops.id"],
            name=op.f("fk_initiatives_shop_id_shops"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_initiatives")),
    )
    with op.batch_alter_table("initiatives", schema=None) as batch_op:
        batch_op.create_index("ix_initiatives_shop_status", ["shop_id", "status"], unique=False)

    op.create_table(
        "metric_snapshots",
        sa.Column("shop_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("period", sa.String(length=8), nullable=False),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("computed_at", plugin.models.base.UtcDateTime(timezone=True), nullable=False),
        sa.Column(
            "metrics",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["shop_id"],
            ["shops.id"],
            name=op.f("fk_metric_snapshots_shop_id_shops"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_metric_snapshots")),
        sa.UniqueConstraint(
            "shop_id",
            "period",
            "period_start",
            name=op.f("uq_metric_snapshots_shop_id_period_period_start"),
        ),
    )
    op.create_table(
        "shop_recompute_state",
        sa.Column("shop_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("requested_at", plugin.models.base.UtcDateTime(timezone=True), nullable=True),
        sa.Column("computed_at", plugin.models.base.UtcDateTime(timezone=True), nullable=True),
        sa.Column("duration_ms", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["shop_id"],
            ["shops.id"],
            name=op.f("fk_shop_recompute_state_shop_id_shops"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("shop_id", name=op.f("pk_shop_recompute_state")),
    )
    op.create_table(
        "subscribers",
        sa.Column("shop_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("customer_id", sa.BigInteger(), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.Column("first_name", sa.String(length=255), nullable=True),
        sa.Column("last_name", sa.String(length=255), nullable=True),
        sa.Column("locale", sa.String(length=16), nullable=True),
        sa.Column("first_seen_at", plugin.models.base.UtcDateTime(timezone=True), nullable=False),
        sa.Column("redacted_at", plugin.models.base.UtcDateTime(timezone=True), nullable=True),
        sa.Column(
            "profile_updated_at", plugin.models.base.UtcDateTime(timezone=True), nullable=True
        ),
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["shop_id"], ["shops.id"], name=op.f("fk_subscribers_shop_id_shops"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_subscribers")),
        sa.UniqueConstraint(
            "shop_id", "customer_id", name=op.f("uq_subscribers_shop_id_customer_id")
        ),
    )
    op.create_table(
        "webhook_inbox",
        sa.Column("shop_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("topic", sa.String(length=128), nullable=False),
        sa.Column("webhook_id", sa.String(length=255), nullable=False),
        sa.Column("event_id", sa.String(length=255), nullable=True),
        sa.Column("api_version", sa.String(length=32), nullable=True),
        sa.Column("triggered_at", plugin.models.base.UtcDateTime(timezone=True), nullable=True),
        sa.Column("received_at", plugin.models.base.UtcDateTime(timezone=True), nullable=False),
        sa.Column(
            "payload",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("handled_at", plugin.models.base.UtcDateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["shop_id"],
            ["shops.id"],
            name=op.f("fk_webhook_inbox_shop_id_shops"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_inbox")),
        sa.UniqueConstraint(
            "shop_id", "webhook_id", name=op.f("uq_webhook_inbox_shop_id_webhook_id")
        ),
    )
    with op.batch_alter_table("webhook_inbox", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_webhook_inbox_event_id"), ["event_id"], unique=False)
        batch_op.create_index(
            "ix_webhook_inbox_pending",
            ["received_at"],
            unique=False,
            postgresql_where=sa.text("status = 'pending'"),
            sqlite_where=sa.text("status = 'pending'"),
        )

    op.create_table(
        "contracts",
        sa.Column("shop_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("contract_id", sa.BigInteger(), nullable=False),
        sa.Column(
            "subscriber_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("status_at", plugin.models.base.UtcDateTime(timezone=True), nullable=False),
        sa.Column("revision_id", sa.BigInteger(), nullable=True),
        sa.Column("started_at", plugin.models.base.UtcDateTime(timezone=True), nullable=False),
        sa.Column("ended_at", plugin.models.base.UtcDateTime(timezone=True), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("billing_interval", sa.String(length=8), nullable=False),
        sa.Column("billing_interval_count", sa.Integer(), nullable=False),
        sa.Column("delivery_interval", sa.String(length=8), nullable=False),
        sa.Column("delivery_interval_count", sa.Integer(), nullable=False),
        sa.Column("min_cycles", sa.Integer(), nullable=True),
        sa.Column("max_cycles", sa.Integer(), nullable=True),
        sa.Column("origin_order_id", sa.BigInteger(), nullable=True),
        sa.Column("recurring_amount", sa.Numeric(precision=14, scale=2), nullable=True),
        sa.Column("plan_name", sa.String(length=255), nullable=True),
        sa.Column("next_billing_date", sa.Date(), nullable=True),
        sa.Column(
            "details_fetched_at", plugin.models.base.UtcDateTime(timezone=True), nullable=True
        ),
        sa.Column("created_at", plugin.models.base.UtcDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", plugin.models.base.UtcDateTime(timezone=True), nullable=False),
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["shop_id"], ["shops.id"], name=op.f("fk_contracts_shop_id_shops"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["subscriber_id"],
            ["subscribers.id"],
            name=op.f("fk_contracts_subscriber_id_subscribers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contracts")),
        sa.UniqueConstraint(
            "shop_id", "contract_id", name=op.f("uq_contracts_shop_id_contract_id")
        ),
    )
    with op.batch_alter_table("contracts", schema=None) as batch_op:
        batch_op.create_index("ix_contracts_shop_status", ["shop_id", "status"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_contracts_subscriber_id"), ["subscriber_id"], unique=False
        )

    op.create_table(
        "subscriber_scores",
        sa.Column("shop_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "subscriber_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("value_score", sa.Float(), nullable=True),
        sa.Column("churn_risk", sa.Float(), nullable=True),
        sa.Column("risk_method", sa.String(length=32), nullable=True),
        sa.Column("expected_residual_value", sa.Numeric(precision=14, scale=2), nullable=True),
        sa.Column("mrr", sa.Numeric(precision=14, scale=2), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=True),
        sa.Column("tenure", sa.Integer(), nullable=False),
        sa.Column("segment", sa.String(length=32), nullable=True),
        sa.Column("nps_last", sa.Integer(), nullable=True),
        sa.Column(
            "components",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("computed_at", plugin.models.base.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["shop_id"],
            ["shops.id"],
            name=op.f("fk_subscriber_scores_shop_id_shops"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["subscriber_id"],
            ["subscribers.id"],
            name=op.f("fk_subscriber_scores_subscriber_id_subscribers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("shop_id", "subscriber_id", name=op.f("pk_subscriber_scores")),
    )
    with op.batch_alter_table("subscriber_scores", schema=None) as batch_op:
        batch_op.create_index(
            "ix_subscriber_scores_risk", ["shop_id", "churn_risk", "subscriber_id"], unique=False
        )
        batch_op.create_index("ix_subscriber_scores_segment", ["shop_id", "segment"], unique=False)
        batch_op.create_index(
            "ix_subscriber_scores_value", ["shop_id", "value_score", "subscriber_id"], unique=False
        )

    op.create_table(
        "billing_attempts",
        sa.Column("shop_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("attempt_id", sa.BigInteger(), nullable=False),
        sa.Column(
            "contract_pk", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("error_code", sa.String(length=64), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("order_id", sa.BigInteger(), nullable=True),
        sa.Column("idempotency_key", sa.String(length=255), nullable=True),
        sa.Column("occurred_at", plugin.models.base.UtcDateTime(timezone=True), nullable=False),
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["contract_pk"],
            ["contracts.id"],
            name=op.f("fk_billing_attempts_contract_pk_contracts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["shop_id"],
            ["shops.id"],
            name=op.f("fk_billing_attempts_shop_id_shops"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_billing_attempts")),
        sa.UniqueConstraint(
            "shop_id", "attempt_id", name=op.f("uq_billing_attempts_shop_id_attempt_id")
        ),
    )
    with op.batch_alter_table("billing_attempts", schema=None) as batch_op:
        batch_op.create_index(
            "ix_billing_attempts_contract", ["contract_pk", "occurred_at"], unique=False
        )

    op.create_table(
        "billing_cycle_events",
        sa.Column("shop_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "contract_pk", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("cycle_index", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("occurred_at", plugin.models.base.UtcDateTime(timezone=True), nullable=False),
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["contract_pk"],
            ["contracts.id"],
            name=op.f("fk_billing_cycle_events_contract_pk_contracts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["shop_id"],
            ["shops.id"],
            name=op.f("fk_billing_cycle_events_shop_id_shops"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_billing_cycle_events")),
        sa.UniqueConstraint(
            "contract_pk",
            "cycle_index",
            "kind",
            "occurred_at",
            name=op.f("uq_billing_cycle_events_contract_pk_cycle_index_kind_occurred_at"),
        ),
    )
    with op.batch_alter_table("billing_cycle_events", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_billing_cycle_events_shop_id"), ["shop_id"], unique=False
        )

    op.create_table(
        "cancellations",
        sa.Column("shop_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "contract_pk", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "subscriber_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("cancelled_at", plugin.models.base.UtcDateTime(timezone=True), nullable=True),
        sa.Column("end_status", sa.String(length=16), nullable=True),
        sa.Column("reason_code", sa.String(length=64), nullable=True),
        sa.Column("reason_version", sa.Integer(), nullable=True),
        sa.Column("reason_source", sa.String(length=16), nullable=True),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("channel", sa.String(length=16), nullable=True),
        sa.Column("answered_at", plugin.models.base.UtcDateTime(timezone=True), nullable=True),
        sa.Column("editable_until", plugin.models.base.UtcDateTime(timezone=True), nullable=True),
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["contract_pk"],
            ["contracts.id"],
            name=op.f("fk_cancellations_contract_pk_contracts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["shop_id"],
            ["shops.id"],
            name=op.f("fk_cancellations_shop_id_shops"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["subscriber_id"],
            ["subscribers.id"],
            name=op.f("fk_cancellations_subscriber_id_subscribers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cancellations")),
        sa.UniqueConstraint(
            "shop_id", "contract_pk", name=op.f("uq_cancellations_shop_id_contract_pk")
        ),
    )
    with op.batch_alter_table("cancellations", schema=None) as batch_op:
        batch_op.create_index(
            "ix_cancellations_shop_cancelled", ["shop_id", "cancelled_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_cancellations_subscriber_id"), ["subscriber_id"], unique=False
        )

    op.create_table(
        "contract_changes",
        sa.Column("shop_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "contract_pk", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("occurred_at", plugin.models.base.UtcDateTime(timezone=True), nullable=False),
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["contract_pk"],
            ["contracts.id"],
            name=op.f("fk_contract_changes_contract_pk_contracts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["shop_id"],
            ["shops.id"],
            name=op.f("fk_contract_changes_shop_id_shops"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contract_changes")),
        sa.UniqueConstraint(
            "contract_pk",
            "kind",
            "occurred_at",
            name=op.f("uq_contract_changes_contract_pk_kind_occurred_at"),
        ),
    )
    with op.batch_alter_table("contract_changes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_contract_changes_shop_id"), ["shop_id"], unique=False)

    op.create_table(
        "contract_status_events",
        sa.Column("shop_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "contract_pk", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("occurred_at", plugin.models.base.UtcDateTime(timezone=True), nullable=False),
        sa.Column("revision_id", sa.BigInteger(), nullable=True),
        sa.Column("topic", sa.String(length=128), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=True),
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["contract_pk"],
            ["contracts.id"],
            name=op.f("fk_contract_status_events_contract_pk_contracts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["shop_id"],
            ["shops.id"],
            name=op.f("fk_contract_status_events_shop_id_shops"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contract_status_events")),
        sa.UniqueConstraint(
            "contract_pk",
            "status",
            "occurred_at",
            name=op.f("uq_contract_status_events_contract_pk_status_occurred_at"),
        ),
    )
    with op.batch_alter_table("contract_status_events", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_contract_status_events_shop_id"), ["shop_id"], unique=False
        )

    op.create_table(
        "nps_invitations",
        sa.Column("shop_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "subscriber_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "contract_pk", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("order_id", sa.BigInteger(), nullable=False),
        sa.Column("trigger", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("send_at", plugin.models.base.UtcDateTime(timezone=True), nullable=False),
        sa.Column("sent_at", plugin.models.base.UtcDateTime(timezone=True), nullable=True),
        sa.Column("expires_at", plugin.models.base.UtcDateTime(timezone=True), nullable=False),
        sa.Column("created_at", plugin.models.base.UtcDateTime(timezone=True), nullable=False),
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["contract_pk"],
            ["contracts.id"],
            name=op.f("fk_nps_invitations_contract_pk_contracts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["shop_id"],
            ["shops.id"],
            name=op.f("fk_nps_invitations_shop_id_shops"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["subscriber_id"],
            ["subscribers.id"],
            name=op.f("fk_nps_invitations_subscriber_id_subscribers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_nps_invitations")),
        sa.UniqueConstraint(
            "shop_id", "order_id", name=op.f("uq_nps_invitations_shop_id_order_id")
        ),
    )
    with op.batch_alter_table("nps_invitations", schema=None) as batch_op:
        batch_op.create_index("ix_nps_invitations_due", ["status", "send_at"], unique=False)
        batch_op.create_index(
            "ix_nps_invitations_subscriber", ["shop_id", "subscriber_id", "status"], unique=False
        )

    op.create_table(
        "orders",
        sa.Column("shop_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("order_id", sa.BigInteger(), nullable=False),
        sa.Column(
            "contract_pk", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column(
            "subscriber_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("created_at_shop", plugin.models.base.UtcDateTime(timezone=True), nullable=False),
        sa.Column("total", sa.Numeric(precision=14, scale=2), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=True),
        sa.Column("fulfilled_at", plugin.models.base.UtcDateTime(timezone=True), nullable=True),
        sa.Column("delivered_at", plugin.models.base.UtcDateTime(timezone=True), nullable=True),
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["contract_pk"],
            ["contracts.id"],
            name=op.f("fk_orders_contract_pk_contracts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["shop_id"], ["shops.id"], name=op.f("fk_orders_shop_id_shops"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["subscriber_id"],
            ["subscribers.id"],
            name=op.f("fk_orders_subscriber_id_subscribers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_orders")),
        sa.UniqueConstraint("shop_id", "order_id", name=op.f("uq_orders_shop_id_order_id")),
    )
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.create_index(
            "ix_orders_contract", ["contract_pk", "created_at_shop"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_orders_subscriber_id"), ["subscriber_id"], unique=False
        )

    op.create_table(
        "nps_responses",
        sa.Column("shop_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "invitation_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "subscriber_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("score", sa.SmallInteger(), nullable=False),
        sa.Column("value_for_money", sa.SmallInteger(), nullable=True),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("answered_at", plugin.models.base.UtcDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", plugin.models.base.UtcDateTime(timezone=True), nullable=False),
        sa.Column("editable_until", plugin.models.base.UtcDateTime(timezone=True), nullable=False),
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["invitation_id"],
            ["nps_invitations.id"],
            name=op.f("fk_nps_responses_invitation_id_nps_invitations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["shop_id"],
            ["shops.id"],
            name=op.f("fk_nps_responses_shop_id_shops"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["subscriber_id"],
            ["subscribers.id"],
            name=op.f("fk_nps_responses_subscriber_id_subscribers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_nps_responses")),
        sa.UniqueConstraint("invitation_id", name=op.f("uq_nps_responses_invitation_id")),
    )
    with op.batch_alter_table("nps_responses", schema=None) as batch_op:
        batch_op.create_index(
            "ix_nps_responses_shop_answered", ["shop_id", "answered_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_nps_responses_subscriber_id"), ["subscriber_id"], unique=False
        )


def downgrade() -> None:

    with op.batch_alter_table("nps_responses", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_nps_responses_subscriber_id"))
        batch_op.drop_index("ix_nps_responses_shop_answered")

    op.drop_table("nps_responses")
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_orders_subscriber_id"))
        batch_op.drop_index("ix_orders_contract")

    op.drop_table("orders")
    with op.batch_alter_table("nps_invitations", schema=None) as batch_op:
        batch_op.drop_index("ix_nps_invitations_subscriber")
        batch_op.drop_index("ix_nps_invitations_due")

    op.drop_table("nps_invitations")
    with op.batch_alter_table("contract_status_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_contract_status_events_shop_id"))

    op.drop_table("contract_status_events")
    with op.batch_alter_table("contract_changes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_contract_changes_shop_id"))

    op.drop_table("contract_changes")
    with op.batch_alter_table("cancellations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_cancellations_subscriber_id"))
        batch_op.drop_index("ix_cancellations_shop_cancelled")

    op.drop_table("cancellations")
    with op.batch_alter_table("billing_cycle_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_billing_cycle_events_shop_id"))

    op.drop_table("billing_cycle_events")
    with op.batch_alter_table("billing_attempts", schema=None) as batch_op:
        batch_op.drop_index("ix_billing_attempts_contract")

    op.drop_table("billing_attempts")
    with op.batch_alter_table("subscriber_scores", schema=None) as batch_op:
        batch_op.drop_index("ix_subscriber_scores_value")
        batch_op.drop_index("ix_subscriber_scores_segment")
        batch_op.drop_index("ix_subscriber_scores_risk")

    op.drop_table("subscriber_scores")
    with op.batch_alter_table("contracts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_contracts_subscriber_id"))
        batch_op.drop_index("ix_contracts_shop_status")

    op.drop_table("contracts")
    with op.batch_alter_table("webhook_inbox", schema=None) as batch_op:
        batch_op.drop_index(
            "ix_webhook_inbox_pending",
            postgresql_where=sa.text("status = 'pending'"),
            sqlite_where=sa.text("status = 'pending'"),
        )
        batch_op.drop_index(batch_op.f("ix_webhook_inbox_event_id"))

    op.drop_table("webhook_inbox")
    op.drop_table("subscribers")
    op.drop_table("shop_recompute_state")
    op.drop_table("metric_snapshots")
    with op.batch_alter_table("initiatives", schema=None) as batch_op:
        batch_op.drop_index("ix_initiatives_shop_status")

    op.drop_table("initiatives")
    with op.batch_alter_table("fulfillment_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_fulfillment_events_order_id"))

    op.drop_table("fulfillment_events")
    with op.batch_alter_table("data_exports", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_data_exports_customer_id"))

    op.drop_table("data_exports")
    op.drop_table("cancel_reason_options")
    op.drop_table("shops")
