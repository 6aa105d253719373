"""Subscriber self-service and the cancel flow with save offers.

- `SelfServiceAction`: every change a subscriber asked for in the portal (or accepted as a save
  offer), carried out or refused, with Shopify's refusal when there was one.
- `SaveOfferSettings`: per shop, the offer shown for each cancel reason, the holdout share and
  the key of the holdout hash (fixed per shop so a subscriber's arm never changes).
- `CancelFlow` and `CancelFlowStep`: one pass through the cancel flow and each step of it.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import Boolean, Date, Float, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from plugin.models.base import Base, BigId, IdMixin, JsonDoc, UtcDateTime, shop_fk, utcnow


class SelfServiceAction(IdMixin, Base):
    __tablename__ = "self_service_actions"
    __table_args__ = (Index("ix_self_service_actions_contract", "contract_pk", "occurred_at"),)

    shop_id: Mapped[int] = mapped_column(BigId, shop_fk(), index=True)
    contract_pk: Mapped[int] = mapped_column(BigId, ForeignKey("contracts.id", ondelete="CASCADE"))
    subscriber_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("subscribers.id", ondelete="CASCADE")
    )
    action: Mapped[str] = mapped_column(String(32))
    channel: Mapped[str] = mapped_column(String(16))
    outcome: Mapped[str] = mapped_column(String(16))  # done | refused
    error_code: Mapped[str | None] = mapped_column(String(64))
    error_message: Mapped[str | None] = mapped_column(Text)
    detail: Mapped[dict[str, Any]] = mapped_column(JsonDoc, default=dict)
    occurred_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class SaveOfferSettings(IdMixin, Base):
    __tablename__ = "save_offer_settings"
    __table_args__ = (UniqueConstraint("shop_id"),)

    shop_id: Mapped[int] = mapped_column(BigId, shop_fk())
    holdout_share: Mapped[float] = mapped_column(Float, default=0.10)
    holdout_key: Mapped[str] = mapped_column(String(64))
    # reason code -> {"kind": ..., parameters}; validated by plugin.saveoffers.offers.
    offers: Mapped[dict[str, Any]] = mapped_column(JsonDoc, default=dict)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)


class CancelFlow(IdMixin, Base):
    __tablename__ = "cancel_flows"
    __table_args__ = (Index("ix_cancel_flows_shop_started", "shop_id", "started_at"),)

    shop_id: Mapped[int] = mapped_column(BigId, shop_fk())
    contract_pk: Mapped[int] = mapped_column(
        BigId, ForeignKey("contracts.id", ondelete="CASCADE"), index=True
    )
    subscriber_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("subscribers.id", ondelete="CASCADE")
    )
    reason_code: Mapped[str] = mapped_column(String(64))
    channel: Mapped[str] = mapped_column(String(16))
    holdout: Mapped[bool] = mapped_column(Boolean)
    # The offer configured for the reason when the flow started, also for the holdout (who
    # are not shown it): the report compares like with like. None: no offer configured.
    offer: Mapped[dict[str, Any] | None] = mapped_column(JsonDoc)
    offer_shown: Mapped[bool] = mapped_column(Boolean, default=False)
    outcome: Mapped[str] = mapped_column(String(16), default="open")  # open|accepted|cancelled
    started_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    decided_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # An accepted pause: the day billing starts again (the next billing date moved there).
    resume_on: Mapped[date | None] = mapped_column(Date)


class CancelFlowStep(IdMixin, Base):
    __tablename__ = "cancel_flow_steps"

    shop_id: Mapped[int] = mapped_column(BigId, shop_fk(), index=True)
    flow_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("cancel_flows.id", ondelete="CASCADE"), index=True
    )
    step: Mapped[str] = mapped_column(String(32))
    detail: Mapped[dict[str, Any]] = mapped_column(JsonDoc, default=dict)
    occurred_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
