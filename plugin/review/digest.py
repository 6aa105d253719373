"""The monthly review digest: built and stored once per shop and month, reviewed by the value
owner, optionally emailed.

On the 1st a cron queues one `build_review_digest(shop, month)` per installed shop for the
month that just ended (in the shop's timezone). Building inserts the pack with ON CONFLICT
DO NOTHING on (shop, month): however many workers run it, one row is stored and only the
one that stored it asks for the email. The workspace shows a badge while the newest stored
month is not marked reviewed; the history lists who reviewed which month.
"""

from __future__ import annotations

import logging
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from plugin.models import ReviewDigest, ReviewDigestSettings, Shop
from plugin.models.base import utcnow
from plugin.review.build import build_review, parse_month, previous_month
from plugin.review.changes import what_changed
from plugin.review.mail import MailNotConfigured, compose, send
from plugin.review.pack import ReviewNotAvailable
from plugin.review.render import pack_to_dict, render_html
from plugin.runtime import Runtime
from plugin.scoring.localtime import local_today, shop_zone

log = logging.getLogger(__name__)

BUILD_MONTHLY_REVIEWS = "build_monthly_reviews"
BUILD_REVIEW_DIGEST = "build_review_digest"
EMAIL_REVIEW_DIGEST = "email_review_digest"
MAX_NAME = 200
MAX_EMAIL = 320


class DigestInvalid(Exception):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def month_before(day: date) -> str:
    """The month that ended before `day`'s month, YYYY-MM."""
    return previous_month(day.replace(day=1)).strftime("%Y-%m")


def month_to_review(shop: Shop, now: datetime) -> str:
    return month_before(local_today(shop_zone(shop.timezone), now))


def build_key(shop_id: int, month: str) -> str:
    return f"{BUILD_REVIEW_DIGEST}:{shop_id}:{month}"


async def queue_monthly_reviews(runtime: Runtime, now: datetime) -> int:
    """Queue one digest build per installed shop for the month that ended before `now` in
    the shop's timezone; returns how many shops were asked."""
    async with runtime.sessionmaker() as session:
        shops = list(
            await session.scalars(
                select(Shop).where(Shop.uninstalled_at.is_(None)).order_by(Shop.id)
            )
        )
    for shop in shops:
        month = month_to_review(shop, now)
        await runtime.queue.enqueue(
            BUILD_REVIEW_DIGEST, shop.id, month, key=build_key(shop.id, month)
        )
    return len(shops)


async def store_digest(
    session: AsyncSession, shop_id: int, month: str, now: datetime
) -> ReviewDigest | None:
    """Build and store the month's pack; the new row, or None when it was stored already
    (or the shop has no figures for that month, which is logged)."""
    parse_month(month)
    exists = await session.scalar(
        select(ReviewDigest.id).where(ReviewDigest.shop_id == shop_id, ReviewDigest.month == month)
    )
    if exists is not None:
        return None
    try:
        pack = await build_review(session, shop_id, month, now=now)
    except ReviewNotAvailable as exc:
        log.info("shop %s: no review digest for %s: %s", shop_id, month, exc)
        return None
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    digest_id = await session.scalar(
        insert(ReviewDigest)
        .values(shop_id=shop_id, month=month, pack=pack_to_dict(pack), built_at=now)
        .on_conflict_do_nothing(index_elements=["shop_id", "month"])
        .returning(ReviewDigest.id)
    )
    if digest_id is None:  # another worker stored it between our check and our insert
        return None
    return await session.get(ReviewDigest, digest_id)


async def digest_settings(session: AsyncSession, shop_id: int) -> ReviewDigestSettings:
    found = await session.get(ReviewDigestSettings, shop_id)
    if found is None:
        found = ReviewDigestSettings(shop_id=shop_id, email_enabled=False)
        session.add(found)
        await session.flush()
    return found


def parse_settings(data: Any) -> dict[str, Any]:
    """Checked {owner_name, owner_email, email_enabled}; every field optional."""
    if not isinstance(data, dict) or not data:
        raise DigestInvalid(
            "body", "must be a JSON object naming owner_name, owner_email or email_enabled"
        )
    out: dict[str, Any] = {}
    for name, value in data.items():
        if name == "email_enabled":
            if not isinstance(value, bool):
                raise DigestInvalid(name, "must be true or false")
            out[name] = value
        elif name in ("owner_name", "owner_email"):
            if value is None:
                out[name] = None
                continue
            limit = MAX_NAME if name == "owner_name" else MAX_EMAIL
            if not isinstance(value, str) or not value.strip() or len(value.strip()) > limit:
                raise DigestInvalid(name, f"must be text of 1 to {limit} characters, or null")
            text = value.strip()
            if name == "owner_email" and (
                text.count("@") != 1
                or "." not in text.split("@")[1]
                or any(c in text for c in " \r\n<>,")
            ):
                raise DigestInvalid(name, "must be an email address")
            out[name] = text
        else:
            raise DigestInvalid(name, "is not a setting of the review digest")
    return out


async def mark_reviewed(
    session: AsyncSession, shop_id: int, month: str, who: str, now: datetime
) -> ReviewDigest:
    """The value owner marks a stored month reviewed (again: the first mark stays)."""
    name = who.strip() if isinstance(who, str) else ""
    if not name or len(name) > MAX_NAME:
        raise DigestInvalid("reviewed_by", f"must be a name of 1 to {MAX_NAME} characters")
    digest = await session.scalar(
        select(ReviewDigest).where(ReviewDigest.shop_id == shop_id, ReviewDigest.month == month)
    )
    if digest is None:
        raise LookupError(month)
    if digest.reviewed_at is None:
        digest.reviewed_at, digest.reviewed_by = now, name
    return digest


async def history(session: AsyncSession, shop_id: int, limit: int = 24) -> list[ReviewDigest]:
    rows = await session.scalars(
        select(ReviewDigest)
        .where(ReviewDigest.shop_id == shop_id)
        .order_by(ReviewDigest.month.desc())
        .limit(limit)
    )
    return list(rows)


async def email_digest(runtime: Runtime, session: AsyncSession, digest_id: int) -> str:
    """Email one stored pack to the value owner (once); returns what happened."""
    digest = await session.get(ReviewDigest, digest_id)
    if digest is None or digest.emailed_at is not None:
        return "nothing_to_do"
    settings = await session.get(ReviewDigestSettings, digest.shop_id)
    if settings is None or not settings.email_enabled or not settings.owner_email:
        return "not_wanted"
    shop = await session.get_one(Shop, digest.shop_id)
    pack = await build_review(session, digest.shop_id, digest.month)
    changes = what_changed(pack)
    text = "\n".join(
        [f"The value review of {digest.month} for {shop.domain} is ready.", ""]
        + [f"- {line}" for line in changes]
        + ["", "Open Valuehealth in your Shopify admin and mark it reviewed."]
    )
    message = compose(
        sender=runtime.settings.mail_from,
        to_name=settings.owner_name,
        to_email=settings.owner_email,
        shop=shop.domain,
        month=digest.month,
        html=render_html(pack),
        text=text,
    )
    try:
        await send(runtime.settings, message)
    except MailNotConfigured:
        digest.email_error = "SMTP_URL is not set"
        return "not_configured"
    digest.emailed_at, digest.email_error = utcnow(), None
    return "sent"
