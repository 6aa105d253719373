"""`/api/admin/initiatives`: the shop's value initiatives with their measured effect.

    GET   /api/admin/initiatives          the backlog, newest first, and the choices a form needs
    POST  /api/admin/initiatives          add one (201); 422 names the field at fault
    GET   /api/admin/initiatives/{id}     one
    PATCH /api/admin/initiatives/{id}     change fields or move its status forward

The shop is the session token's; another shop's initiative is a 404, like a missing one.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import date
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from admin_ui.api.common import BodyInvalid, json_body, not_found, ok
from admin_ui.auth import AdminContext
from plugin.bounded import MAX_ID
from plugin.customer_data.sync import SYNC_CUSTOMER_DATA
from plugin.db.transaction import Tx, transaction
from plugin.inbox import ensure_shop
from plugin.initiatives.audience import FIELDS as AUDIENCE_FIELDS
from plugin.initiatives.audience import NPS_CATEGORIES, SEGMENTS
from plugin.initiatives.catalogue import (
    DEFAULT_WINDOW_DAYS,
    DIRECTIONS,
    DRIVERS,
    MAX_WINDOW_DAYS,
    MIN_WINDOW_DAYS,
    STATUSES,
    TRANSITIONS,
)
from plugin.initiatives.effect import Effect, initiative_effect
from plugin.initiatives.holdout import (
    HoldoutEffect,
    announce_status_change,
    get_audience,
    holdout_effect,
)
from plugin.initiatives.metrics import MEMBER_METRICS, TARGET_METRICS
from plugin.initiatives.service import (
    InitiativeNotFound,
    create_initiative,
    get_initiative,
    list_initiatives,
    update_initiative,
)
from plugin.initiatives.uplift import DEFAULT_HOLDOUT_SHARE, MAX_HOLDOUT_SHARE, MIN_HOLDOUT_SHARE
from plugin.initiatives.validation import InitiativeInvalid
from plugin.models import Shop
from plugin.models.base import utcnow
from plugin.models.initiative_members import InitiativeAudience
from plugin.models.initiatives import Initiative
from plugin.portal.common import error_body
from plugin.scoring.localtime import local_today, shop_zone

MAX_BODY_BYTES = 16_384


def choices() -> dict[str, Any]:
    return {
        "drivers": list(DRIVERS),
        "statuses": list(STATUSES),
        "directions": list(DIRECTIONS),
        "metrics": [
            {
                "key": m.path,
                "label": m.label,
                "unit": m.unit,
                "better": m.better,
                "tested": m.method in ("nps", "proportion", "monthly"),
            }
            for m in TARGET_METRICS.values()
        ],
        "member_metrics": [
            {"key": m.key, "label": m.label, "unit": m.unit, "better": m.better, "tested": True}
            for m in MEMBER_METRICS.values()
        ],
        "audience": {
            "fields": list(AUDIENCE_FIELDS),
            "segments": sorted(SEGMENTS),
            "nps_categories": list(NPS_CATEGORIES),
        },
        "holdout_share": {
            "default": DEFAULT_HOLDOUT_SHARE,
            "min": MIN_HOLDOUT_SHARE,
            "max": MAX_HOLDOUT_SHARE,
        },
        "window_days": {
            "default": DEFAULT_WINDOW_DAYS,
            "min": MIN_WINDOW_DAYS,
            "max": MAX_WINDOW_DAYS,
        },
    }


def _iso(value: date | None) -> str | None:
    return None if value is None else value.isoformat()


# Said with every before/after effect: it compares two periods, not two groups.
SEASON_CAVEAT = (
    "Shop-wide before/after: the days after the start are compared with the days before, "
    "so a season, a price change or anything else that happened meanwhile counts as the "
    "initiative's effect. Target a segment to measure against a random holdout instead."
)


def effect_json(effect: Effect | HoldoutEffect) -> dict[str, Any]:
    if isinstance(effect, HoldoutEffect):
        doc = asdict(effect)
        doc["period"] = None if effect.period is None else [d.isoformat() for d in effect.period]
        doc["verdict"] = effect.judgement.verdict
        doc["reason"] = effect.judgement.reason
        doc["as_expected"] = effect.judgement.as_expected
        del doc["judgement"]
        return doc
    doc = asdict(effect)
    for key in ("before_period", "after_period"):
        span = doc[key]
        doc[key] = None if span is None else [d.isoformat() for d in span]
    doc["caveat"] = SEASON_CAVEAT
    return doc


def audience_json(audience: InitiativeAudience | None) -> dict[str, Any] | None:
    if audience is None:
        return None
    return {
        "filter": audience.filter,
        "holdout_share": audience.holdout_share,
        "members": audience.members,
        "drawn_at": None if audience.drawn_at is None else audience.drawn_at.isoformat(),
        "seed": audience.seed,
    }


def initiative_json(
    initiative: Initiative,
    effect: Effect | HoldoutEffect,
    audience: InitiativeAudience | None = None,
) -> dict[str, Any]:
    metric = TARGET_METRICS.get(initiative.target_metric)
    member = MEMBER_METRICS.get(initiative.target_metric)
    label = metric.label if metric else member.label if member else initiative.target_metric
    unit = metric.unit if metric else member.unit if member else None
    return {
        "id": initiative.id,
        "title": initiative.title,
        "hypothesis": initiative.hypothesis,
        "driver": initiative.driver,
        "target_metric": initiative.target_metric,
        "target_label": label,
        "unit": unit,
        "design": "holdout" if audience is not None else "before_after",
        "audience": audience_json(audience),
        "expected_direction": initiative.expected_direction,
        "expected_change": initiative.expected_change,
        "owner": initiative.owner,
        "status": initiative.status,
        "next_statuses": sorted(TRANSITIONS[initiative.status], key=STATUSES.index),
        "starts_on": _iso(initiative.starts_on),
        "ends_on": _iso(initiative.ends_on),
        "window_days": initiative.window_days,
        "created_at": initiative.created_at.isoformat(),
        "updated_at": initiative.updated_at.isoformat(),
        "effect": effect_json(effect),
    }


async def _today(session: AsyncSession, shop_id: int) -> date:
    """The shop's current day: initiative dates and snapshots are in its timezone."""
    shop = await session.get_one(Shop, shop_id)
    return local_today(shop_zone(shop.timezone), utcnow())


