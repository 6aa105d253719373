"""The monthly review digest: each shop's stored pack per month, who reviewed it, and where
it is emailed."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from plugin.models.base import Base, BigId, IdMixin, JsonDoc, UtcDateTime, shop_fk, utcnow


class ReviewDigest(IdMixin, Base):
    """One shop's review pack of one month, built once on the 1st (unique per shop and
    month: a second worker's insert does nothing). `pack` is the JSON pack as built."""

    __tablename__ = "review_digests"
    __table_args__ = (UniqueConstraint("shop_id", "month"),)

    shop_id: Mapped[int] = mapped_column(BigId, shop_fk())
    month: Mapped[str] = mapped_column(String(7))  # YYYY-MM
    pack: Mapped[dict[str, Any]] = mapped_column(JsonDoc)
    built_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    reviewed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    reviewed_by: Mapped[str | None] = mapped_column(String(200))
    emailed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    email_error: Mapped[str | None] = mapped_column(Text)


class ReviewDigestSettings(Base):
    """Who owns the shop's value review, and whether the pack is emailed to them."""

    __tablename__ = "review_digest_settings"

    shop_id: Mapped[int] = mapped_column(BigId, shop_fk(), primary_key=True)
    owner_name: Mapped[str | None] = mapped_column(String(200))
    owner_email: Mapped[str | None] = mapped_column(String(320))
    email_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
