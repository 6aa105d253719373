"""`GET /api/admin/history?months=N`: month by month, what the charts need beyond one number.

The trends API gives one metric over time; the churn split, the NPS with its interval and
answer counts, and the cancel-reason mix need several fields of each month's snapshot. Each
month is read as stored (its snapshot as of the month's last day); nothing is recomputed.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from starlette.requests import Request
from starlette.responses import Response

from admin_ui.api.common import invalid, ok
from admin_ui.auth import AdminContext
from plugin.models import MetricSnapshot

DEFAULT_MONTHS = 12
MAX_MONTHS = 60


def month_entry(doc: dict[str, Any], month: str) -> dict[str, Any]:
    """The fields of one monthly snapshot the charts draw."""
    churn = doc.get("churn") or {}
    nps = doc.get("nps") or {}
    return {
        "month": month,
        "as_of": doc.get("as_of"),
        "churn": {
            k: churn.get(k)
            for k in (
                "month",
                "monthly_rate",
                "voluntary",
                "involuntary",
                "merchant",
                "expired",
                "unknown",
                "churned",
                "active_at_start",
            )
        },
        "nps": {
            k: nps.get(k)
            for k in (
                "score",
                "ci_low",
                "ci_high",
                "responses",
                "promoters",
                "passives",
                "detractors",
            )
        },
        "value_perception": doc.get("value_perception"),
        "value_answers": (doc.get("details") or {}).get("value_perception", {}).get("answers"),
        "response_rate": doc.get("response_rate"),
        "capture_rate": doc.get("capture_rate"),
        "cancellations": (doc.get("cancellations") or {}).get("total"),
        "cancel_reasons": doc.get("cancel_reasons") or [],
        "system_reasons": (doc.get("cancellations") or {}).get("system_reasons") or {},
    }


async def history(request: Request, ctx: AdminContext) -> Response:
    raw = request.query_params.get("months") or str(DEFAULT_MONTHS)
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_MONTHS:
        return invalid("months", f"months must be a whole number from 1 to {MAX_MONTHS}")
    months = int(raw)
    if ctx.shop_id is None:
        return ok({"months": []})
    snap = MetricSnapshot.__table__
    rows = (
        await ctx.session.execute(
            select(snap.c.period_start, snap.c.metrics)
            .where(snap.c.shop_id == ctx.shop_id, snap.c.period == "month")
            .order_by(snap.c.period_start.desc())
            .limit(months)
        )
    ).all()
    entries = [month_entry(doc, start.isoformat()[:7]) for start, doc in reversed(rows)]
    return ok({"months": entries})
