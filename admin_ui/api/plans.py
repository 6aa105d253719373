"""`/api/admin/plans`: the shop's subscription plans, kept in Shopify as selling plan groups.

    GET   /api/admin/plans            the plans, each with its versions, and the form's choices
    POST  /api/admin/plans            create one (201); 422 names the field at fault
    PATCH /api/admin/plans/{id}       edit; a change of frequencies or discount is a new version

Shopify refusing a change is a 422 with Shopify's message (`shopify_refused`) and changes
nothing; a shop we hold no token for is a 409 (`not_connected`): the merchant opens the app
from Shopify admin once, which exchanges the token.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from admin_ui.api.common import BodyInvalid, json_body, not_found, ok
from admin_ui.auth import AdminContext
from plugin.billing.plans import (
    DISCOUNT_TYPES,
    INTERVALS,
    MAX_COUNT,
    PlanInvalid,
    PlanNotFound,
    PlanRejected,
    create_plan,
    list_plans,
    spec_of,
    update_plan,
)
from plugin.db.transaction import transaction
from plugin.inbox import ensure_shop
from plugin.models import Plan, PlanVersion, Shop
from plugin.portal.common import error_body
from plugin.shopify.graphql import AdminGraphQL, admin_client_for
from plugin.shopify.selling_plans import MAX_PLANS_PER_GROUP

MAX_BODY_BYTES = 65_536
_MAX_ID = 2**63 - 1


class NotConnected(Exception):
    pass


def choices() -> dict[str, Any]:
    return {
        "intervals": list(INTERVALS),
        "max_count": MAX_COUNT,
        "discount_types": list(DISCOUNT_TYPES),
        "max_frequencies": MAX_PLANS_PER_GROUP,
    }


def version_json(plan: Plan, version: PlanVersion) -> dict[str, Any]:
    spec = spec_of(plan, version)
    return {
        "version": version.version,
        "effective_from": version.effective_from.isoformat(),
        "discount": spec.discount.as_json(),
        "frequencies": [
            {**f.as_json(), "label": f.label, "selling_plan_id": version.selling_plans.get(f.key)}
            for f in spec.frequencies
        ],
    }


def plan_json(plan: Plan, versions: list[PlanVersion]) -> dict[str, Any]:
    current = next((v for v in versions if v.version == plan.current_version), versions[-1])
    doc = version_json(plan, current)
    return {
        "id": plan.id,
        "name": plan.name,
        "group_id": plan.group_gid,
        "products": list(plan.products or ()),
        "variants": list(plan.variants or ()),
        **doc,
        "versions": [version_json(plan, v) for v in versions],
        "explanation": (
            "A change of frequencies or discount starts a new version; subscribers keep the "
            "price they signed up at, and the metrics keep each version's offer."
        ),
    }


def _error(exc: Exception) -> JSONResponse:
    if isinstance(exc, PlanInvalid):
        return JSONResponse(error_body("invalid_plan", str(exc), exc.field), status_code=422)
    if isinstance(exc, BodyInvalid):
        return JSONResponse(error_body("invalid_plan", str(exc), "body"), status_code=422)
    if isinstance(exc, PlanRejected):
        return JSONResponse(error_body("shopify_refused", str(exc), exc.field), status_code=422)
    return JSONResponse(
        error_body(
            "not_connected",
            "Valuehealth has no access to this shop yet: open the app from Shopify admin once.",
        ),
        status_code=409,
    )


async def _client(runtime: Any, session: Any, shop_id: int) -> AdminGraphQL:
    shop = await session.get(Shop, shop_id)
    client = await admin_client_for(runtime, session, shop) if shop is not None else None
    if client is None:
        raise NotConnected
    return client


async def _versions(session: Any, plan: Plan) -> list[PlanVersion]:
    for found, versions in await list_plans(session, plan.shop_id):
        if found.id == plan.id:
            return versions
    return []


async def plans_list(_request: Request, ctx: AdminContext) -> Response:
    plans = [] if ctx.shop_id is None else await list_plans(ctx.session, ctx.shop_id)
    return ok({"plans": [plan_json(p, v) for p, v in plans if v], "choices": choices()})


async def plan_create(request: Request, ctx: AdminContext) -> Response:
    try:
        data = await json_body(request, MAX_BODY_BYTES)
        async with transaction(ctx.runtime.sessionmaker, ctx.runtime.queue) as tx:
            shop_id = await ensure_shop(tx.session, ctx.shop_domain)
            client = await _client(ctx.runtime, tx.session, shop_id)
            plan, _ = await create_plan(tx.session, shop_id, client, data)
            body = plan_json(plan, await _versions(tx.session, plan))
    except (PlanInvalid, PlanRejected, BodyInvalid, NotConnected) as exc:
        return _error(exc)
    return JSONResponse(body, status_code=201)


async def plan_update(request: Request, ctx: AdminContext) -> Response:
    plan_id = int(request.path_params["plan_id"])
    if ctx.shop_id is None or plan_id > _MAX_ID:
        return not_found("no such plan")
    shop_id = ctx.shop_id
    try:
        data = await json_body(request, MAX_BODY_BYTES)
        async with transaction(ctx.runtime.sessionmaker, ctx.runtime.queue) as tx:
            client = await _client(ctx.runtime, tx.session, shop_id)
            plan, _ = await update_plan(tx.session, shop_id, plan_id, client, data)
            body = plan_json(plan, await _versions(tx.session, plan))
    except PlanNotFound:
        return not_found("no such plan")
    except (PlanInvalid, PlanRejected, BodyInvalid, NotConnected) as exc:
        return _error(exc)
    return ok(body)
