"""`/api/admin/history` gives each stored month's chart fields as stored; `/api/admin/metrics/
definitions` and docs/metrics.md come from the one list of definitions."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import httpx

from plugin.models import MetricSnapshot
from plugin.runtime import Runtime
from plugin.scoring.definitions import DEFINITIONS, render_markdown, short_definitions
from tests.plugin.scoring.builders import ShopBuilder
from tests.support.signing import session_token

SHOP = "history-shop.myshopify.com"
DOCS = Path(__file__).parents[2] / "docs" / "metrics.md"


def auth() -> dict[str, str]:
    return {"Authorization": f"Bearer {session_token(shop=SHOP)}"}


def month_doc(score: float, reasons: list[dict[str, object]]) -> dict[str, object]:
    return {
        "as_of": "2026-05-31",
        "churn": {
            "month": "2026-04",
            "monthly_rate": 0.05,
            "voluntary": 0.03,
            "involuntary": 0.02,
            "merchant": 0.0,
            "expired": 0.0,
            "unknown": 0.0,
            "churned": 5,
            "active_at_start": 100,
            "history": [{"month": "2026-04"}],
        },
        "nps": {
            "score": score,
            "ci_low": score - 10,
            "ci_high": score + 10,
            "responses": 40,
            "promoters": 20,
            "passives": 10,
            "detractors": 10,
        },
        "value_perception": 3.9,
        "details": {"value_perception": {"answers": 12}},
        "cancel_reasons": reasons,
        "cancellations": {"total": 7, "system_reasons": {"payment_failed": 2}},
        "capture_rate": 5 / 7,
    }


async def test_history_lists_months_oldest_first_with_their_chart_fields(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    shop = await ShopBuilder.create(runtime, SHOP)
    reason = {
        "code": "too_expensive",
        "label": "Too expensive",
        "count": 5,
        "share": 1.0,
        "driver": "price_value",
    }
    await shop.add(
        *[
            MetricSnapshot(
                shop_id=shop.shop_id,
                period="month",
                period_start=date(2026, m, 1),
                metrics=month_doc(10.0 * m, [reason]),
            )
            for m in (3, 4, 5)
        ],
        MetricSnapshot(
            shop_id=shop.shop_id,
            period="day",
            period_start=date(2026, 5, 3),
            metrics=month_doc(99.0, []),
        ),
    )
    body = (await client.get("/api/admin/history?months=2", headers=auth())).json()
    assert [m["month"] for m in body["months"]] == ["2026-04", "2026-05"]
    may = body["months"][1]
    assert may["nps"] == {
        "score": 50.0,
        "ci_low": 40.0,
        "ci_high": 60.0,
        "responses": 40,
        "promoters": 20,
        "passives": 10,
        "detractors": 10,
    }
    assert may["churn"]["voluntary"] == 0.03 and "history" not in may["churn"]
    assert may["cancel_reasons"] == [reason] and may["system_reasons"] == {"payment_failed": 2}
    assert (may["value_answers"], may["cancellations"]) == (12, 7)
    for bad in ("0", "61", "x"):
        response = await client.get(f"/api/admin/history?months={bad}", headers=auth())
        assert response.status_code == 422 and response.json()["error"]["field"] == "months"


def test_docs_metrics_md_is_rendered_from_the_definitions() -> None:
    assert DOCS.read_text(encoding="utf-8") == render_markdown(), (
        "docs/metrics.md is stale: python -m plugin.scoring.definitions > docs/metrics.md"
    )


async def test_definitions_api_and_tips_carry_every_metric(client: httpx.AsyncClient) -> None:
    body = (await client.get("/api/admin/metrics/definitions", headers=auth())).json()
    assert [m["key"] for m in body["metrics"]] == [d.key for d in DEFINITIONS]
    assert set(short_definitions()) == {d.key for d in DEFINITIONS}
    for d in DEFINITIONS:
        assert d.short.endswith(".") and d.formula and d.window and d.edge_cases
        assert f'<a id="{d.key}"></a>' in render_markdown()
