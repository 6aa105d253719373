"""`backfill_shop` against the fake Admin API: a bulk operation of every contract, imported
through the domain's contract service, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import delete, func, select

from plugin.app import build_app_runtime
from plugin.backfill import IMPORTING, WAITING, BackfillError, backfill_shop
from plugin.db.transaction import transaction
from plugin.inbox import ensure_shop
from plugin.models import (
    Cancellation,
    Contract,
    ContractStatusEvent,
    ReasonSource,
    Shop,
    Subscriber,
)
from plugin.runtime import Runtime
from tests.conftest import make_settings
from tests.plugin.domain.domain_helpers import give_token
from tests.support.fake_shopify import FakeLine, FakeShopify
from tests.support.payloads import Event, contract, deliver
from tests.support.signing import SHOP

KNOWN, NEW_ACTIVE, NEW_CANCELLED = 61_001, 61_002, 61_003
STARTED = datetime(2025, 3, 1, 9, 30, tzinfo=UTC)


async def no_wait(_seconds: float) -> None:
    return None


@pytest.fixture
def shopify() -> FakeShopify:
    return FakeShopify(bulk_polls=2)


@pytest.fixture
async def rt(db_url: str, shopify: FakeShopify) -> AsyncIterator[Runtime]:
    runtime = await build_app_runtime(make_settings(db_url), http=shopify.client())
    try:
        yield runtime
    finally:
        async with runtime.engine.begin() as conn:
            await conn.execute(delete(Shop))
        await runtime.close()


def bulk_objects(
    shopify: FakeShopify, created_at: dict[int, datetime], shop: str = SHOP
) -> list[dict[str, Any]]:
    """The JSONL a contracts bulk query yields, with Shopify's createdAt on each contract."""
    objects: list[dict[str, Any]] = []
    for fake in shopify.contracts[shop].values():
        node = fake.node()
        if fake.contract_id in created_at:
            node["createdAt"] = created_at[fake.contract_id].isoformat().replace("+00:00", "Z")
        objects.append(node)
        objects += [{**line, "__parentId": fake.gid} for line in fake.line_nodes()]
    return objects


async def contract_rows(runtime: Runtime) -> dict[int, Contract]:
    async with runtime.sessionmaker() as session:
        rows = await session.scalars(select(Contract))
        return {row.contract_id: row for row in rows}


async def count(runtime: Runtime, model: Any) -> int:
    async with runtime.sessionmaker() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def test_backfill_imports_new_contracts_and_completes_known_ones(
    rt: Runtime, shopify: FakeShopify
) -> None:
    # Known from its webhook before the merchant opened the app: no details yet.
    await deliver(rt, Event("subscription_contracts/create", contract(KNOWN, customer_id=501)))
    await give_token(rt, shopify)
    shopify.add_contract(
        contract_id=KNOWN, customer_id=501, lines=[FakeLine("24.00", 2, "Monthly Roast")]
    )
    shopify.add_contract(
        contract_id=NEW_ACTIVE, customer_id=502, billing=("MONTH", 2), delivery=("MONTH", 2)
    )
    shopify.add_contract(
        contract_id=NEW_CANCELLED, customer_id=503, status="CANCELLED", currency="CAD"
    )
    shopify.serve_next_bulk(bulk_objects(shopify, {NEW_ACTIVE: STARTED, NEW_CANCELLED: STARTED}))
    calls: list[tuple[str, int, int | None]] = []

    result = await backfill_shop(
        rt, SHOP, progress=lambda *call: calls.append(call), poll_interval=0, sleep=no_wait
    )

    assert (result.contracts, result.new, result.known, result.skipped) == (3, 2, 1, 0)
    assert "3 contracts imported (2 new, 1 already known)" in result.describe()
    assert (WAITING, 0, None) in calls and calls[-1] == (IMPORTING, 3, 3)
    rows = await contract_rows(rt)
    assert set(rows) == {KNOWN, NEW_ACTIVE, NEW_CANCELLED}
    known, active, cancelled = rows[KNOWN], rows[NEW_ACTIVE], rows[NEW_CANCELLED]
    assert (known.status, known.recurring_amount, known.plan_name) == (
        "active",
        Decimal("48.00"),
        "Monthly Roast",
    )
    assert known.details_fetched_at == result.observed_at
    # New contracts start when Shopify says they were created, not on import day.
    assert (active.status, active.started_at, active.ended_at) == ("active", STARTED, None)
    assert (active.billing_interval, active.billing_interval_count) == ("month", 2)
    assert active.recurring_amount == Decimal("25.00")
    assert (cancelled.status, cancelled.currency) == ("cancelled", "CAD")
    assert cancelled.started_at == STARTED and cancelled.ended_at == result.observed_at
    async with rt.sessionmaker() as session:
        customers = set(await session.scalars(select(Subscriber.customer_id)))
        assert customers == {501, 502, 503}
        ended = (await session.execute(select(Cancellation))).scalar_one()
        # The cancel carried no answer: it gets a system reason so the mix adds up.
        assert ended.contract_pk == cancelled.id and ended.reason_source == ReasonSource.SYSTEM
    # The only Shopify calls were the bulk operation's (no per-contract detail queries).
    operations = {
        json.loads(r.body)["query"].split("(")[0].split()[-1]
        for r in shopify.requests_to("graphql.json")
    }
    assert operations == {"BulkOperationRunQuery", "BulkOperationStatus"}


