"""`/api/admin/overview`, `/retention` and `/trends`: stored results read back as stored,
trends from daily and monthly snapshots, 422 for a parameter the API does not know."""

from __future__ import annotations

from datetime import date, timedelta

import httpx
import pytest

from plugin.db.transaction import transaction
from plugin.runtime import Runtime
from plugin.scoring import reads
from plugin.scoring.metrics_doc import OverviewDoc, empty_overview
from plugin.scoring.recompute import recompute_shop_now
from plugin.scoring.store import DAY, MONTH, SnapshotRow, store_snapshots
from tests.plugin.scoring.builders import ShopBuilder, at
from tests.support.signing import session_token

SHOP = "metrics-shop.myshopify.com"
NOW = at(2026, 3, 11, 3)


def headers() -> dict[str, str]:
    return {"Authorization": f"Bearer {session_token(shop=SHOP)}"}


async def test_overview_and_retention_read_the_stored_snapshot(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    shop = await ShopBuilder.create(runtime, SHOP)
    for i, start in enumerate([at(2025, 9, 3), at(2025, 10, 8), at(2025, 11, 2)]):
        sub = await shop.subscriber(800 + i)
        contract = await shop.contract(sub, started=start, amount="30.00")
        await shop.attempt(contract, start + timedelta(days=31))
    await recompute_shop_now(runtime, shop.shop_id, now=NOW)
    async with runtime.sessionmaker() as session:
        stored = await reads.latest_overview(session, shop.shop_id)
    assert stored is not None

    response = await client.get("/api/admin/overview", headers=headers())
    assert response.status_code == 200
    body = response.json()
    assert body == stored
    # docs/design.md §6 names these fields; all present.
    for key in ("shop", "computed_at", "subscribers", "mrr", "churn", "nps"):
        assert key in body
    assert set(body["subscribers"]) >= {"active", "paused"}
    assert set(body["mrr"]) >= {"amount", "currency"}
    assert "monthly_rate" in body["churn"]
    assert set(body["nps"]) >= {
        "score",
        "responses",
        "promoters",
        "passives",
        "detractors",
        "ci_low",
        "ci_high",
    }
    assert body["computed_at"] == NOW.isoformat()
    assert body["status"] == "ok"
    assert body["mrr"]["amount"] == 90.0

    retention = (await client.get("/api/admin/retention", headers=headers())).json()
    assert retention["computed_at"] == NOW.isoformat()
    assert set(retention["model"]) >= {"alpha", "beta", "loglik"}
    assert [c["cohort"] for c in retention["cohorts"]] == ["2025-09", "2025-10", "2025-11"]
    assert [c["size"] for c in retention["cohorts"]] == [1, 1, 1]
    # Nobody has left: every observed point of every curve is 1.
    assert all(v in (1.0, None) for c in retention["cohorts"] for v in c["survival"])
    assert retention["cohorts"][0]["survival"][0] == 1.0
    # No churn at all: the sBG fit cannot be identified and says so instead of guessing.
    assert retention["model"]["converged"] is False
    assert retention["model"]["alpha"] is None and retention["model"]["reason"]


def doc_with(mrr: float | None, nps: float | None) -> OverviewDoc:
    doc = empty_overview(SHOP)
    doc["mrr"] = {"amount": mrr, "currency": "USD", "by_currency": {}}
    doc["nps"]["score"] = nps
    return doc


async def test_trends_come_from_daily_and_monthly_snapshots(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    shop = await ShopBuilder.create(runtime, SHOP)
    days = [date(2026, 3, d) for d in (1, 2, 3, 5)]
    rows = [SnapshotRow(DAY, d, doc_with(100.0 + d.day, None)) for d in days]
    rows += [
        SnapshotRow(MONTH, date(2026, 1, 1), doc_with(90.0, 12.5)),
        SnapshotRow(MONTH, date(2026, 2, 1), doc_with(95.5, None)),
    ]
    async with transaction(runtime.sessionmaker, None) as tx:
        await store_snapshots(tx.session, shop.shop_id, NOW, rows)

    url = "/api/admin/trends?metric=mrr&from=2026-03-02&to=2026-03-05"
    body = (await client.get(url, headers=headers())).json()
    assert body["metric"] == "mrr" and body["period"] == "day"
    assert body["points"] == [
        {"date": "2026-03-02", "value": 102.0},
        {"date": "2026-03-03", "value": 103.0},
        {"date": "2026-03-05", "value": 105.0},
    ]
    monthly = (
        await client.get(
            "/api/admin/trends?metric=nps&period=month&from=2025-12-01&to=2026-03-31",
            headers=headers(),
        )
    ).json()
    # A month whose NPS could not be computed stays null: never 0.
    assert monthly["points"] == [
        {"date": "2026-01-01", "value": 12.5},
        {"date": "2026-02-01", "value": None},
    ]
    # Without from/to: the last 90 days up to today.
    default = (await client.get("/api/admin/trends?metric=mrr", headers=headers())).json()
    assert date.fromisoformat(default["to"]) - date.fromisoformat(default["from"]) == timedelta(90)


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("", "metric"),
        ("metric=profit", "metric"),
        ("metric=mrr&period=week", "period"),
        ("metric=mrr&from=yesterday", "from"),
        ("metric=mrr&to=2026-13-01", "to"),
        ("metric=mrr&from=2026-03-05&to=2026-03-01", "from"),
        ("metric=mrr&from=2010-01-01&to=2026-03-01", "from"),
    ],
)
async def test_trends_reject_bad_parameters(
    client: httpx.AsyncClient, query: str, field: str
) -> None:
    response = await client.get(f"/api/admin/trends?{query}", headers=headers())
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["field"] == field
    if field == "metric":
        assert "churn_rate" in error["message"]  # the message lists what is known
