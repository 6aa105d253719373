"""`/api/admin/subscribers`: keyset pages walk every row once, in a stable order (ties and
unscored rows included), filters and sorts apply, bad parameters are 422 naming the field."""

from __future__ import annotations

import base64
import json
from decimal import Decimal

import httpx
import pytest

from plugin.db.transaction import transaction
from plugin.models import Subscriber, SubscriberScore
from plugin.runtime import Runtime
from tests.plugin.scoring.builders import ShopBuilder
from tests.support.signing import session_token

SHOP = "paging-shop.myshopify.com"
N = 57


def headers() -> dict[str, str]:
    return {"Authorization": f"Bearer {session_token(shop=SHOP)}"}


Expected = dict[int, tuple[float | None, float | None, str]]


def ordered(expected: Expected, column: int, descending: bool) -> list[int]:
    """Customer ids as the API orders them: scored rows by (key, id) in the sort's direction,
    then the unscored ones by id."""
    scored = [c for c, row in expected.items() if row[column] is not None]
    scored.sort(key=lambda c: (expected[c][column], c), reverse=descending)
    return scored + sorted(c for c, row in expected.items() if row[column] is None)


async def scored_shop(runtime: Runtime) -> Expected:
    """57 subscribers: value scores in 8 tied groups, risks in 6, every 7th unscored
    (churned). Returns customer id → (value, risk, segment)."""
    shop = await ShopBuilder.create(runtime, SHOP)
    expected: Expected = {}
    async with transaction(runtime.sessionmaker, None) as tx:
        subs = [Subscriber(shop_id=shop.shop_id, customer_id=1000 + i) for i in range(N)]
        tx.session.add_all(subs)
        await tx.session.flush()
        for i, sub in enumerate(subs):
            churned = i % 7 == 3
            value = None if churned else float(i % 8) * 10.0
            risk = None if churned else round((i % 6) / 10, 1)
            segment = "churned" if churned else ("loyal" if i % 2 else "at_risk_high_value")
            tx.session.add(
                SubscriberScore(
                    shop_id=shop.shop_id,
                    subscriber_id=sub.id,
                    value_score=value,
                    churn_risk=risk,
                    risk_method=None if churned else "fixed_multipliers",
                    expected_residual_value=None if churned else Decimal("12.50"),
                    mrr=Decimal("0") if churned else Decimal("25.00"),
                    currency="USD",
                    tenure=i % 4,
                    segment=segment,
                    components={},
                )
            )
            expected[1000 + i] = (value, risk, segment)
    return expected


async def walk(client: httpx.AsyncClient, query: str, limit: int) -> list[dict]:
    items: list[dict] = []
    cursor = None
    for _ in range(100):
        url = f"/api/admin/subscribers?{query}&limit={limit}"
        if cursor:
            url += f"&cursor={cursor}"
        response = await client.get(url, headers=headers())
        assert response.status_code == 200, response.text
        page = response.json()
        assert len(page["items"]) <= limit
        items.extend(page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            return items
        assert page["items"], "a cursor is only given when more rows follow"
    raise AssertionError("pagination did not end")


@pytest.mark.parametrize("limit", [1, 10, 57, 200])
async def test_cursor_walks_every_row_once_in_order(
    client: httpx.AsyncClient, runtime: Runtime, limit: int
) -> None:
    expected = await scored_shop(runtime)
    items = await walk(client, "sort=-value", limit)
    ids = [i["customer_id"] for i in items]
    assert len(ids) == len(set(ids)) == N
    # Highest value first; equal values by subscriber id (inserted in customer id order),
    # highest first as the sort runs backwards; unscored subscribers last, by id.
    assert ids == ordered(expected, 0, descending=True)
    assert [i["value_score"] for i in items] == [expected[c][0] for c in ids]


async def test_risk_sort_both_ways_and_segment_filter(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    expected = await scored_shop(runtime)
    up = [i["customer_id"] for i in await walk(client, "sort=risk", 7)]
    assert up == ordered(expected, 1, descending=False)
    down = [i["customer_id"] for i in await walk(client, "sort=-risk", 9)]
    assert down == ordered(expected, 1, descending=True)

    loyal = await walk(client, "segment=loyal&sort=-value", 5)
    assert {i["customer_id"] for i in loyal} == {c for c, v in expected.items() if v[2] == "loyal"}
    assert all(i["segment"] == "loyal" for i in loyal)
    churned = await walk(client, "segment=churned", 3)
    assert {i["customer_id"] for i in churned} == {
        c for c, v in expected.items() if v[2] == "churned"
    }
    first = loyal[0]
    assert first["mrr"] == 25.0 and first["currency"] == "USD"
    assert first["expected_residual_value"] == 12.5
    assert first["risk_method"] == "fixed_multipliers"


async def test_a_row_added_behind_the_cursor_is_not_repeated(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    await scored_shop(runtime)
    first = (
        await client.get("/api/admin/subscribers?sort=-value&limit=20", headers=headers())
    ).json()
    seen = {i["customer_id"] for i in first["items"]}
    rest = []
    cursor = first["next_cursor"]
    while cursor:
        page = (
            await client.get(
                f"/api/admin/subscribers?sort=-value&limit=20&cursor={cursor}", headers=headers()
            )
        ).json()
        rest.extend(i["customer_id"] for i in page["items"])
        cursor = page["next_cursor"]
    assert not seen & set(rest)
    assert len(seen) + len(rest) == N


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("sort=price", "sort"),
        ("segment=vip", "segment"),
        ("limit=0", "limit"),
        ("limit=201", "limit"),
        ("limit=ten", "limit"),
        ("cursor=not-a-cursor", "cursor"),
        ("cursor=" + base64.urlsafe_b64encode(b'{"x":1}').decode(), "cursor"),
    ],
)
async def test_bad_parameters_name_the_field(
    client: httpx.AsyncClient, runtime: Runtime, query: str, field: str
) -> None:
    await scored_shop(runtime)
    response = await client.get(f"/api/admin/subscribers?{query}", headers=headers())
    assert response.status_code == 422
    assert response.json()["error"]["field"] == field


async def test_a_cursor_only_continues_its_own_sort(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    await scored_shop(runtime)
    url = "/api/admin/subscribers?sort=-value&limit=5"
    page = (await client.get(url, headers=headers())).json()
    cursor = page["next_cursor"]
    assert cursor
    decoded = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    assert decoded[0] == "-value"
    other = await client.get(
        f"/api/admin/subscribers?sort=risk&limit=5&cursor={cursor}", headers=headers()
    )
    assert other.status_code == 422
    assert other.json()["error"]["field"] == "cursor"


async def test_detail_rejects_a_non_numeric_id(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/admin/subscribers/abc", headers=headers())
    assert response.status_code == 422
    assert response.json()["error"]["field"] == "customer_id"
