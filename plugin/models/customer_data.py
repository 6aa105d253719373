"""Value data the app writes on Shopify customers: per-shop state, what each customer holds,
and bulk runs in flight."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from plugin.models.base import Base, BigId, IdMixin, JsonDoc, UtcDateTime, shop_fk, utcnow


class CustomerDataShop(Base):
    """One shop's customer-data sync: definitions created, scopes missing, tags wanted."""

    __tablename__ = "customer_data_shops"

    shop_id: Mapped[int] = mapped_column(BigId, shop_fk(), primary_key=True)
    definitions_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # Comma-separated scopes the last sync needed and the shop has not granted (None: all).
    missing_scopes: Mapped[str | None] = mapped_column(String(255))
    tags_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    last_synced_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    last_outcome: Mapped[str | None] = mapped_column(String(32))
    last_error: Mapped[str | None] = mapped_column(Text)


class CustomerValueState(Base):
    """What Shopify holds for one customer, as far as we know: `published` metafield values
    confirmed written, `tags` we added, and the segment last seen (for the Flow trigger)."""

    __tablename__ = "customer_value_states"

    shop_id: Mapped[int] = mapped_column(BigId, shop_fk(), primary_key=True)
    subscriber_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("subscribers.id", ondelete="CASCADE"), primary_key=True
    )
    published: Mapped[dict[str, Any] | None] = mapped_column(JsonDoc)
    tags: Mapped[list[str] | None] = mapped_column(JsonDoc)
    segment_seen: Mapped[str | None] = mapped_column(String(32))
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)


class CustomerSyncRun(IdMixin, Base):
    """A bulk metafieldsSet in flight; `lines` are [subscriber id, values] in upload order, so
    each result line (by its line number) confirms one customer."""

    __tablename__ = "customer_sync_runs"
    __table_args__ = (Index("ix_customer_sync_runs_shop_status", "shop_id", "status"),)

    shop_id: Mapped[int] = mapped_column(BigId, shop_fk())
    operation_id: Mapped[str] = mapped_column(String(128))
    status: Mapped[str] = mapped_column(String(16), default="running")
    lines: Mapped[list[Any]] = mapped_column(JsonDoc)
    confirmed: Mapped[int] = mapped_column(Integer, default=0)
    refused: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
