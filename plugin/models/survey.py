"""Survey records: versioned cancel reasons, cancellations, NPS invitations and answers."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from plugin.models.base import Base, BigId, IdMixin, JsonDoc, UtcDateTime, shop_fk, utcnow


class CancelReasonOption(IdMixin, Base):
    """A reason as the merchant offers it. Editing a meaning makes a new version, never in place."""

    __tablename__ = "cancel_reason_options"
    __table_args__ = (UniqueConstraint("shop_id", "code", "version"),)

    shop_id: Mapped[int] = mapped_column(BigId, shop_fk())
    code: Mapped[str] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(Integer, default=1)
    driver: Mapped[str] = mapped_column(String(32))
    requires_comment: Mapped[bool] = mapped_column(Boolean, default=False)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    # Merchant label overrides by locale, e.g. {"en": "Too pricey"}.
    labels: Mapped[dict[str, Any]] = mapped_column(JsonDoc, default=dict)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class ReasonSource:
    CUSTOMER = "customer"
    SYSTEM = "system"


class Cancellation(IdMixin, Base):
    """One per contract cancellation: the webhook and the subscriber's answer join here,
    whichever arrives first."""

    __tablename__ = "cancellations"
    __table_args__ = (
        UniqueConstraint("shop_id", "contract_pk"),
        Index("ix_cancellations_shop_cancelled", "shop_id", "cancelled_at"),
    )

    shop_id: Mapped[int] = mapped_column(BigId, shop_fk())
    contract_pk: Mapped[int] = mapped_column(BigId, ForeignKey("contracts.id", ondelete="CASCADE"))
    subscriber_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("subscribers.id", ondelete="CASCADE"), index=True
    )
    # Set by the webhook (event time); None while only the answer has arrived.
    cancelled_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    end_status: Mapped[str | None] = mapped_column(String(16))
    reason_code: Mapped[str | None] = mapped_column(String(64))
    reason_version: Mapped[int | None] = mapped_column(Integer)
    reason_source: Mapped[str | None] = mapped_column(String(16))
    comment: Mapped[str | None] = mapped_column(Text)
    channel: Mapped[str | None] = mapped_column(String(16))
    answered_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # After this the answer is final; before it the subscriber may change it.
    editable_until: Mapped[datetime | None] = mapped_column(UtcDateTime)


class InvitationStatus(StrEnum):
    SCHEDULED = "scheduled"
    PENDING = "pending"
    ANSWERED = "answered"
    EXPIRED = "expired"
    CANCELLED = "cancelled"
    # Not to be sent: another of the subscriber's invitations is within the throttle window.
    # Kept (not dropped) so that the choice can be made again when an earlier one turns up.
    THROTTLED = "throttled"


class NpsInvitation(IdMixin, Base):
    __tablename__ = "nps_invitations"
    __table_args__ = (
        UniqueConstraint("shop_id", "order_id"),
        Index("ix_nps_invitations_due", "status", "send_at"),
        Index("ix_nps_invitations_subscriber", "shop_id", "subscriber_id", "status"),
    )

    shop_id: Mapped[int] = mapped_column(BigId, shop_fk())
    subscriber_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("subscribers.id", ondelete="CASCADE")
    )
    contract_pk: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("contracts.id", ondelete="CASCADE")
    )
    order_id: Mapped[int] = mapped_column(BigInteger)
    trigger: Mapped[str] = mapped_column(String(32))  # delivered | fulfilled_fallback
    status: Mapped[str] = mapped_column(String(16), default=InvitationStatus.SCHEDULED)
    send_at: Mapped[datetime] = mapped_column(UtcDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class NpsResponse(IdMixin, Base):
    __tablename__ = "nps_responses"
    __table_args__ = (
        UniqueConstraint("invitation_id"),
        Index("ix_nps_responses_shop_answered", "shop_id", "answered_at"),
    )

    shop_id: Mapped[int] = mapped_column(BigId, shop_fk())
    invitation_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("nps_invitations.id", ondelete="CASCADE")
    )
    subscriber_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("subscribers.id", ondelete="CASCADE"), index=True
    )
    score: Mapped[int] = mapped_column(SmallInteger)
    value_for_money: Mapped[int | None] = mapped_column(SmallInteger)
    comment: Mapped[str | None] = mapped_column(Text)
    channel: Mapped[str] = mapped_column(String(16))
    answered_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    editable_until: Mapped[datetime] = mapped_column(UtcDateTime)
