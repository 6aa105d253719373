"""Privacy: exports produced for customers/data_request, kept for the merchant."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from plugin.models.base import Base, BigId, IdMixin, JsonDoc, UtcDateTime, utcnow


class DataExport(IdMixin, Base):
    __tablename__ = "data_exports"
    __table_args__ = (UniqueConstraint("shop_id", "request_key"),)

    shop_id: Mapped[int] = mapped_column(BigId, ForeignKey("shops.id", ondelete="CASCADE"))
    customer_id: Mapped[int] = mapped_column(BigInteger, index=True)
    # Shopify's data_request id when given, else the inbox event id: one export per request.
    request_key: Mapped[str] = mapped_column(String(255))
    requested_at: Mapped[datetime] = mapped_column(UtcDateTime)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    data: Mapped[dict[str, Any]] = mapped_column(JsonDoc)
