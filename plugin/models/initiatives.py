"""Value initiatives: the merchant's backlog of actions, each with a hypothesis to measure."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, Float, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from plugin.models.base import Base, BigId, IdMixin, UtcDateTime, shop_fk, utcnow


class Initiative(IdMixin, Base):
    """One action meant to move one value driver, with the metric that should show it.

    Vocabulary and transitions are in `plugin.initiatives.catalogue`; dates are days in the
    shop's timezone, like the daily snapshots their effect is measured on.
    """

    __tablename__ = "initiatives"
    __table_args__ = (Index("ix_initiatives_shop_status", "shop_id", "status"),)

    shop_id: Mapped[int] = mapped_column(BigId, shop_fk())
    title: Mapped[str] = mapped_column(String(200))
    hypothesis: Mapped[str] = mapped_column(Text)
    driver: Mapped[str] = mapped_column(String(32))
    target_metric: Mapped[str] = mapped_column(String(64))
    expected_direction: Mapped[str] = mapped_column(String(8))
    # In the target metric's own unit (a share for rates, points for NPS, money for MRR).
    expected_change: Mapped[float] = mapped_column(Float)
    owner: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16))
    starts_on: Mapped[date | None] = mapped_column(Date)
    ends_on: Mapped[date | None] = mapped_column(Date)
    # N: the effect compares the N days from the start with the N days before it.
    window_days: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)

    def __repr__(self) -> str:
        return f"Initiative(id={self.id}, shop_id={self.shop_id}, status={self.status!r})"
