"""Subscribers: one per (shop, customer) with a subscription, and their profile data.

We keep personal data only for customers who subscribe: a profile is written for a known
subscriber, never used to create one (data minimisation), and never after a redaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from plugin.domain.context import EventContext
from plugin.domain.payloads import require_id, text
from plugin.domain.rows import fetch_locked, fetch_locked_one, insert_returning, lock
from plugin.models import InboxStatus, Subscriber


@dataclass(frozen=True)
class Profile:
    """Profile fields a payload carries; a field absent from the payload is left unchanged."""

    fields: dict[str, str | None]

    @classmethod
    def from_customer(cls, customer: dict[str, Any], locale: Any = None) -> Profile:
        fields: dict[str, str | None] = {}
        for key, size in (("email", 320), ("first_name", 255), ("last_name", 255)):
            if key in customer:
                fields[key] = text(customer[key], size)
        if "locale" in customer:
            fields["locale"] = text(customer["locale"], 16)
        elif locale is not None:
            fields["locale"] = text(locale, 16)
        return cls(fields)


async def subscriber_for(
    session: AsyncSession, shop_id: int, customer_id: int, seen_at: datetime
) -> tuple[Subscriber, bool]:
    """The shop's subscriber for this customer, created if new, locked for this transaction;
    and whether this call created it.

    Looked up first (one statement when known); a new one is inserted and returned in one
    more, and one inserted by another transaction meanwhile is then read as it is now.
    """
    key = {"shop_id": shop_id, "customer_id": customer_id}
    subscriber = await fetch_locked(session, _BY_CUSTOMER, key)
    if subscriber is None:
        values = {**key, "first_seen_at": seen_at}
        created = await insert_returning(session, Subscriber, values, tuple(key))
        if created is not None:
            return created, True
        subscriber = await fetch_locked_one(session, _BY_CUSTOMER, key)
    note_seen(subscriber, seen_at)
    return subscriber, False


def note_seen(subscriber: Subscriber, seen_at: datetime) -> None:
    """The subscriber was seen at `seen_at` (an event time): first seen at the earliest."""
    if seen_at < subscriber.first_seen_at:
        subscriber.first_seen_at = seen_at


async def find_subscriber(
    session: AsyncSession, shop_id: int, customer_id: int
) -> Subscriber | None:
    """The shop's subscriber for this customer, locked for this transaction, if known."""
    return await fetch_locked(
        session, _BY_CUSTOMER, {"shop_id": shop_id, "customer_id": customer_id}
    )


_BY_CUSTOMER = lock(
    select(Subscriber).where(
        Subscriber.shop_id == bindparam("shop_id"),
        Subscriber.customer_id == bindparam("customer_id"),
    )
)


def apply_profile(subscriber: Subscriber, profile: Profile, at: datetime) -> bool:
    """Write the profile if it is newer than what we hold; True when anything was written."""
    if subscriber.redacted_at is not None or not profile.fields:
        return False
    if subscriber.profile_updated_at is not None and at < subscriber.profile_updated_at:
        return False
    for key, value in profile.fields.items():
        setattr(subscriber, key, value)
    subscriber.profile_updated_at = at
    return True


async def handle_customer_update(ctx: EventContext) -> str:
    """customers/update: refresh a subscriber's email, name and locale."""
    customer_id = require_id(ctx.payload, "id", "admin_graphql_api_id")
    subscriber = await find_subscriber(ctx.session, ctx.shop_id, customer_id)
    if subscriber is None:
        return InboxStatus.IGNORED  # not a subscriber: we keep nothing about them
    apply_profile(subscriber, Profile.from_customer(ctx.payload), ctx.occurred_at)
    return InboxStatus.HANDLED