async def _with_effect(
    session: AsyncSession, shop_id: int, initiative: Initiative, today: date
) -> dict[str, Any]:
    audience = await get_audience(session, shop_id, initiative.id)
    if audience is not None:
        effect: Effect | HoldoutEffect = await holdout_effect(session, initiative, audience, today)
    else:
        effect = await initiative_effect(session, shop_id, initiative, today)
    return initiative_json(initiative, effect, audience)


async def _mark_in_shopify(tx: Tx, shop_id: int) -> None:
    """A treatment group started or ended: update the customers' initiative metafield now,
    not at the next recompute (only a shop with a token can be written to)."""
    shop = await tx.session.get_one(Shop, shop_id)
    if shop.access_token_enc is not None and shop.uninstalled_at is None:
        tx.enqueue_after_commit(SYNC_CUSTOMER_DATA, shop_id, key=f"{SYNC_CUSTOMER_DATA}:{shop_id}")


def _invalid(error: InitiativeInvalid) -> JSONResponse:
    return JSONResponse(
        error_body("invalid_initiative", error.message, error.field), status_code=422
    )


async def _json_body(request: Request) -> Any:
    """The request's JSON document; InitiativeInvalid("body") when it is not one."""
    try:
        return await json_body(request, MAX_BODY_BYTES)
    except BodyInvalid as exc:
        raise InitiativeInvalid(exc.field, exc.message) from None


def _initiative_id(request: Request) -> int:
    initiative_id = int(request.path_params["initiative_id"])
    if initiative_id > MAX_ID:  # no row has it, and the database would refuse the number
        raise InitiativeNotFound(initiative_id)
    return initiative_id


async def initiatives_list(_request: Request, ctx: AdminContext) -> Response:
    items: list[dict[str, Any]] = []
    if ctx.shop_id is not None:
        today = await _today(ctx.session, ctx.shop_id)
        for initiative in await list_initiatives(ctx.session, ctx.shop_id):
            items.append(await _with_effect(ctx.session, ctx.shop_id, initiative, today))
    return ok({"initiatives": items, "choices": choices()})


async def initiative_create(request: Request, ctx: AdminContext) -> Response:
    try:
        data = await _json_body(request)
        async with transaction(ctx.runtime.sessionmaker, ctx.runtime.queue) as tx:
            shop_id = await ensure_shop(tx.session, ctx.shop_domain)
            today = await _today(tx.session, shop_id)
            initiative = await create_initiative(tx.session, shop_id, data, today)
            body = await _with_effect(tx.session, shop_id, initiative, today)
    except InitiativeInvalid as exc:  # raised inside: the transaction rolled back
        return _invalid(exc)
    return JSONResponse(body, status_code=201)


async def initiative_get(request: Request, ctx: AdminContext) -> Response:
    if ctx.shop_id is None:
        return not_found("no such initiative")
    try:
        initiative = await get_initiative(ctx.session, ctx.shop_id, _initiative_id(request))
    except InitiativeNotFound:
        return not_found("no such initiative")
    today = await _today(ctx.session, ctx.shop_id)
    return ok(await _with_effect(ctx.session, ctx.shop_id, initiative, today))


async def initiative_update(request: Request, ctx: AdminContext) -> Response:
    if ctx.shop_id is None:
        return not_found("no such initiative")
    shop_id = ctx.shop_id
    try:
        data = await _json_body(request)
        async with transaction(ctx.runtime.sessionmaker, ctx.runtime.queue) as tx:
            today = await _today(tx.session, shop_id)
            initiative_id = _initiative_id(request)
            previous = (await get_initiative(tx.session, shop_id, initiative_id)).status
            initiative = await update_initiative(tx.session, shop_id, initiative_id, data, today)
            if await announce_status_change(tx, initiative, previous):
                await _mark_in_shopify(tx, shop_id)
            body = await _with_effect(tx.session, shop_id, initiative, today)
    except InitiativeInvalid as exc:
        return _invalid(exc)
    except InitiativeNotFound:
        return not_found("no such initiative")
    return ok(body)
