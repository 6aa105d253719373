"""`GET /api/admin/overview` and `GET /api/admin/retention`: the latest stored snapshot."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from admin_ui.api.common import ok
from admin_ui.auth import AdminContext
from plugin.scoring.definitions import DEFINITIONS
from plugin.scoring.metrics_doc import OverviewDoc, empty_overview
from plugin.scoring.reads import latest_overview


async def _latest(ctx: AdminContext) -> OverviewDoc:
    doc = None if ctx.shop_id is None else await latest_overview(ctx.session, ctx.shop_id)
    return doc if doc is not None else empty_overview(ctx.shop_domain)


async def overview(_request: Request, ctx: AdminContext) -> Response:
    """The shop's value health (DESIGN.md §6); `computed_at: null` before the first recompute."""
    return ok(await _latest(ctx))


async def retention(_request: Request, ctx: AdminContext) -> Response:
    """The retention model, cohort curves, retention by order and cohort shifts."""
    doc = await _latest(ctx)
    body: dict[str, Any] = {
        "shop": doc["shop"],
        "status": doc["status"],
        "computed_at": doc["computed_at"],
        "as_of": doc["as_of"],
        **doc["retention"],
    }
    return ok(body)


async def definitions(_request: Request, _ctx: AdminContext) -> Response:
    """Every metric's definition: the workspace's "how we compute this" page."""
    return ok(
        {
            "metrics": [
                {
                    "key": d.key,
                    "label": d.label,
                    "short": d.short,
                    "formula": d.formula,
                    "window": d.window,
                    "edge_cases": list(d.edge_cases),
                    "source": d.source,
                }
                for d in DEFINITIONS
            ]
        }
    )
