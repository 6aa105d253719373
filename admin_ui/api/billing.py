"""`/api/admin/billing`: dunning settings, today's billing run, recovered revenue per month.

GET /api/admin/billing              everything the Billing page shows
PUT /api/admin/billing/settings     save the dunning settings (422 names the field)
"""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from admin_ui.api.common import BodyInvalid, json_body, ok
from admin_ui.auth import AdminContext
from plugin.billing.recovered import recovered_by_month
from plugin.billing.settings import (
    SETTINGS_KEY,
    BillingSettings,
    BillingSettingsError,
    billing_settings,
    parse_billing_settings,
)
from plugin.db.transaction import transaction
from plugin.inbox import ensure_shop
from plugin.models import BillingCharge, Contract, DunningCase, Shop
from plugin.models.base import utcnow
from plugin.models.billing import DunningStatus
from plugin.portal.common import error_body
from plugin.scoring.localtime import shop_zone

MAX_BODY_BYTES = 4096
RECOVERED_MONTHS = 12

EXPLANATIONS = {
    "billing_day": (
        "Every day at the billing hour (shop time) Valuehealth charges each active "
        "subscription whose billing date is that day. Skipped deliveries and paused or "
        "cancelled subscriptions are never charged, and no billing date is charged twice."
    ),
    "retry_days": (
        "When a payment fails, it is tried again this many days after the billing date. "
        "Retries that cannot succeed until the customer updates their card (an expired card, "
        "for example) are skipped until they do."
    ),
    "final_action": (
        "What happens to the subscription when the last retry fails: pause it (the customer "
        "can resume with a new card) or cancel it. Either counts as involuntary churn."
    ),
    "recovered": (
        "Recovered revenue: the amount of failed payments later paid by a retry, in the "
        "month the retry succeeded, per currency (tax and shipping not included)."
    ),
    "today": "Charges Valuehealth asked Shopify for today (shop time) and what came of them.",
}


def _charge_json(charge: BillingCharge, contract_id: int) -> dict[str, Any]:
    return {
        "contract_id": contract_id,
        "cycle_index": charge.cycle_index,
        "billing_date": charge.cycle_date.isoformat(),
        "kind": "scheduled" if charge.try_number == 0 else f"retry {charge.try_number}",
        "status": charge.status,
        "error_code": charge.error_code,
        "amount": None if charge.amount is None else str(charge.amount),
        "currency": charge.currency,
    }


def _settings_doc(settings: BillingSettings) -> dict[str, Any]:
    return settings.as_json()


async def billing_overview(_request: Request, ctx: AdminContext) -> Response:
    shop = None if ctx.shop_id is None else await ctx.session.get(Shop, ctx.shop_id)
    settings = billing_settings(shop) if shop is not None else BillingSettings()
    zone = shop_zone(shop.timezone if shop is not None else "UTC")
    today = utcnow().astimezone(zone).date()
    body: dict[str, Any] = {
        "settings": _settings_doc(settings),
        "today": {"day": today.isoformat(), "charges": [], "counts": {}},
        "dunning": {"open": 0, "awaiting_payment_update": 0},
        "recovered": [],
        "explanations": EXPLANATIONS,
    }
    if shop is None:
        return ok(body)
    rows = (
        await ctx.session.execute(
            select(BillingCharge, Contract.contract_id)
            .join(Contract, Contract.id == BillingCharge.contract_pk)
            .where(BillingCharge.shop_id == shop.id, BillingCharge.billed_on == today)
            .order_by(BillingCharge.id)
        )
    ).all()
    body["today"]["charges"] = [_charge_json(charge, cid) for charge, cid in rows]
    body["today"]["counts"] = dict(Counter(charge.status for charge, _ in rows))
    open_cases = (
        await ctx.session.execute(
            select(DunningCase.needs_payment_update, func.count())
            .where(DunningCase.shop_id == shop.id, DunningCase.status == DunningStatus.OPEN)
            .group_by(DunningCase.needs_payment_update)
        )
    ).all()
    body["dunning"] = {
        "open": sum(int(n) for _, n in open_cases),
        "awaiting_payment_update": sum(int(n) for blocked, n in open_cases if blocked),
    }
    since = utcnow() - timedelta(days=31 * RECOVERED_MONTHS)
    body["recovered"] = [
        {"month": r.month, "currency": r.currency, "amount": str(r.amount), "cycles": r.cycles}
        for r in await recovered_by_month(ctx.session, shop.id, shop.timezone, since)
    ]
    return ok(body)


async def billing_settings_save(request: Request, ctx: AdminContext) -> Response:
    try:
        data = await json_body(request, MAX_BODY_BYTES)
        settings = parse_billing_settings(data)
    except BodyInvalid as exc:
        return JSONResponse(error_body("invalid_setting", str(exc), "body"), status_code=422)
    except BillingSettingsError as exc:
        return JSONResponse(error_body("invalid_setting", str(exc), exc.name), status_code=422)
    async with transaction(ctx.runtime.sessionmaker, ctx.runtime.queue) as tx:
        shop = await tx.session.get(
            Shop, await ensure_shop(tx.session, ctx.shop_domain), with_for_update=True
        )
        assert shop is not None
        shop.settings = {**(shop.settings or {}), SETTINGS_KEY: settings.as_json()}
    return ok({"settings": _settings_doc(settings)})
