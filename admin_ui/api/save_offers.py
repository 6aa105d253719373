"""`/api/admin/save-offers`: the offer shown for each cancel reason, the holdout, and the report.

    GET /api/admin/save-offers   configuration, choices and the report (offered, accepted,
                                 true save rate at 30/60/90 days with a 95% interval)
    PUT /api/admin/save-offers   {"holdout_share": 0.1, "offers": {"too_expensive":
                                 {"kind": "discount", "percentage": 20, "orders": 3}, …}};
                                 422 names the field at fault and changes nothing

The shop is the session token's. Definitions in docs/metrics.md ("Save offers").
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from admin_ui.api.common import BodyInvalid, json_body, ok
from admin_ui.auth import AdminContext
from plugin.db.transaction import transaction
from plugin.inbox import ensure_shop
from plugin.models.base import utcnow
from plugin.portal.common import error_body
from plugin.saveoffers.offers import (
    KINDS,
    MAX_HOLDOUT,
    OfferInvalid,
    clean_holdout,
    clean_offers,
    describe,
    offer_settings,
)
from plugin.saveoffers.report import shop_report
from plugin.surveys.catalogue import offered_reasons
from plugin.surveys.i18n import reason_label

MAX_BODY_BYTES = 16_384
DEFINITIONS = {
    "offered": "Subscribers who gave this reason and were shown this offer.",
    "accepted": "Of those, how many said yes. Saying yes is not staying.",
    "kept": "Share whose subscription had not ended that many days after the cancel flow "
    "(paused counts as not ended); only flows at least that old are counted.",
    "save_rate": "Kept when offered minus kept in the holdout (same reason and offer, shown "
    "nothing): the subscribers the offer really kept. The range is a 95% interval; a range "
    "that includes 0 means the data cannot tell yet whether the offer keeps anyone.",
    "holdout": "A fixed random share of subscribers who are never shown an offer, so the "
    "offer can be compared with doing nothing.",
}


async def _config(ctx_session: Any, shop_id: int) -> dict[str, Any]:
    settings = await offer_settings(ctx_session, shop_id)
    reasons = await offered_reasons(ctx_session, shop_id)
    return {
        "holdout_share": settings.holdout_share,
        "max_holdout_share": MAX_HOLDOUT,
        "kinds": list(KINDS),
        "reasons": [
            {
                "code": r.code,
                "label": reason_label(r.code, "en", r.labels),
                "offer": settings.offers.get(r.code),
                "offer_text": describe(settings.offers.get(r.code)),
            }
            for r in reasons
        ],
    }


async def save_offers_get(_request: Request, ctx: AdminContext) -> Response:
    async with transaction(ctx.runtime.sessionmaker, ctx.runtime.queue) as tx:
        shop_id = await ensure_shop(tx.session, ctx.shop_domain)
        body = await _config(tx.session, shop_id)
        body["report"] = report = await shop_report(tx.session, shop_id, utcnow())
    labels = {r["code"]: r["label"] for r in body["reasons"]}
    for row in report["rows"]:
        row["reason_label"] = labels.get(row["reason"], row["reason"])
    body["definitions"] = DEFINITIONS
    return ok(body)


async def _json_object(request: Request) -> dict[str, Any]:
    try:
        data = await json_body(request, MAX_BODY_BYTES)
    except BodyInvalid as exc:
        raise OfferInvalid(exc.field, exc.message) from None
    if not isinstance(data, dict):
        raise OfferInvalid("body", "must be a JSON object")
    return data


async def save_offers_put(request: Request, ctx: AdminContext) -> Response:
    try:
        data = await _json_object(request)
        async with transaction(ctx.runtime.sessionmaker, ctx.runtime.queue) as tx:
            shop_id = await ensure_shop(tx.session, ctx.shop_domain)
            settings = await offer_settings(tx.session, shop_id)
            codes = {r.code for r in await offered_reasons(tx.session, shop_id)}
            if "offers" in data:
                settings.offers = clean_offers(data["offers"], codes)
            if "holdout_share" in data:
                settings.holdout_share = clean_holdout(data["holdout_share"])
            await tx.session.flush()
            body = await _config(tx.session, shop_id)
    except OfferInvalid as exc:  # raised inside: the transaction rolled back
        return JSONResponse(error_body("invalid_offer", exc.message, exc.field), status_code=422)
    return ok(body)
