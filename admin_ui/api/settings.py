"""`/api/admin/settings`: what the merchant sets, in the sections the app already reads.

    GET   /api/admin/settings                     every section, the reason list and choices
    PUT   /api/admin/settings/{section}           replace one section (surveys, value,
                                                  workspace); strict: 422 names the field and
                                                  nothing is stored
    POST  /api/admin/settings/reasons             add a cancel reason (version 1)
    PATCH /api/admin/settings/reasons/{code}      revise it (a new version) and/or retire it
    PUT   /api/admin/settings/reasons/order       {"codes": [...]}: put these first, in order

Saving the value section asks for a recompute: margin and the value model move the figures.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

from sqlalchemy import select
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from admin_ui.api.common import ok
from admin_ui.auth import AdminContext
from plugin import workspace_settings as workspace_section
from plugin.db.transaction import transaction
from plugin.inbox import ensure_shop
from plugin.models import CancelReasonOption, Contract, Shop
from plugin.portal.common import error_body
from plugin.scoring import shop_settings as value_section
from plugin.scoring.requests import request_recompute
from plugin.settings_section import SettingsSection, ShopSettingsError
from plugin.surveys import settings as survey_section
from plugin.surveys.catalogue import (
    CatalogueError,
    add_reason,
    current_reasons,
    ensure_catalogue,
    reorder_reasons,
    revise_reason,
    set_reason_active,
)
from plugin.surveys.i18n import CATALOGUES
from plugin.value.reasons import VALUE_DRIVERS

MAX_BODY_BYTES = 65_536
SECTIONS: dict[str, SettingsSection[Any]] = {
    "surveys": survey_section.SECTION,
    "value": value_section.SECTION,
    "workspace": workspace_section.SECTION,
}


class BadBody(ValueError):
    pass


def _refused(code: str, message: str, field: str | None = None) -> JSONResponse:
    return JSONResponse(error_body(code, message, field), status_code=422)


async def _body(request: Request) -> Any:
    if request.headers.get("content-type", "").split(";")[0].strip().lower() != "application/json":
        raise BadBody("must be JSON (Content-Type: application/json)")
    raw = b""
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > MAX_BODY_BYTES:
            raise BadBody(f"must be at most {MAX_BODY_BYTES} bytes")
    try:
        return json.loads(raw)
    except ValueError:
        raise BadBody("is not valid JSON") from None


def reason_json(r: CancelReasonOption) -> dict[str, Any]:
    return {
        "code": r.code,
        "version": r.version,
        "driver": r.driver,
        "requires_comment": r.requires_comment,
        "active": r.active,
        "position": r.position,
        "labels": dict(r.labels or {}),
    }


def _section_doc(section: SettingsSection[Any], shop: Shop | None) -> dict[str, Any]:
    value = section.build() if shop is None else section.read(shop.settings, shop.id)
    return asdict(value)


async def settings_get(_request: Request, ctx: AdminContext) -> Response:
    shop = None if ctx.shop_id is None else await ctx.session.get(Shop, ctx.shop_id)
    reasons: list[dict[str, Any]] = []
    plans: list[dict[str, str]] = []
    if ctx.shop_id is not None:
        reasons = [reason_json(r) for r in await current_reasons(ctx.session, ctx.shop_id)]
        c = Contract.__table__
        rows = await ctx.session.execute(
            select(c.c.plan_name, c.c.currency)
            .distinct()
            .where(c.c.shop_id == ctx.shop_id, c.c.plan_name.is_not(None))
            .order_by(c.c.plan_name)
            .limit(200)
        )
        plans = [{"plan": name, "currency": currency} for name, currency in rows]
    return ok(
        {
            **{name: _section_doc(section, shop) for name, section in SECTIONS.items()},
            "reasons": reasons,
            "choices": {
                "drivers": list(VALUE_DRIVERS),
                "locales": sorted(CATALOGUES),
                "label_keys": sorted(CATALOGUES["en"]),
                "plans": plans,
            },
        }
    )


async def settings_put(request: Request, ctx: AdminContext) -> Response:
    name = request.path_params["section"]
    section = SECTIONS.get(name)
    if section is None:
        return JSONResponse(
            error_body("not_found", f"no settings section {name!r}"), status_code=404
        )
    try:
        raw = await _body(request)
        section.parse(raw)  # strict: refuse before anything is stored
    except BadBody as exc:
        return _refused("invalid_body", f"body {exc}", "body")
    except ShopSettingsError as exc:
        return _refused("invalid_setting", str(exc), f"{name}.{exc.name}".rstrip("."))
    async with transaction(ctx.runtime.sessionmaker, ctx.runtime.queue) as tx:
        shop_id = await ensure_shop(tx.session, ctx.shop_domain)
        shop = await tx.session.get_one(Shop, shop_id)
        # A new dict: the JSON column notices a replaced value, not an edit in place.
        shop.settings = {**(shop.settings or {}), name: raw}
        if name == "value":
            request_recompute(
                tx, shop_id, debounce_s=ctx.runtime.settings.recompute_debounce_seconds
            )
        body = _section_doc(section, shop)
    return ok({name: body})


async def _reasons_after(tx_session: Any, shop_id: int) -> list[dict[str, Any]]:
    return [reason_json(r) for r in await current_reasons(tx_session, shop_id)]


async def reason_add(request: Request, ctx: AdminContext) -> Response:
    try:
        data = await _body(request)
        if not isinstance(data, dict):
            raise BadBody("must be an object")
        async with transaction(ctx.runtime.sessionmaker, ctx.runtime.queue) as tx:
            shop_id = await ensure_shop(tx.session, ctx.shop_domain)
            await ensure_catalogue(tx.session, shop_id)
            await add_reason(
                tx.session,
                shop_id,
                str(data.get("code") or ""),
                str(data.get("driver") or ""),
                requires_comment=bool(data.get("requires_comment", False)),
                labels=data.get("labels") if isinstance(data.get("labels"), dict) else None,
            )
            reasons = await _reasons_after(tx.session, shop_id)
    except BadBody as exc:
        return _refused("invalid_body", f"body {exc}", "body")
    except CatalogueError as exc:
        return _refused("invalid_reason", str(exc))
    return JSONResponse({"reasons": reasons}, status_code=201)


async def reason_update(request: Request, ctx: AdminContext) -> Response:
    code = request.path_params["code"]
    try:
        data = await _body(request)
        if not isinstance(data, dict):
            raise BadBody("must be an object")
        async with transaction(ctx.runtime.sessionmaker, ctx.runtime.queue) as tx:
            shop_id = await ensure_shop(tx.session, ctx.shop_domain)
            await ensure_catalogue(tx.session, shop_id)
            changes = {k: data[k] for k in ("driver", "requires_comment", "labels") if k in data}
            if changes:
                labels = changes.get("labels")
                if labels is not None and not isinstance(labels, dict):
                    raise CatalogueError("labels must map a locale to a text")
                await revise_reason(
                    tx.session,
                    shop_id,
                    code,
                    driver=changes.get("driver"),
                    requires_comment=changes.get("requires_comment"),
                    labels=labels,
                )
            if "active" in data:
                await set_reason_active(tx.session, shop_id, code, bool(data["active"]))
            reasons = await _reasons_after(tx.session, shop_id)
    except BadBody as exc:
        return _refused("invalid_body", f"body {exc}", "body")
    except CatalogueError as exc:
        return _refused("invalid_reason", str(exc))
    return ok({"reasons": reasons})


async def reason_order(request: Request, ctx: AdminContext) -> Response:
    try:
        data = await _body(request)
        codes = data.get("codes") if isinstance(data, dict) else None
        if not isinstance(codes, list) or not all(isinstance(c, str) for c in codes):
            raise BadBody('must be {"codes": [reason codes]}')
        async with transaction(ctx.runtime.sessionmaker, ctx.runtime.queue) as tx:
            shop_id = await ensure_shop(tx.session, ctx.shop_domain)
            await ensure_catalogue(tx.session, shop_id)
            await reorder_reasons(tx.session, shop_id, codes)
            reasons = await _reasons_after(tx.session, shop_id)
    except BadBody as exc:
        return _refused("invalid_body", f"body {exc}", "body")
    except CatalogueError as exc:
        return _refused("invalid_reason", str(exc))
    return ok({"reasons": reasons})
