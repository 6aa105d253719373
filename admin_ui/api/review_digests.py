"""`/api/admin/review-digests`: the stored monthly packs, the badge, who reviewed which month.

GET   /api/admin/review-digests                   badge, history, email settings
GET   /api/admin/review-digests/{YYYY-MM}         one stored pack (JSON, as built)
POST  /api/admin/review-digests/{YYYY-MM}/reviewed  {"reviewed_by": "Dana"}
PATCH /api/admin/review-digests/settings          {"owner_name", "owner_email", "email_enabled"}
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from starlette.requests import Request
from starlette.responses import Response

from admin_ui.api.common import BodyInvalid, invalid, json_body, not_found, ok
from admin_ui.auth import AdminContext
from plugin.db.transaction import transaction
from plugin.inbox import ensure_shop
from plugin.models import ReviewDigest, ReviewDigestSettings
from plugin.models.base import utcnow
from plugin.review.build import parse_month
from plugin.review.digest import (
    DigestInvalid,
    digest_settings,
    history,
    mark_reviewed,
    parse_settings,
)
from plugin.review.pack import ReviewError


def _item(digest: ReviewDigest) -> dict[str, Any]:
    return {
        "month": digest.month,
        "built_at": digest.built_at.isoformat(),
        "reviewed_at": digest.reviewed_at.isoformat() if digest.reviewed_at else None,
        "reviewed_by": digest.reviewed_by,
        "emailed_at": digest.emailed_at.isoformat() if digest.emailed_at else None,
    }


def _settings(row: ReviewDigestSettings | None) -> dict[str, Any]:
    return {
        "owner_name": row.owner_name if row else None,
        "owner_email": row.owner_email if row else None,
        "email_enabled": bool(row and row.email_enabled),
    }


async def digests_list(_request: Request, ctx: AdminContext) -> Response:
    items: list[ReviewDigest] = []
    settings = None
    if ctx.shop_id is not None:
        items = await history(ctx.session, ctx.shop_id)
        settings = await ctx.session.get(ReviewDigestSettings, ctx.shop_id)
    newest = items[0] if items else None
    badge = _item(newest) if newest is not None and newest.reviewed_at is None else None
    return ok(
        {
            "badge": badge,
            "history": [_item(d) for d in items],
            "settings": _settings(settings),
            "email_configured": bool(ctx.runtime.settings.smtp_url),
        }
    )


def _month(request: Request) -> str | None:
    month = str(request.path_params["month"])
    try:
        parse_month(month)
    except (ReviewError, ValueError):
        return None
    return month


async def digest_get(request: Request, ctx: AdminContext) -> Response:
    month = _month(request)
    if month is None:
        return invalid("month", "must be a month YYYY-MM")
    digest = None
    if ctx.shop_id is not None:
        digest = await ctx.session.scalar(
            select(ReviewDigest).where(
                ReviewDigest.shop_id == ctx.shop_id, ReviewDigest.month == month
            )
        )
    if digest is None:
        return not_found(f"no stored review of {month}")
    return ok({**_item(digest), "pack": digest.pack})


async def digest_reviewed(request: Request, ctx: AdminContext) -> Response:
    month = _month(request)
    if month is None:
        return invalid("month", "must be a month YYYY-MM")
    if ctx.shop_id is None:
        return not_found(f"no stored review of {month}")
    shop_id = ctx.shop_id
    try:
        body = await json_body(request)
        if not isinstance(body, dict) or set(body) != {"reviewed_by"}:
            raise DigestInvalid("body", 'send {"reviewed_by": "<name>"}')
        async with transaction(ctx.runtime.sessionmaker, ctx.runtime.queue) as tx:
            digest = await mark_reviewed(tx.session, shop_id, month, body["reviewed_by"], utcnow())
            item = _item(digest)
    except (DigestInvalid, BodyInvalid) as exc:
        return invalid(exc.field, exc.message)
    except LookupError:
        return not_found(f"no stored review of {month}")
    return ok(item)


async def digest_settings_update(request: Request, ctx: AdminContext) -> Response:
    try:
        fields = parse_settings(await json_body(request))
        async with transaction(ctx.runtime.sessionmaker, ctx.runtime.queue) as tx:
            shop_id = await ensure_shop(tx.session, ctx.shop_domain)
            row = await digest_settings(tx.session, shop_id)
            for name, value in fields.items():
                setattr(row, name, value)
            if row.email_enabled and not row.owner_email:
                raise DigestInvalid("owner_email", "is needed to email the review")
            body = _settings(row)
    except (DigestInvalid, BodyInvalid) as exc:
        return invalid(exc.field, exc.message)
    return ok(body)
