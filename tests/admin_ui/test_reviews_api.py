"""`/api/admin/reviews`: the monthly review pack over HTTP in its three formats."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime

import httpx

from plugin.db.transaction import transaction
from plugin.models import Shop
from plugin.runtime import Runtime
from plugin.scoring.store import MONTH, SnapshotRow, store_snapshots
from tests.plugin.review.conftest import SHOP, february, march
from tests.support.signing import session_token


def auth(shop: str = SHOP) -> dict[str, str]:
    return {"Authorization": f"Bearer {session_token(shop=shop)}"}


async def stored_months(runtime: Runtime) -> None:
    evil = march(reasons=[("too_expensive", "<script>alert(1)</script>", 40, "price_value")])
    async with transaction(runtime.sessionmaker, None) as tx:
        shop = Shop(domain=SHOP)
        tx.session.add_all([shop, Shop(domain="other-reviews.myshopify.com")])
        await tx.session.flush()
        await store_snapshots(
            tx.session,
            shop.id,
            datetime(2026, 4, 2, tzinfo=UTC),
            [
                SnapshotRow(MONTH, date(2026, 2, 1), february()),
                SnapshotRow(MONTH, date(2026, 3, 1), evil),
            ],
        )


async def test_months_and_the_pack_in_each_format(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    await stored_months(runtime)
    months = await client.get("/api/admin/reviews", headers=auth())
    assert months.json() == {"months": ["2026-03", "2026-02"]}

    as_json = await client.get("/api/admin/reviews/2026-03?format=json", headers=auth())
    assert as_json.status_code == 200
    body = as_json.json()
    assert body["month"] == "2026-03" and body["shop"] == SHOP
    assert body["changes"] and body["changes"][0].startswith("Billing success rate rose")
    assert as_json.headers["cache-control"] == "no-store"
    # JSON is the default format.
    default = await client.get("/api/admin/reviews/2026-03", headers=auth())
    assert default.json() == body

    as_csv = await client.get("/api/admin/reviews/2026-03?format=csv", headers=auth())
    assert as_csv.headers["content-type"].startswith("text/csv")
    assert as_csv.headers["content-disposition"] == (
        f'attachment; filename="value-review-{SHOP}-2026-03.csv"'
    )
    rows = list(csv.reader(io.StringIO(as_csv.text)))
    assert rows[0] == ["section", "metric", "value", "previous", "change"]
    assert ["perception", "nps.score", "35.0", "10.0", "25.0"] in rows

    as_html = await client.get("/api/admin/reviews/2026-03?format=html", headers=auth())
    assert as_html.headers["content-type"].startswith("text/html")
    assert as_html.headers["content-security-policy"].startswith("default-src 'none'")
    assert "<script>alert(1)</script>" not in as_html.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in as_html.text


async def test_refusals(client: httpx.AsyncClient, runtime: Runtime) -> None:
    await stored_months(runtime)
    bad_format = await client.get("/api/admin/reviews/2026-03?format=pdf", headers=auth())
    assert bad_format.status_code == 422
    assert bad_format.json()["error"]["field"] == "format"
    bad_month = await client.get("/api/admin/reviews/2026-13", headers=auth())
    assert bad_month.status_code == 422
    assert bad_month.json()["error"]["field"] == "month"
    missing = await client.get("/api/admin/reviews/2025-12", headers=auth())
    assert missing.status_code == 404
    assert "no figures for 2025-12" in missing.json()["error"]["message"]
    # Another shop's token sees none of this shop's months.
    other = auth("other-reviews.myshopify.com")
    assert (await client.get("/api/admin/reviews", headers=other)).json() == {"months": []}
    assert (await client.get("/api/admin/reviews/2026-03", headers=other)).status_code == 404
    stranger = auth("never-scored.myshopify.com")
    assert (await client.get("/api/admin/reviews/2026-03", headers=stranger)).status_code == 404
    assert (await client.get("/api/admin/reviews/2026-03")).status_code == 401
