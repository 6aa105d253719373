"""Subscription domain state built from webhooks: subscribers, contracts and what happens to them.

Every row carries shop_id and every business key is unique per shop, so that effects are
idempotent on Shopify's own ids (contract id + revision, billing attempt id, fulfillment event id).
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum, nonmember

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from plugin.models.base import Base, BigId, IdMixin, UtcDateTime, shop_fk, utcnow

Money = Numeric(14, 2)


class Subscriber(IdMixin, Base):
    __tablename__ = "subscribers"
    __table_args__ = (UniqueConstraint("shop_id", "customer_id"),)

    shop_id: Mapped[int] = mapped_column(BigId, shop_fk())
    customer_id: Mapped[int] = mapped_column(BigInteger)
    # Personal data: erased by customers/redact (redacted_at set, aggregates kept).
    email: Mapped[str | None] = mapped_column(String(320))
    first_name: Mapped[str | None] = mapped_column(String(255))
    last_name: Mapped[str | None] = mapped_column(String(255))
    locale: Mapped[str | None] = mapped_column(String(16))
    first_seen_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    redacted_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # Event time of the profile data held, so a late customers/update never overwrites newer data.
    profile_updated_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class ContractStatus(StrEnum):
    ACTIVE = "active"
    PAUSED = "paused"
    CANCELLED = "cancelled"
    EXPIRED = "expired"
    FAILED = "failed"
    STALE = "stale"
    # The statuses that end a contract (not a member: a set of them).
    ENDED = nonmember(frozenset({CANCELLED, EXPIRED, FAILED}))


class Contract(IdMixin, Base):
    __tablename__ = "contracts"
    __table_args__ = (
        UniqueConstraint("shop_id", "contract_id"),
        Index("ix_contracts_shop_status", "shop_id", "status"),
        # An order event looks up the contract it started (migration 0018).
        Index("ix_contracts_origin_order", "shop_id", "origin_order_id"),
        # Whether a subscriber holds a live contract, per invitation settled (migration 0019).
        Index("ix_contracts_shop_subscriber", "shop_id", "subscriber_id", "status"),
    )

    shop_id: Mapped[int] = mapped_column(BigId, shop_fk())
    contract_id: Mapped[int] = mapped_column(BigInteger)
    subscriber_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("subscribers.id", ondelete="CASCADE"), index=True
    )
    status: Mapped[str] = mapped_column(String(16))
    # Event time and revision of the state held here; older events never overwrite it.
    status_at: Mapped[datetime] = mapped_column(UtcDateTime)
    revision_id: Mapped[int | None] = mapped_column(BigInteger)
    started_at: Mapped[datetime] = mapped_column(UtcDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    currency: Mapped[str] = mapped_column(String(3), default="USD")
    billing_interval: Mapped[str] = mapped_column(String(8), default="month")
    billing_interval_count: Mapped[int] = mapped_column(Integer, default=1)
    delivery_interval: Mapped[str] = mapped_column(String(8), default="month")
    delivery_interval_count: Mapped[int] = mapped_column(Integer, default=1)
    min_cycles: Mapped[int | None] = mapped_column(Integer)
    max_cycles: Mapped[int | None] = mapped_column(Integer)
    origin_order_id: Mapped[int | None] = mapped_column(BigInteger)
    # Recurring line amount excl. tax, shipping and one-off discounts; from GraphQL or backfill.
    recurring_amount: Mapped[Decimal | None] = mapped_column(Money)
    plan_name: Mapped[str | None] = mapped_column(String(255))
    next_billing_date: Mapped[date | None] = mapped_column(Date)
    details_fetched_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)


class ContractStatusEvent(IdMixin, Base):
    """Full status history, one row per distinct (contract, status, event time)."""

    __tablename__ = "contract_status_events"
    __table_args__ = (UniqueConstraint("contract_pk", "status", "occurred_at"),)

    shop_id: Mapped[int] = mapped_column(BigId, shop_fk(), index=True)
    contract_pk: Mapped[int] = mapped_column(BigId, ForeignKey("contracts.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(16))
    occurred_at: Mapped[datetime] = mapped_column(UtcDateTime)
    revision_id: Mapped[int | None] = mapped_column(BigInteger)
    topic: Mapped[str] = mapped_column(String(128))
    # Who made the change when known: customer, merchant, system.
    source: Mapped[str | None] = mapped_column(String(16))


class BillingAttemptStatus(StrEnum):
    SUCCESS = "success"
    FAILURE = "failure"
    CHALLENGED = "challenged"


class BillingAttempt(IdMixin, Base):
    """One billing attempt, whatever number of deliveries told us about it.

    Shopify's published payloads carry `"id": null`, so the attempt is keyed within its
    contract by `attempt_key` (see plugin.domain.billing.attempt_key); `attempt_id` is filled
    in once a delivery carries it.
    """

    __tablename__ = "billing_attempts"
    __table_args__ = (
        UniqueConstraint("shop_id", "attempt_id"),
        UniqueConstraint("contract_pk", "attempt_key"),
        Index("ix_billing_attempts_contract", "contract_pk", "occurred_at"),
        # An order finds the attempt that placed it (migration 0011): without it the lookup
        # walked every attempt of the shop once per contract.
        Index("ix_billing_attempts_order", "shop_id", "order_id"),
    )

    shop_id: Mapped[int] = mapped_column(BigId, shop_fk())
    attempt_id: Mapped[int | None] = mapped_column(BigInteger)
    attempt_key: Mapped[str] = mapped_column(String(300))
    contract_pk: Mapped[int] = mapped_column(BigId, ForeignKey("contracts.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(16))
    error_code: Mapped[str | None] = mapped_column(String(64))
    error_message: Mapped[str | None] = mapped_column(Text)
    order_id: Mapped[int | None] = mapped_column(BigInteger)
    idempotency_key: Mapped[str | None] = mapped_column(String(255))
    occurred_at: Mapped[datetime] = mapped_column(UtcDateTime)


class BillingCycleEvent(IdMixin, Base):
    """Skips and unskips of a billing cycle."""

    __tablename__ = "billing_cycle_events"
    __table_args__ = (UniqueConstraint("contract_pk", "cycle_index", "kind", "occurred_at"),)

    shop_id: Mapped[int] = mapped_column(BigId, shop_fk(), index=True)
    contract_pk: Mapped[int] = mapped_column(BigId, ForeignKey("contracts.id", ondelete="CASCADE"))
    cycle_index: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(16))  # skip | unskip
    occurred_at: Mapped[datetime] = mapped_column(UtcDateTime)
    # The cycle as the event left it (Shopify sends these, not who made the change).
    cycle_start_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    cycle_end_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    billing_attempt_expected_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    skipped: Mapped[bool | None] = mapped_column(Boolean)
    edited: Mapped[bool | None] = mapped_column(Boolean)


class ContractChange(IdMixin, Base):
    """Changes a subscriber or merchant made (pause, resume, delay, frequency change, skip).

    Feeds the self-serve rate and cadence fit; source is subscriber, merchant or unknown.
    """

    __tablename__ = "contract_changes"
    __table_args__ = (UniqueConstraint("contract_pk", "kind", "occurred_at"),)

    shop_id: Mapped[int] = mapped_column(BigId, shop_fk(), index=True)
    contract_pk: Mapped[int] = mapped_column(BigId, ForeignKey("contracts.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(32))
    source: Mapped[str] = mapped_column(String(16), default="unknown")
    occurred_at: Mapped[datetime] = mapped_column(UtcDateTime)


class Order(IdMixin, Base):
    __tablename__ = "orders"
    __table_args__ = (
        UniqueConstraint("shop_id", "order_id"),
        Index("ix_orders_contract", "contract_pk", "created_at_shop"),
    )

    shop_id: Mapped[int] = mapped_column(BigId, shop_fk())
    order_id: Mapped[int] = mapped_column(BigInteger)
    contract_pk: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("contracts.id", ondelete="CASCADE")
    )
    subscriber_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("subscribers.id", ondelete="CASCADE"), index=True
    )
    created_at_shop: Mapped[datetime] = mapped_column(UtcDateTime)
    total: Mapped[Decimal | None] = mapped_column(Money)
    currency: Mapped[str | None] = mapped_column(String(3))
    fulfilled_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    delivered_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class FulfillmentEvent(IdMixin, Base):
    __tablename__ = "fulfillment_events"
    __table_args__ = (UniqueConstraint("shop_id", "event_id"),)

    shop_id: Mapped[int] = mapped_column(BigId, shop_fk())
    event_id: Mapped[int] = mapped_column(BigInteger)
    fulfillment_id: Mapped[int | None] = mapped_column(BigInteger)
    order_id: Mapped[int] = mapped_column(BigInteger, index=True)
    status: Mapped[str] = mapped_column(String(32))
    happened_at: Mapped[datetime] = mapped_column(UtcDateTime)
    estimated_delivery_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
