"""Our own subscriptions: the plans we sell through Shopify, the charges we make, and dunning.

- `Plan` is what the merchant names and attaches to products; it lives in Shopify as one
  selling plan group (`group_gid`). Its offer (frequencies and discount) is held in immutable
  `PlanVersion` rows: a change of price or frequencies is a new version, so what was offered
  when stays on record for the metrics.
- `BillingCharge` is our ledger of charges asked of Shopify, one row per idempotency key
  (contract, cycle, try). It is claimed before Shopify is called, so a second run, a crash
  mid-run or a second worker finds the key and never asks for a new charge of that cycle.
- `DunningCase` follows one failed cycle of a contract through its retries to recovery or to
  the merchant's final action.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Date, ForeignKey, Index, Integer, Numeric, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from plugin.models.base import Base, BigId, IdMixin, JsonDoc, UtcDateTime, shop_fk, utcnow

Money = Numeric(14, 2)


class Plan(IdMixin, Base):
    __tablename__ = "plans"
    __table_args__ = (Index("ix_plans_shop", "shop_id", "name"),)

    shop_id: Mapped[int] = mapped_column(BigId, shop_fk())
    name: Mapped[str] = mapped_column(String(255))
    # The selling plan group in Shopify (set once Shopify has created it).
    group_gid: Mapped[str | None] = mapped_column(String(255))
    # Product and variant GIDs the plan is offered on.
    products: Mapped[list[str]] = mapped_column(JsonDoc, default=list)
    variants: Mapped[list[str]] = mapped_column(JsonDoc, default=list)
    current_version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)


class PlanVersion(IdMixin, Base):
    """One offer of a plan, never edited: frequencies, discount and their Shopify plans."""

    __tablename__ = "plan_versions"
    __table_args__ = (UniqueConstraint("plan_id", "version"),)

    shop_id: Mapped[int] = mapped_column(BigId, shop_fk(), index=True)
    plan_id: Mapped[int] = mapped_column(BigId, ForeignKey("plans.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    # none | percentage | fixed_amount (off the variant's price per delivery)
    discount_type: Mapped[str] = mapped_column(String(16))
    discount_value: Mapped[Decimal] = mapped_column(Money)
    # [{"interval": "week", "delivery_count": 2, "billing_count": 2}, ...]
    frequencies: Mapped[list[dict[str, Any]]] = mapped_column(JsonDoc)
    # Frequency key ("week-2-2") -> the selling plan GID that offers it in Shopify.
    selling_plans: Mapped[dict[str, str]] = mapped_column(JsonDoc, default=dict)
    effective_from: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class ChargeStatus:
    CLAIMED = "claimed"  # the key is ours; Shopify may or may not have been asked yet
    SUBMITTED = "submitted"  # Shopify accepted the attempt; its outcome comes by webhook
    SUCCESS = "success"
    FAILURE = "failure"
    REJECTED = "rejected"  # Shopify refused to create the attempt: no charge; tried again
    OPEN = frozenset({CLAIMED, SUBMITTED})  # an outcome webhook may still settle it
    SENDABLE = frozenset({CLAIMED, REJECTED})  # Shopify holds no attempt for the key


class BillingCharge(IdMixin, Base):
    __tablename__ = "billing_charges"
    __table_args__ = (
        UniqueConstraint("shop_id", "idempotency_key"),
        Index("ix_billing_charges_cycle", "contract_pk", "cycle_index", "try_number"),
        Index("ix_billing_charges_day", "shop_id", "billed_on"),
    )

    shop_id: Mapped[int] = mapped_column(BigId, shop_fk())
    contract_pk: Mapped[int] = mapped_column(BigId, ForeignKey("contracts.id", ondelete="CASCADE"))
    cycle_index: Mapped[int] = mapped_column(Integer)
    cycle_date: Mapped[date] = mapped_column(Date)  # the cycle's expected billing day (shop)
    try_number: Mapped[int] = mapped_column(Integer)  # 0: the scheduled charge; n: retry n
    idempotency_key: Mapped[str] = mapped_column(String(255))
    billed_on: Mapped[date] = mapped_column(Date)  # the shop day of the run that asked
    status: Mapped[str] = mapped_column(String(16), default=ChargeStatus.CLAIMED)
    attempt_gid: Mapped[str | None] = mapped_column(String(255))
    error_code: Mapped[str | None] = mapped_column(String(64))
    error_message: Mapped[str | None] = mapped_column(String(1000))
    amount: Mapped[Decimal | None] = mapped_column(Money)
    currency: Mapped[str | None] = mapped_column(String(3))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)


class DunningStatus:
    OPEN = "open"  # retries left
    RECOVERED = "recovered"  # a retry was paid
    EXHAUSTED = "exhausted"  # the last retry failed; the final action was taken
    CLOSED = "closed"  # the contract ended or was paused otherwise; nothing more to try


class DunningCase(IdMixin, Base):
    __tablename__ = "dunning_cases"
    __table_args__ = (
        UniqueConstraint("contract_pk", "cycle_index"),
        Index("ix_dunning_cases_due", "shop_id", "status", "next_retry_on"),
    )

    shop_id: Mapped[int] = mapped_column(BigId, shop_fk())
    contract_pk: Mapped[int] = mapped_column(BigId, ForeignKey("contracts.id", ondelete="CASCADE"))
    cycle_index: Mapped[int] = mapped_column(Integer)
    cycle_date: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(16), default=DunningStatus.OPEN)
    failures: Mapped[int] = mapped_column(Integer, default=0)  # failed tries so far
    # Retries run (or skipped as hopeless) so far; the next is schedule[retries_used].
    retries_used: Mapped[int] = mapped_column(Integer, default=0)
    last_error_code: Mapped[str | None] = mapped_column(String(64))
    next_retry_on: Mapped[date | None] = mapped_column(Date)
    # The last failure needs the customer to update their payment method first.
    needs_payment_update: Mapped[bool] = mapped_column(default=False)
    amount: Mapped[Decimal | None] = mapped_column(Money)
    currency: Mapped[str | None] = mapped_column(String(3))
    final_action: Mapped[str | None] = mapped_column(String(16))  # pause | cancel
    opened_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
