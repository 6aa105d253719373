"""The Subscribers page's API: filters and tabs narrow the list, MRR sorts it, `why=1` names the
signals behind each risk (strongest first), the CSV carries the same filtered list with fixed
columns, and the detail tells the subscriber's timeline; every read stays inside one shop."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from decimal import Decimal

import httpx
import pytest

from admin_ui.api import subscribers as api
from plugin.db.transaction import transaction
from plugin.models import NpsResponse, SubscriberScore
from plugin.models.base import utcnow
from plugin.runtime import Runtime
from tests.plugin.scoring.builders import ShopBuilder, at
from tests.support.signing import session_token

SHOP = "filters-shop.myshopify.com"
OTHER = "filters-other.myshopify.com"


def auth(shop: str = SHOP) -> dict[str, str]:
    return {"Authorization": f"Bearer {session_token(shop=shop)}"}


async def score(
    shop: ShopBuilder,
    sid: int,
    *,
    value: float,
    risk: float,
    mrr: str,
    currency: str = "USD",
    segment: str = "loyal",
    tenure: int = 3,
    nps: int | None = None,
) -> None:
    await shop.add(
        SubscriberScore(
            shop_id=shop.shop_id,
            subscriber_id=sid,
            value_score=value,
            churn_risk=risk,
            risk_method="fixed_multipliers",
            expected_residual_value=Decimal("100.00"),
            mrr=Decimal(mrr),
            currency=currency,
            tenure=tenure,
            segment=segment,
            nps_last=nps,
            components={},
        )
    )


async def build(runtime: Runtime) -> dict[str, int]:
    """Four subscribers of one shop (and one of another shop that must never show)."""
    shop = await ShopBuilder.create(runtime, SHOP)
    ada = await shop.subscriber(1, first_name="Ada", last_name="Roast")
    bo = await shop.subscriber(2, first_name="=HYPERLINK(1)", last_name="Bo")
    cy = await shop.subscriber(3, first_name="Cy")
    di = await shop.subscriber(4, first_name="Di")
    await shop.contract(ada, started=at(2026, 1, 10), plan="Roast", interval="month")
    await shop.contract(
        bo,
        started=at(2026, 2, 3),
        plan="Espresso",
        interval="week",
        count=2,
        currency="EUR",
        status="paused",
        status_at=at(2026, 5, 1),
    )
    await shop.contract(cy, started=at(2026, 2, 20), plan="Roast", interval="month")
    # Di's first contract (January) ended; her current one started in March: cohort January.
    await shop.contract(
        di, started=at(2026, 1, 2), plan="Roast", status="cancelled", ended=at(2026, 2, 1)
    )
    await shop.contract(di, started=at(2026, 3, 5), plan="Espresso", interval="week", count=2)
    await score(shop, ada, value=90, risk=0.05, mrr="30.00", segment="champions", nps=10)
    await score(
        shop,
        bo,
        value=60,
        risk=0.40,
        mrr="0.00",
        currency="EUR",
        segment="at_risk_high_value",
        nps=3,
    )
    await score(shop, cy, value=40, risk=0.20, mrr="25.00", segment="needs_attention", tenure=0)
    await score(shop, di, value=70, risk=0.08, mrr="50.00", segment="loyal", nps=8)
    other = await ShopBuilder.create(runtime, OTHER)
    stranger = await other.subscriber(1, first_name="Stranger")
    await other.contract(stranger, started=at(2026, 1, 10), plan="Roast")
    await score(other, stranger, value=99, risk=0.9, mrr="99.00", segment="champions", nps=10)
    return {"ada": ada, "bo": bo, "cy": cy, "di": di}


async def ids(client: httpx.AsyncClient, query: str, shop: str = SHOP) -> list[int]:
    response = await client.get(f"/api/admin/subscribers?{query}", headers=auth(shop))
    assert response.status_code == 200, response.text
    return [item["customer_id"] for item in response.json()["items"]]


async def test_filters_and_tabs_narrow_the_list(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    await build(runtime)
    assert await ids(client, "") == [1, 4, 2, 3]  # value, highest first
    assert await ids(client, "plan=Roast") == [1, 4, 3]  # Di held a Roast plan once
    assert await ids(client, "plan=Espresso&sort=value") == [2, 4]
    assert await ids(client, "cadence=week:2") == [4, 2]
    assert await ids(client, "cadence=month:1&currency=USD") == [1, 4, 3]
    assert await ids(client, "cohort=2026-01") == [1, 4]  # the month of the first contract
    assert await ids(client, "cohort=2026-02") == [2, 3]
    assert await ids(client, "currency=EUR") == [2]
    assert await ids(client, "nps=promoter") == [1]
    assert await ids(client, "nps=passive") == [4]
    assert await ids(client, "nps=detractor") == [2]
    assert await ids(client, "nps=none") == [3]
    assert await ids(client, "segment=healthy") == [1, 4]
    assert await ids(client, "segment=new") == [3]
    assert await ids(client, "segment=paused") == [2]
    assert await ids(client, "segment=at_risk_high_value") == [2]
    assert await ids(client, "sort=-mrr") == [4, 1, 3, 2]
    assert await ids(client, "sort=mrr") == [2, 3, 1, 4]
    # The other shop's subscriber sees only itself.
    assert await ids(client, "plan=Roast", shop=OTHER) == [1]


async def test_cursor_pages_keep_the_filter(client: httpx.AsyncClient, runtime: Runtime) -> None:
    await build(runtime)
    first = (
        await client.get("/api/admin/subscribers?plan=Roast&sort=-mrr&limit=2", headers=auth())
    ).json()
    assert [i["customer_id"] for i in first["items"]] == [4, 1]
    rest = await ids(client, f"plan=Roast&sort=-mrr&limit=2&cursor={first['next_cursor']}")
    assert rest == [3]
    # A cursor made for one filter is refused for another.
    refused = await client.get(
        f"/api/admin/subscribers?plan=Espresso&sort=-mrr&cursor={first['next_cursor']}",
        headers=auth(),
    )
    assert refused.status_code == 422 and refused.json()["error"]["field"] == "cursor"


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("segment=vip", "segment"),
        ("cadence=monthly", "cadence"),
        ("cadence=month:0", "cadence"),
        ("cohort=2026-13", "cohort"),
        ("currency=usd", "currency"),
        ("nps=fan", "nps"),
        ("sort=name", "sort"),
        ("plan=" + "x" * 256, "plan"),
    ],
)
async def test_a_bad_filter_is_422_naming_it(
    client: httpx.AsyncClient, runtime: Runtime, query: str, field: str
) -> None:
    await build(runtime)
    for path in ("/api/admin/subscribers", "/api/admin/subscribers.csv"):
        response = await client.get(f"{path}?{query}", headers=auth())
        assert response.status_code == 422
        assert response.json()["error"]["field"] == field


async def test_why_names_the_signals_strongest_first(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    who = await build(runtime)
    shop = ShopBuilder(runtime, (await _shop_id(runtime)), SHOP)
    now = utcnow()
    [bo_contract] = await _contracts(runtime, who["bo"])
    for days in (5, 20):
        await shop.attempt(bo_contract, now - timedelta(days=days), ok=False)
    await shop.attempt(bo_contract, now - timedelta(days=200), ok=False)  # too old to count
    await shop.change(bo_contract, "cancel_attempt", now - timedelta(days=3), "subscriber")
    await shop.nps(who["bo"], now - timedelta(days=10), score=3, answered=now - timedelta(days=9))
    response = await client.get(
        "/api/admin/subscribers?why=1&segment=at_risk_high_value", headers=auth()
    )
    [bo] = response.json()["items"]
    assert "subscriber_id" not in bo  # internal ids stay internal
    # Two failed payments (×2 each: 4) outweigh one cancel attempt (×2), then the low score.
    assert bo["why"] == [
        {"signal": "failed_payment", "count": 2},
        {"signal": "cancel_attempt", "count": 1},
        {"signal": "detractor", "count": 1, "score": 3},
    ]
    new = (await client.get("/api/admin/subscribers?why=1&segment=new", headers=auth())).json()
    assert new["items"][0]["why"] == [{"signal": "early_tenure", "count": 1}]


async def test_csv_has_the_filtered_list_in_fixed_columns(
    client: httpx.AsyncClient, runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    await build(runtime)
    monkeypatch.setattr(api, "CSV_PAGE", 1)  # every row its own page: the walk must not drop one
    response = await client.get(
        "/api/admin/subscribers.csv?cadence=week:2&sort=-value", headers=auth()
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert 'filename="subscribers-filters-shop.csv"' in response.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(response.text)))
    assert tuple(rows[0]) == api.CSV_COLUMNS
    assert [r[0] for r in rows[1:]] == ["4", "2"]
    bo = dict(zip(rows[0], rows[2], strict=True))
    # A name a spreadsheet would run as a formula is defused.
    assert bo["name"] == "'=HYPERLINK(1) Bo"
    assert (bo["segment"], bo["mrr"], bo["currency"], bo["nps_last"]) == (
        "at_risk_high_value",
        "0.0",
        "EUR",
        "3",
    )
    everything = await client.get("/api/admin/subscribers.csv", headers=auth())
    assert len(list(csv.reader(io.StringIO(everything.text)))) == 1 + 4


async def test_detail_tells_the_timeline_newest_first(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    who = await build(runtime)
    shop = ShopBuilder(runtime, await _shop_id(runtime), SHOP)
    [contract] = await _contracts(runtime, who["ada"])
    await shop.order(contract, who["ada"], at(2026, 2, 10), delivered=at(2026, 2, 13))
    await shop.attempt(contract, at(2026, 3, 10), ok=False)
    await shop.change(contract, "skip", at(2026, 3, 12), "subscriber")
    await shop.nps(who["ada"], at(2026, 3, 14), score=10, answered=at(2026, 3, 15))
    async with transaction(runtime.sessionmaker, None) as tx:
        answer = (await tx.session.execute(NpsResponse.__table__.select())).first()
        assert answer is not None
        await tx.session.execute(
            NpsResponse.__table__.update().values(comment="Lovely <b>beans</b>")
        )
    body = (await client.get("/api/admin/subscribers/1", headers=auth())).json()
    texts = [e["text"] for e in body["timeline"]]
    assert texts[:5] == [
        "Answered the survey: 10/10",
        "Skipped a delivery (by the subscriber)",
        "Renewal charge failed (insufficient_funds)",
        "Order " + texts[3].split()[1] + " delivered",
        texts[4],
    ]
    assert texts[4].startswith("Order ")
    assert body["timeline"][0]["comment"] == "Lovely <b>beans</b>"  # as text; the page escapes
    assert texts[-1] == "Subscribed to Roast"
    assert body["why"] == []
    assert "subscriber_id" not in body
    # Another shop's customer with the same id is not visible; a missing one is 404.
    assert (await client.get("/api/admin/subscribers/9", headers=auth())).status_code == 404


async def _shop_id(runtime: Runtime) -> int:
    from sqlalchemy import select

    from plugin.models import Shop

    async with runtime.sessionmaker() as session:
        shop_id = await session.scalar(select(Shop.id).where(Shop.domain == SHOP))
        assert shop_id is not None
        return shop_id


async def _contracts(runtime: Runtime, subscriber_id: int) -> list[int]:
    from sqlalchemy import select

    from plugin.models import Contract

    async with runtime.sessionmaker() as session:
        return list(
            (
                await session.scalars(
                    select(Contract.id).where(Contract.subscriber_id == subscriber_id)
                )
            ).all()
        )
