"""Stored results of the value engine: shop snapshots and per-subscriber scores."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from plugin.models.base import Base, BigId, IdMixin, JsonDoc, UtcDateTime, shop_fk, utcnow


class MetricSnapshot(IdMixin, Base):
    """Shop metrics as of a day or a month (period = 'day' | 'month' | 'latest')."""

    __tablename__ = "metric_snapshots"
    __table_args__ = (UniqueConstraint("shop_id", "period", "period_start"),)

    shop_id: Mapped[int] = mapped_column(BigId, shop_fk())
    period: Mapped[str] = mapped_column(String(8))
    period_start: Mapped[date] = mapped_column(Date)
    computed_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    metrics: Mapped[dict[str, Any]] = mapped_column(JsonDoc)


class SubscriberScore(Base):
    __tablename__ = "subscriber_scores"
    __table_args__ = (
        Index("ix_subscriber_scores_value", "shop_id", "value_score", "subscriber_id"),
        Index("ix_subscriber_scores_risk", "shop_id", "churn_risk", "subscriber_id"),
        Index("ix_subscriber_scores_segment", "shop_id", "segment"),
    )

    shop_id: Mapped[int] = mapped_column(BigId, shop_fk(), primary_key=True)
    subscriber_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("subscribers.id", ondelete="CASCADE"), primary_key=True
    )
    value_score: Mapped[float | None] = mapped_column(Float)
    churn_risk: Mapped[float | None] = mapped_column(Float)
    risk_method: Mapped[str | None] = mapped_column(String(32))
    expected_residual_value: Mapped[Decimal | None] = mapped_column(Numeric(14, 2))
    mrr: Mapped[Decimal | None] = mapped_column(Numeric(14, 2))
    currency: Mapped[str | None] = mapped_column(String(3))
    tenure: Mapped[int] = mapped_column(Integer, default=0)
    segment: Mapped[str | None] = mapped_column(String(32))
    nps_last: Mapped[int | None] = mapped_column(Integer)
    components: Mapped[dict[str, Any]] = mapped_column(JsonDoc, default=dict)
    # When the row's figures were last written: a recompute rewrites only rows whose values
    # moved (`plugin.scoring.store`), so this is when they last changed.
    computed_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    # 64-bit hash of the stored values (`ScoreValues.fingerprints`): how a recompute finds
    # the rows that changed without reading them back. NULL: not known, rewritten next time.
    fingerprint: Mapped[int | None] = mapped_column(BigInteger)


class ShopRecomputeState(Base):
    """Last recompute per shop (for debounce decisions and /readyz)."""

    __tablename__ = "shop_recompute_state"

    shop_id: Mapped[int] = mapped_column(BigId, shop_fk(), primary_key=True)
    requested_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    computed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    duration_ms: Mapped[int | None] = mapped_column(Integer)
