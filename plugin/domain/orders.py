"""Orders and their tie to contracts.

An order belongs to a contract when it is the contract's origin order or the order of one of
its successful billing attempts. The order, the contract and the billing attempt arrive in any
order, so each side links what it can find: whichever comes last completes the link.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from plugin.domain.rows import fetch_locked, lock
from plugin.models import (
    Contract,
    Order,
)
from plugin.surveys.hooks import OrderProgress

DELIVERED = "delivered"


async def find_order(session: AsyncSession, shop_id: int, order_id: int) -> Order | None:
    """The shop's order, locked, if we have it."""
    return await fetch_locked(session, _ORDER, {"shop_id": shop_id, "order_id": order_id})


_ORDER = lock(
    select(Order).where(
        Order.shop_id == bindparam("shop_id"), Order.order_id == bindparam("order_id")
    )
)


@dataclass(frozen=True)
class OrderState:
    """What the survey hooks have been told about an order, taken before changing it."""

    contract_pk: int | None
    fulfilled_at: datetime | None
    delivered_at: datetime | None

    @classmethod
    def of(cls, order: Order) -> OrderState:
        return cls(order.contract_pk, order.fulfilled_at, order.delivered_at)


def progress_of(order: Order, before: OrderState) -> OrderProgress | None:
    """What the surveys were not told yet about a subscription order: its first fulfilment or
    delivery when new, or both when the order has just become linked to its contract."""
    if order.contract_pk is None:
        return None
    linked = before.contract_pk != order.contract_pk
    fulfilled = order.fulfilled_at is not None and (
        linked or order.fulfilled_at != before.fulfilled_at
    )
    delivered = order.delivered_at is not None and (
        linked or order.delivered_at != before.delivered_at
    )
    return OrderProgress(order, fulfilled, delivered) if fulfilled or delivered else None


async def link_order(session: AsyncSession, order: Order, contract: Contract) -> None:
    """Tie the order to the contract. One checkout can start several contracts with the same
    origin order; the order then belongs to the lowest contract id, whatever the arrival order."""
    if order.contract_pk == contract.id:
        return
    if order.contract_pk is not None:
        current = await session.get(Contract, order.contract_pk)
        if current is not None and current.contract_id < contract.contract_id:
            return
    order.contract_pk = contract.id
    order.subscriber_id = contract.subscriber_id
