"""Who an initiative targets: its audience (a saved Subscribers filter) and the members fixed
at its start, each in the treatment group or the holdout."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Float, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from plugin.models.base import Base, BigId, JsonDoc, UtcDateTime, shop_fk, utcnow

TREATMENT, HOLDOUT = "treatment", "holdout"


class InitiativeAudience(Base):
    """The filter an initiative targets and how its members are split. `seed` and
    `holdout_share` reproduce the split from the member list (uplift.split_members)."""

    __tablename__ = "initiative_audiences"

    initiative_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("initiatives.id", ondelete="CASCADE"), primary_key=True
    )
    shop_id: Mapped[int] = mapped_column(BigId, shop_fk(), index=True)
    filter: Mapped[dict[str, Any]] = mapped_column(JsonDoc)
    holdout_share: Mapped[float] = mapped_column(Float)
    seed: Mapped[int | None] = mapped_column(BigInteger)
    drawn_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    members: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class InitiativeMember(Base):
    """A subscriber fixed in an initiative at its start; `currency` as it was then, so MRR
    per subscriber never mixes currencies."""

    __tablename__ = "initiative_members"
    __table_args__ = (Index("ix_initiative_members_shop_subscriber", "shop_id", "subscriber_id"),)

    initiative_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("initiatives.id", ondelete="CASCADE"), primary_key=True
    )
    subscriber_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("subscribers.id", ondelete="CASCADE"), primary_key=True
    )
    shop_id: Mapped[int] = mapped_column(BigId, shop_fk())
    arm: Mapped[str] = mapped_column(String(16))
    currency: Mapped[str | None] = mapped_column(String(3))
