"""Row writes on business keys: many rows in one statement, and only what changed."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import event, select

from plugin.db.transaction import transaction
from plugin.domain.rows import insert_all_returning, write_changed
from plugin.inbox import ensure_shop
from plugin.models import Order
from plugin.runtime import Runtime
from tests.support.payloads import T0


async def orders_of(rt: Runtime, count: int) -> tuple[int, list[int]]:
    async with transaction(rt.sessionmaker, None) as tx:
        shop_id = await ensure_shop(tx.session, "rows.myshopify.com")
        created = await insert_all_returning(
            tx.session,
            Order,
            [
                {"shop_id": shop_id, "order_id": 100 + n, "created_at_shop": T0}
                for n in range(count)
            ],
            ("shop_id", "order_id"),
        )
    return shop_id, sorted(order.order_id for order in created)


async def test_insert_all_returning_leaves_out_the_rows_whose_key_was_taken(
    rt: Runtime,
) -> None:
    shop_id, first = await orders_of(rt, 3)
    async with transaction(rt.sessionmaker, None) as tx:
        again = await insert_all_returning(
            tx.session,
            Order,
            [
                {"shop_id": shop_id, "order_id": order_id, "created_at_shop": T0}
                for order_id in (101, 102, 103, 104)
            ],
            ("shop_id", "order_id"),
        )
    assert first == [100, 101, 102]
    assert [order.order_id for order in again] == [103, 104]


async def test_write_changed_writes_the_changed_rows_in_one_statement_and_no_other(
    rt: Runtime,
) -> None:
    shop_id, _ = await orders_of(rt, 4)
    updates: list[str] = []

    def note(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.lstrip().upper().startswith("UPDATE"):
            updates.append(statement)

    event.listen(rt.engine.sync_engine, "before_cursor_execute", note)
    try:
        async with transaction(rt.sessionmaker, None) as tx:
            orders = list(
                await tx.session.scalars(
                    select(Order).where(Order.shop_id == shop_id).order_by(Order.order_id)
                )
            )
            orders[0].total, orders[0].currency = Decimal("12.50"), "EUR"
            orders[1].delivered_at = T0 + timedelta(days=3)
            orders[2].created_at_shop = T0  # set to the value it had: no change
            await write_changed(tx.session, orders, ("total", "currency", "delivered_at"))
            await write_changed(tx.session, orders, ("created_at_shop",))
    finally:
        event.remove(rt.engine.sync_engine, "before_cursor_execute", note)

    assert len(updates) == 1
    async with rt.sessionmaker() as session:
        stored = (
            await session.execute(
                select(Order.order_id, Order.total, Order.currency, Order.delivered_at)
                .where(Order.shop_id == shop_id)
                .order_by(Order.order_id)
            )
        ).all()
    assert stored == [
        (100, Decimal("12.50"), "EUR", None),
        (101, None, None, T0 + timedelta(days=3)),
        (102, None, None, None),
        (103, None, None, None),
    ]
