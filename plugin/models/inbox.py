"""The webhook inbox: the durable log of every accepted delivery (Redis is only a wake-up)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from plugin.models.base import Base, BigId, IdMixin, JsonDoc, UtcDateTime, utcnow


class InboxStatus(StrEnum):
    PENDING = "pending"
    HANDLED = "handled"
    IGNORED = "ignored"  # unknown topic or nothing to do; kept for the audit trail
    FAILED = "failed"  # gave up after retries; the sweeper leaves it for a human


class WebhookInbox(IdMixin, Base):
    __tablename__ = "webhook_inbox"
    __table_args__ = (
        UniqueConstraint("shop_id", "webhook_id"),
        # The sweeper and /readyz scan only unhandled rows; a partial index keeps that cheap.
        Index(
            "ix_webhook_inbox_pending",
            "received_at",
            postgresql_where=text("status = 'pending'"),
            sqlite_where=text("status = 'pending'"),
        ),
        # A batch claim reads one shop's pending rows oldest first (migration 0011).
        Index(
            "ix_webhook_inbox_shop_pending",
            "shop_id",
            "id",
            postgresql_where=text("status = 'pending'"),
            sqlite_where=text("status = 'pending'"),
        ),
        # The few rows waiting for a retry time, per shop (migration 0018).
        Index(
            "ix_webhook_inbox_shop_waiting",
            "shop_id",
            "retry_at",
            postgresql_where=text("status = 'pending' AND retry_at IS NOT NULL"),
            sqlite_where=text("status = 'pending' AND retry_at IS NOT NULL"),
        ),
    )

    shop_id: Mapped[int] = mapped_column(BigId, ForeignKey("shops.id", ondelete="CASCADE"))
    topic: Mapped[str] = mapped_column(String(128))
    webhook_id: Mapped[str] = mapped_column(String(255))
    event_id: Mapped[str | None] = mapped_column(String(255), index=True)
    api_version: Mapped[str | None] = mapped_column(String(32))
    triggered_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    payload: Mapped[dict[str, Any]] = mapped_column(JsonDoc)
    status: Mapped[str] = mapped_column(String(16), default=InboxStatus.PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    handled_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    # A failed try waits until then before a batch claims the row again (backoff; 0011).
    retry_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
