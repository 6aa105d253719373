"""Inbox insert: one row per delivery, one shop per domain, races and stale caches included."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from sqlalchemy import delete, func, insert, select

from plugin.db.transaction import transaction
from plugin.inbox import (
    PROCESS_INBOX,
    Delivery,
    ensure_shop,
    inbox_job_key,
    record_delivery,
    wake_after_commit,
)
from plugin.models import InboxStatus, Shop, WebhookInbox
from plugin.queue import InProcessQueue
from plugin.runtime import Runtime

SHOP = "inbox-test.myshopify.com"


def delivery(webhook_id: str = "w1", shop: str = SHOP, **fields: object) -> Delivery:
    values: dict[str, object] = {
        "shop_domain": shop,
        "topic": "orders/create",
        "webhook_id": webhook_id,
        "event_id": "e1",
        "api_version": "2026-10",
        "triggered_at": datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
        "payload": {"id": 1, "note": "ünïcode"},
        **fields,
    }
    return Delivery(**values)  # type: ignore[arg-type]


async def record(runtime: Runtime, d: Delivery) -> int | None:
    """Through the runtime's writer, with its shop-id cache, as the demo records."""
    async with runtime.sessionmaker() as session, session.begin():
        stored = await runtime.inbox.record(session, d)
    return None if stored is None else stored.inbox_id


async def inbox_rows(runtime: Runtime) -> list[WebhookInbox]:
    async with runtime.sessionmaker() as session:
        return list((await session.scalars(select(WebhookInbox).order_by(WebhookInbox.id))).all())


async def shop_ids(runtime: Runtime) -> dict[str, int]:
    async with runtime.sessionmaker() as session:
        return {s.domain: s.id for s in (await session.scalars(select(Shop))).all()}


async def test_record_delivery_stores_every_field_once(runtime: Runtime) -> None:
    first = await record(runtime, delivery())
    assert first is not None
    assert await record(runtime, delivery()) is None
    [row] = await inbox_rows(runtime)
    assert row.id == first
    assert row.shop_id == (await shop_ids(runtime))[SHOP]
    assert (row.topic, row.webhook_id, row.event_id, row.api_version) == (
        "orders/create",
        "w1",
        "e1",
        "2026-10",
    )
    assert row.triggered_at == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert row.payload == {"id": 1, "note": "ünïcode"}
    assert (row.status, row.attempts, row.handled_at, row.last_error) == (
        InboxStatus.PENDING,
        0,
        None,
        None,
    )
    assert row.received_at.tzinfo is not None


async def test_new_webhook_id_is_a_new_row_and_optional_fields_may_be_none(
    runtime: Runtime,
) -> None:
    await record(runtime, delivery("w1"))
    second = await record(
        runtime, delivery("w2", event_id=None, api_version=None, triggered_at=None)
    )
    assert second is not None
    rows = await inbox_rows(runtime)
    assert [r.webhook_id for r in rows] == ["w1", "w2"]
    assert (rows[1].event_id, rows[1].api_version, rows[1].triggered_at) == (None, None, None)


async def test_ensure_shop_creates_once_and_then_finds(runtime: Runtime) -> None:
    async with runtime.sessionmaker() as session, session.begin():
        created = await ensure_shop(session, "fresh.myshopify.com")
    async with runtime.sessionmaker() as session, session.begin():
        found = await ensure_shop(session, "fresh.myshopify.com")
        other = await ensure_shop(session, "other.myshopify.com")
    assert created == found != other
    async with runtime.sessionmaker() as session:
        shop = await session.get(Shop, created)
    assert shop is not None and shop.domain == "fresh.myshopify.com"
    assert shop.installed_at.tzinfo is not None


async def test_ensure_shop_races_end_with_one_row(runtime: Runtime) -> None:
    async def one() -> int:
        async with runtime.sessionmaker() as session, session.begin():
            return await ensure_shop(session, "racy.myshopify.com")

    ids = await asyncio.gather(*(one() for _ in range(20)))
    assert len(set(ids)) == 1
    assert list(await shop_ids(runtime)) == ["racy.myshopify.com"]


async def test_rolled_back_delivery_leaves_nothing(runtime: Runtime) -> None:
    with pytest.raises(RuntimeError):
        async with runtime.sessionmaker() as session, session.begin():
            assert await runtime.inbox.record(session, delivery(shop="gone.myshopify.com"))
            raise RuntimeError("request failed after the insert")
    assert await inbox_rows(runtime) == []
    assert await shop_ids(runtime) == {}
    # The shop id the rolled-back transaction cached is never trusted blindly.
    assert await record(runtime, delivery(shop="gone.myshopify.com")) is not None
    [row] = await inbox_rows(runtime)
    assert row.shop_id == (await shop_ids(runtime))["gone.myshopify.com"]


async def test_erased_shop_whose_id_goes_to_another_shop_is_not_written_to(
    runtime: Runtime,
) -> None:
    """shop/redact erases a shop; SQLite may then give its id to a new shop. A delivery for
    the erased shop must create a new shop row, never land on the new owner of the old id."""
    await record(runtime, delivery("w1", shop="erased.myshopify.com"))  # caches the id
    old_id = (await shop_ids(runtime))["erased.myshopify.com"]
    async with runtime.sessionmaker() as session, session.begin():
        await session.execute(delete(Shop).where(Shop.id == old_id))
        await session.execute(insert(Shop).values(id=old_id, domain="newcomer.myshopify.com"))

    assert await record(runtime, delivery("w2", shop="erased.myshopify.com")) is not None
    shops = await shop_ids(runtime)
    assert shops["newcomer.myshopify.com"] == old_id
    assert shops["erased.myshopify.com"] != old_id
    async with runtime.sessionmaker() as session:
        owners = (await session.scalars(select(WebhookInbox.shop_id))).all()
    assert owners == [shops["erased.myshopify.com"]]


async def test_duplicate_after_cache_warmup_is_still_a_duplicate(runtime: Runtime) -> None:
    ids = [await record(runtime, delivery(f"w{i}")) for i in range(3)]
    assert all(ids) and len(set(ids)) == 3
    assert await record(runtime, delivery("w1")) is None
    assert await record(runtime, delivery("w3")) is not None
    async with runtime.sessionmaker() as session:
        assert await session.scalar(select(func.count()).select_from(WebhookInbox)) == 4


async def test_uncached_record_delivery_names_row_and_shop(runtime: Runtime) -> None:
    async with runtime.sessionmaker() as session, session.begin():
        stored = await record_delivery(session, delivery())
        again = await record_delivery(session, delivery())
    assert stored is not None and again is None
    [row] = await inbox_rows(runtime)
    assert (stored.inbox_id, stored.shop_id) == (row.id, row.shop_id)


async def test_the_shop_is_woken_once_after_commit_under_its_key(runtime: Runtime) -> None:
    seen: list[int] = []

    async def handler(_ctx: dict[str, object], shop_id: int) -> None:
        seen.append(shop_id)

    queue = InProcessQueue({PROCESS_INBOX: handler})
    async with transaction(runtime.sessionmaker, queue) as tx:
        stored = await record_delivery(tx.session, delivery())
        assert stored is not None
        wake_after_commit(tx, stored.shop_id)
        wake_after_commit(tx, stored.shop_id)  # the key makes the second one a no-op
        assert seen == [] and tx.jobs[0].key == inbox_job_key(stored.shop_id)
    await queue.drain()
    assert seen == [stored.shop_id]
