"""Shops: one row per installed (or once installed) store."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import String, Text
from sqlalchemy.orm import Mapped, mapped_column

from plugin.models.base import Base, IdMixin, JsonDoc, UtcDateTime, utcnow


class Shop(IdMixin, Base):
    __tablename__ = "shops"

    domain: Mapped[str] = mapped_column(String(255), unique=True)
    installed_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    uninstalled_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    scopes: Mapped[str] = mapped_column(Text, default="")
    # Event time of the scopes held (app/scopes_update may arrive out of order).
    scopes_updated_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # Tokens are Fernet ciphertext (plugin.shopify.tokens); never store or log plaintext.
    access_token_enc: Mapped[str | None] = mapped_column(Text)
    access_token_expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    refresh_token_enc: Mapped[str | None] = mapped_column(Text)
    refresh_token_expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    currency: Mapped[str] = mapped_column(String(3), default="USD")
    locale: Mapped[str] = mapped_column(String(16), default="en")
    # Merchant settings (margin, survey delays, throttles, labels): plugin.shop_settings.
    settings: Mapped[dict[str, Any]] = mapped_column(JsonDoc, default=dict)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)

    def __repr__(self) -> str:
        return f"Shop(id={self.id}, domain={self.domain!r})"
