"""act on value

Revision ID: 0013_act_on_value
Revises: 0012_workspace
Create Date: 2026-12-07 09:35:44.723992
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import plugin.models.base

revision: str = "0013_act_on_value"
down_revision: str | None = "0015_billing"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "customer_data_shops",
        sa.Column("shop_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("definitions_at", plugin.models.base.UtcDateTime(timezone=True), nullable=True),
        sa.Column("missing_scopes", sa.String(length=255), nullable=True),
        sa.Column("tags_enabled", sa.Boolean(), nullable=False),
        sa.Column("last_synced_at", plugin.models.base.UtcDateTime(timezone=True), nullable=True),
        sa.Column("last_outcome", sa.String(length=32), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["shop_id"],
            ["shops.id"],
            name=op.f("fk_customer_data_shops_shop_id_shops"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("shop_id", name=op.f("pk_customer_data_shops")),
    )
    op.create_table(
        "customer_sync_runs",
        sa.Column("shop_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("operation_id", sa.String(length=128), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column(
            "lines",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("confirmed", sa.Integer(), nullable=False),
        sa.Column("refused", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", plugin.models.base.UtcDateTime(timezone=True), nullable=False),
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
            name=op.f("fk_customer_sync_runs_shop_id_shops"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_customer_sync_runs")),
    )
    with op.batch_alter_table("customer_sync_runs", schema=None) as batch_op:
        batch_op.create_index(
            "ix_customer_sync_runs_shop_status", ["shop_id", "status"], unique=False
        )

    op.create_table(
        "flow_trigger_events",
        sa.Column("shop_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("handle", sa.String(length=64), nullable=False),
        sa.Column("key", sa.String(length=128), nullable=False),
        sa.Column(
            "payload",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", plugin.models.base.UtcDateTime(timezone=True), nullable=False),
        sa.Column("sent_at", plugin.models.base.UtcDateTime(timezone=True), nullable=True),
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["shop_id"],
            ["shops.id"],
            name=op.f("fk_flow_trigger_events_shop_id_shops"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_flow_trigger_events")),
        sa.UniqueConstraint(
            "shop_id", "handle", "key", name=op.f("uq_flow_trigger_events_shop_id_handle_key")
        ),
    )
    with op.batch_alter_table("flow_trigger_events", schema=None) as batch_op:
        batch_op.create_index(
            "ix_flow_trigger_events_status", ["status", "created_at"], unique=False
        )

    op.create_table(
        "review_digest_settings",
        sa.Column("shop_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("owner_name", sa.String(length=200), nullable=True),
        sa.Column("owner_email", sa.String(length=320), nullable=True),
        sa.Column("email_enabled", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["shop_id"],
            ["shops.id"],
            name=op.f("fk_review_digest_settings_shop_id_shops"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("shop_id", name=op.f("pk_review_digest_settings")),
    )
    op.create_table(
        "review_digests",
        sa.Column("shop_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column(
            "pack",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("built_at", plugin.models.base.UtcDateTime(timezone=True), nullable=False),
        sa.Column("reviewed_at", plugin.models.base.UtcDateTime(timezone=True), nullable=True),
        sa.Column("reviewed_by", sa.String(length=200), nullable=True),
        sa.Column("emailed_at", plugin.models.base.UtcDateTime(timezone=True), nullable=True),
        sa.Column("email_error", sa.Text(), nullable=True),
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["shop_id"],
            ["shops.id"],
            name=op.f("fk_review_digests_shop_id_shops"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_review_digests")),
        sa.UniqueConstraint("shop_id", "month", name=op.f("uq_review_digests_shop_id_month")),
    )
    op.create_table(
        "customer_value_states",
        sa.Column("shop_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "subscriber_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "published",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column(
            "tags",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("segment_seen", sa.String(length=32), nullable=True),
        sa.Column("updated_at", plugin.models.base.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["shop_id"],
            ["shops.id"],
            name=op.f("fk_customer_value_states_shop_id_shops"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["subscriber_id"],
            ["subscribers.id"],
            name=op.f("fk_customer_value_states_subscriber_id_subscribers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("shop_id", "subscriber_id", name=op.f("pk_customer_value_states")),
    )
    op.create_table(
        "initiative_audiences",
        sa.Column(
            "initiative_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("shop_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "filter",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("holdout_share", sa.Float(), nullable=False),
        sa.Column("seed", sa.BigInteger(), nullable=True),
        sa.Column("drawn_at", plugin.models.base.UtcDateTime(timezone=True), nullable=True),
        sa.Column("members", sa.Integer(), nullable=False),
        sa.Column("created_at", plugin.models.base.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["initiative_id"],
            ["initiatives.id"],
            name=op.f("fk_initiative_audiences_initiative_id_initiatives"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["shop_id"],
            ["shops.id"],
            name=op.f("fk_initiative_audiences_shop_id_shops"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("initiative_id", name=op.f("pk_initiative_audiences")),
    )
    with op.batch_alter_table("initiative_audiences", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_initiative_audiences_shop_id"), ["shop_id"], unique=False
        )

    op.create_table(
        "initiative_members",
        sa.Column(
            "initiative_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "subscriber_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("shop_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("arm", sa.String(length=16), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=True),
        sa.ForeignKeyConstraint(
            ["initiative_id"],
            ["initiatives.id"],
            name=op.f("fk_initiative_members_initiative_id_initiatives"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["shop_id"],
            ["shops.id"],
            name=op.f("fk_initiative_members_shop_id_shops"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["subscriber_id"],
            ["subscribers.id"],
            name=op.f("fk_initiative_members_subscriber_id_subscribers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "initiative_id", "subscriber_id", name=op.f("pk_initiative_members")
        ),
    )
    with op.batch_alter_table("initiative_members", schema=None) as batch_op:
        batch_op.create_index(
            "ix_initiative_members_shop_subscriber", ["shop_id", "subscriber_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("initiative_members", schema=None) as batch_op:
        batch_op.drop_index("ix_initiative_members_shop_subscriber")

    op.drop_table("initiative_members")
    with op.batch_alter_table("initiative_audiences", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_initiative_audiences_shop_id"))

    op.drop_table("initiative_audiences")
    op.drop_table("customer_value_states")
    op.drop_table("review_digests")
    op.drop_table("review_digest_settings")
    with op.batch_alter_table("flow_trigger_events", schema=None) as batch_op:
        batch_op.drop_index("ix_flow_trigger_events_status")

    op.drop_table("flow_trigger_events")
    with op.batch_alter_table("customer_sync_runs", schema=None) as batch_op:
        batch_op.drop_index("ix_customer_sync_runs_shop_status")

    op.drop_table("customer_sync_runs")
    op.drop_table("customer_data_shops")
