"""What the workspace records of its own: the progress of a shop's import (backfill) runs."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from plugin.models.base import Base, BigId, IdMixin, UtcDateTime, shop_fk, utcnow


class BackfillRun(IdMixin, Base):
    """One import of a shop's existing contracts, started from the onboarding checklist.

    status: queued → running → done | failed. phase: "waiting" while Shopify's bulk operation
    runs (objects = its objectCount so far), then "importing" (imported = contracts brought
    in). total: the bulk operation's final object count once known (an upper bound on the
    contracts: lines count as objects too).
    """

    __tablename__ = "backfill_runs"
    __table_args__ = (Index("ix_backfill_runs_shop", "shop_id", "id"),)

    shop_id: Mapped[int] = mapped_column(BigId, shop_fk())
    status: Mapped[str] = mapped_column(String(16), default="queued")
    phase: Mapped[str | None] = mapped_column(String(16))
    objects: Mapped[int] = mapped_column(Integer, default=0)
    imported: Mapped[int] = mapped_column(Integer, default=0)
    total: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
