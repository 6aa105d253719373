"""`/api/admin/onboarding`: the fresh-install checklist and the import it can start.

GET  /api/admin/onboarding            each setup step's state (import, survey, Flow, scoring)
POST /api/admin/onboarding/backfill   start importing existing subscriptions (202); the
                                      run already queued or running is returned as is
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from admin_ui.api.common import ok
from admin_ui.auth import AdminContext
from plugin.db.transaction import transaction
from plugin.inbox import ensure_shop
from plugin.models.base import utcnow
from plugin.onboarding import run_json, setup_status, start_backfill

# From shopify.app.toml ([app_proxy]) and extensions/nps-survey-ready: where the survey lives.
PROXY_PATH = "/apps/valuehealth/survey"
FLOW_TRIGGER = "NPS survey ready"


def survey_places(shop_domain: str) -> dict[str, Any]:
    return {
        "proxy_url": f"https://{shop_domain}{PROXY_PATH}",
        "flow_trigger": FLOW_TRIGGER,
        "email_link": (
            "Survey URL (from the Flow trigger), with ?score=0 … ?score=10 for one-click buttons"
        ),
    }


async def onboarding(_request: Request, ctx: AdminContext) -> Response:
    status = await setup_status(ctx.session, ctx.shop_id, utcnow())
    return ok({**status, "survey": survey_places(ctx.shop_domain)})


async def onboarding_backfill(_request: Request, ctx: AdminContext) -> Response:
    async with transaction(ctx.runtime.sessionmaker, ctx.runtime.queue) as tx:
        shop_id = await ensure_shop(tx.session, ctx.shop_domain)
        run = await start_backfill(tx, shop_id)
        body = run_json(run, utcnow())
    return JSONResponse(body, status_code=202)
