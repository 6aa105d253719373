"""Contract details by single query and by bulk operation: one parser, same answers."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from plugin.queue import TransientError
from plugin.settings import Settings
from plugin.shopify.bulk import CHILDREN, run_bulk_query, start_bulk_query
from plugin.shopify.contracts import (
    CONTRACTS_BULK_QUERY,
    ContractDetails,
    fetch_contract_details,
    iter_contract_details,
)
from plugin.shopify.errors import BulkOperationError
from plugin.shopify.graphql import AdminGraphQL
from tests.support.fake_shopify import FakeLine, FakeShopify, line_total
from tests.support.signing import SHOP

PRODUCTS = "{ products { edges { node { id variants { edges { node { id } } } } } } }"


class Sleeps(list[float]):
    async def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def client(fake: FakeShopify, settings: Settings) -> AdminGraphQL:
    return AdminGraphQL(fake.client(), settings, SHOP, fake.grant_token(), sleep=Sleeps())


async def test_fetch_contract_details(fake: FakeShopify, client: AdminGraphQL) -> None:
    gid = fake.add_contract(
        contract_id=77,
        customer_id=501,
        status="PAUSED",
        currency="EUR",
        lines=[FakeLine("19.99", 2, "Coffee club"), FakeLine("5.00", 1, None)],
        billing=("WEEK", 2),
        delivery=("WEEK", 1),
        next_billing_date="2026-07-01T23:30:00-02:00",
        origin_order_id=9001,
        delivery_price="6.50",
    )
    details = await fetch_contract_details(client, gid)
    assert details == ContractDetails(
        contract_gid=gid,
        status="paused",
        currency="EUR",
        recurring_amount=Decimal("44.98"),  # 2 × 19.99 + 5.00; delivery price left out
        plan_name="Coffee club",
        next_billing_date=date(2026, 7, 2),  # 23:30 at UTC-2 is the 2nd in UTC
        billing_interval="week",
        billing_interval_count=2,
        delivery_interval="week",
        delivery_interval_count=1,
        customer_id=501,
        origin_order_id=9001,
        selling_plan_gid="gid://shopify/SellingPlan/7001",  # the first line's, like its name
    )


async def test_unknown_contract_is_none(client: AdminGraphQL) -> None:
    assert await fetch_contract_details(client, "gid://shopify/SubscriptionContract/404") is None


async def test_all_line_pages_are_summed(fake: FakeShopify, client: AdminGraphQL) -> None:
    lines = [FakeLine(f"{i}.25", 1 + i % 3) for i in range(230)]
    gid = fake.add_contract(contract_id=5, customer_id=6, lines=lines)
    details = await fetch_contract_details(client, gid)
    assert details is not None
    assert details.recurring_amount == line_total(lines)
    assert len(fake.requests) == 3  # 100 + 100 + 30 lines


async def test_fetch_survives_throttling(fake: FakeShopify, client: AdminGraphQL) -> None:
    gid = fake.add_contract(contract_id=5, customer_id=6)
    fake.throttle(times=2)
    details = await fetch_contract_details(client, gid)
    assert details is not None and details.recurring_amount == Decimal("25.00")


async def test_backfill_matches_single_queries(fake: FakeShopify, client: AdminGraphQL) -> None:
    gids = [
        fake.add_contract(contract_id=1, customer_id=10, origin_order_id=100),
        fake.add_contract(
            contract_id=2,
            customer_id=20,
            status="CANCELLED",
            lines=[FakeLine("12.00", 3, "Tea"), FakeLine("1.50", 2, "Tea")],
            billing=("MONTH", 2),
            next_billing_date=None,
        ),
        fake.add_contract(contract_id=3, customer_id=10, lines=[], currency="CAD"),
    ]
    sleeps = Sleeps()
    progress: list[str] = []
    backfilled = [
        details
        async for details in iter_contract_details(
            client,
            poll_interval=7.0,
            sleep=sleeps,
            on_progress=lambda op: progress.append(op["status"]),
        )
    ]
    singles = [await fetch_contract_details(client, gid) for gid in gids]
    assert backfilled == singles
    assert backfilled[1].recurring_amount == Decimal("39.00")
    assert backfilled[2].recurring_amount == Decimal(0) and backfilled[2].plan_name is None
    assert progress == ["RUNNING", "RUNNING", "COMPLETED"]
    assert sleeps == [7.0, 7.0]
    [download] = fake.requests_to("/_bulk-results/")
    assert "x-shopify-access-token" not in download.headers


async def test_bulk_result_is_streamed(fake: FakeShopify, client: AdminGraphQL) -> None:
    for i in range(1, 51):
        fake.add_contract(contract_id=i, customer_id=i, lines=[FakeLine(), FakeLine()])
    stream = iter_contract_details(client, sleep=Sleeps())
    first = await anext(stream)
    served_when_first_arrived = fake.bulk_chunks_served
    rest = [d async for d in stream]
    assert first.contract_gid.endswith("/1")
    assert len(rest) == 49
    # Contract 1 was yielded once contract 2 began: 4 of 150 lines read, not the whole file.
    assert served_when_first_arrived <= 5 < fake.bulk_chunks_served == 150


async def test_children_and_grandchildren_grouped(fake: FakeShopify, client: AdminGraphQL) -> None:
    objects: list[dict[str, Any]] = [
        {"id": "gid://shopify/Product/1"},
        {"id": "gid://shopify/ProductVariant/11", "__parentId": "gid://shopify/Product/1"},
        {"id": "gid://shopify/InventoryLevel/111", "__parentId": "gid://shopify/ProductVariant/11"},
        {"id": "gid://shopify/ProductVariant/12", "__parentId": "gid://shopify/Product/1"},
        {"id": "gid://shopify/Product/2"},
    ]
    fake.serve_next_bulk(objects)
    records = [r async for r in run_bulk_query(client, PRODUCTS, sleep=Sleeps())]
    assert [r["id"] for r in records] == ["gid://shopify/Product/1", "gid://shopify/Product/2"]
    assert [c["id"] for c in records[0][CHILDREN]] == [
        "gid://shopify/ProductVariant/11",
        "gid://shopify/InventoryLevel/111",
        "gid://shopify/ProductVariant/12",
    ]
    assert records[1][CHILDREN] == []


async def test_child_after_another_parent_is_refused(
    fake: FakeShopify, client: AdminGraphQL
) -> None:
    fake.serve_next_bulk(
        [
            {"id": "gid://shopify/Product/1"},
            {"id": "gid://shopify/Product/2"},
            {"id": "gid://shopify/ProductVariant/11", "__parentId": "gid://shopify/Product/1"},
        ]
    )
    with pytest.raises(BulkOperationError, match="out of order"):
        _ = [r async for r in run_bulk_query(client, PRODUCTS, sleep=Sleeps())]


async def test_empty_shop_backfills_nothing(client: AdminGraphQL) -> None:
    assert [d async for d in iter_contract_details(client, sleep=Sleeps())] == []


async def test_failed_bulk_operation(fake: FakeShopify, client: AdminGraphQL) -> None:
    fake.add_contract(contract_id=1, customer_id=1)
    fake.fail_next_bulk("ACCESS_DENIED")
    with pytest.raises(BulkOperationError, match=r"FAILED.*ACCESS_DENIED"):
        _ = [d async for d in iter_contract_details(client, sleep=Sleeps())]


async def test_bulk_already_running_is_transient(fake: FakeShopify, client: AdminGraphQL) -> None:
    fake.add_contract(contract_id=1, customer_id=1)
    await start_bulk_query(client, CONTRACTS_BULK_QUERY)  # started, still running
    with pytest.raises(TransientError) as caught:
        await anext(iter_contract_details(client, sleep=Sleeps()))
    assert caught.value.retry_after