async def test_a_second_backfill_changes_nothing_but_the_snapshot_time(
    rt: Runtime, shopify: FakeShopify
) -> None:
    await give_token(rt, shopify)
    for cid in (NEW_ACTIVE, NEW_CANCELLED):
        shopify.add_contract(contract_id=cid, customer_id=cid - 60_000)
    first = await backfill_shop(rt, SHOP, poll_interval=0, sleep=no_wait)
    before = {
        cid: (c.status, c.started_at, c.subscriber_id)
        for cid, c in (await contract_rows(rt)).items()
    }
    second = await backfill_shop(rt, SHOP, poll_interval=0, sleep=no_wait)
    after = {
        cid: (c.status, c.started_at, c.subscriber_id)
        for cid, c in (await contract_rows(rt)).items()
    }
    assert (first.new, second.new, second.known) == (2, 0, 2)
    assert after == before
    assert await count(rt, Subscriber) == 2
    assert await count(rt, ContractStatusEvent) == 4  # one dated statement per contract and run


async def test_a_webhook_newer_than_the_snapshot_wins(rt: Runtime, shopify: FakeShopify) -> None:
    await give_token(rt, shopify)
    shopify.add_contract(contract_id=KNOWN, customer_id=501)  # Shopify says: active
    result = await backfill_shop(rt, SHOP, poll_interval=0, sleep=no_wait)
    later = result.observed_at.replace(microsecond=0).astimezone(UTC)
    await deliver(
        rt,
        Event(
            "subscription_contracts/cancel",
            contract(KNOWN, customer_id=501, status="cancelled", revision_id=2),
            at=later.replace(year=later.year + 1),
        ),
    )
    await backfill_shop(rt, SHOP, poll_interval=0, sleep=no_wait)  # still says active
    assert (await contract_rows(rt))[KNOWN].status == "cancelled"


async def test_unreadable_snapshots_are_skipped_and_counted(
    rt: Runtime, shopify: FakeShopify
) -> None:
    await give_token(rt, shopify)
    shopify.add_contract(contract_id=NEW_ACTIVE, customer_id=502)
    shopify.add_contract(contract_id=NEW_CANCELLED, customer_id=503, status="ARCHIVED")
    result = await backfill_shop(rt, SHOP, poll_interval=0, sleep=no_wait)
    assert (result.contracts, result.skipped) == (1, 1)
    assert set(await contract_rows(rt)) == {NEW_ACTIVE}


async def test_backfill_refuses_shops_it_cannot_read(rt: Runtime, shopify: FakeShopify) -> None:
    with pytest.raises(BackfillError, match="no shop"):
        await backfill_shop(rt, "unknown.myshopify.com", sleep=no_wait)
    async with transaction(rt.sessionmaker, None) as tx:
        await ensure_shop(tx.session, SHOP)
    with pytest.raises(BackfillError, match="open the app"):
        await backfill_shop(rt, SHOP, sleep=no_wait)
    await give_token(rt, shopify)
    async with transaction(rt.sessionmaker, None) as tx:
        shop = (await tx.session.scalars(select(Shop).where(Shop.domain == SHOP))).one()
        shop.uninstalled_at = datetime.now(UTC)
    with pytest.raises(BackfillError, match="uninstalled"):
        await backfill_shop(rt, SHOP, sleep=no_wait)
    assert shopify.requests == []
