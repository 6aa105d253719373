"""Shopify Flow triggers waiting to be fired, or fired: a durable outbox."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from plugin.models.base import Base, BigId, IdMixin, JsonDoc, UtcDateTime, shop_fk, utcnow


class FlowTriggerStatus:
    PENDING = "pending"  # recorded; fired after commit by a job, or by the sweeper
    SENT = "sent"  # Shopify accepted it
    REFUSED = "refused"  # Shopify answered user errors (trigger not deployed, bad payload)
    SKIPPED = "skipped"  # no usable token (uninstalled, never opened): nothing to send with


class FlowTriggerEvent(IdMixin, Base):
    """One firing of one trigger for one thing that happened. `key` names the thing (e.g.
    "nps:42"): recording it twice stores it once, so each is fired once."""

    __tablename__ = "flow_trigger_events"
    __table_args__ = (
        UniqueConstraint("shop_id", "handle", "key"),
        Index("ix_flow_trigger_events_status", "status", "created_at"),
    )

    shop_id: Mapped[int] = mapped_column(BigId, shop_fk())
    handle: Mapped[str] = mapped_column(String(64))
    key: Mapped[str] = mapped_column(String(128))
    payload: Mapped[dict[str, Any]] = mapped_column(JsonDoc)
    status: Mapped[str] = mapped_column(String(16), default=FlowTriggerStatus.PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
