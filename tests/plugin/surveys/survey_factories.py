"""Rows for survey tests: a shop with subscribers, contracts, orders and invitations, written
straight through the ORM (the webhook pipeline has its own tests; join tests use it too)."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from plugin.db.transaction import transaction
from plugin.models import (
    Base,
    Contract,
    InvitationStatus,
    NpsInvitation,
    Order,
    Shop,
    Subscriber,
)
from plugin.runtime import Runtime
from tests.support.signing import SHOP

T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
_ids = itertools.count(910_001)


def next_id() -> int:
    return next(_ids)


@dataclass
class World:
    """One shop with one subscriber holding one active contract and one order of it."""

    shop_id: int
    domain: str
    subscriber_id: int
    customer_id: int
    contract_pk: int
    contract_id: int
    order_id: int


async def add_shop(
    session: AsyncSession, domain: str = SHOP, *, settings: dict[str, Any] | None = None
) -> Shop:
    shop = Shop(domain=domain, settings={"surveys": settings} if settings else {})
    session.add(shop)
    await session.flush()
    return shop


async def add_subscriber(
    session: AsyncSession, shop: Shop, customer_id: int | None = None, *, locale: str | None = None
) -> Subscriber:
    subscriber = Subscriber(
        shop_id=shop.id, customer_id=customer_id or next_id(), locale=locale, first_seen_at=T0
    )
    session.add(subscriber)
    await session.flush()
    return subscriber


async def add_contract(
    session: AsyncSession,
    shop: Shop,
    subscriber: Subscriber,
    *,
    contract_id: int | None = None,
    status: str = "active",
    at: datetime = T0 - timedelta(days=60),
) -> Contract:
    contract = Contract(
        shop_id=shop.id,
        contract_id=contract_id or next_id(),
        subscriber_id=subscriber.id,
        status=status,
        status_at=at,
        started_at=at,
        ended_at=at if status in ("cancelled", "expired", "failed") else None,
    )
    session.add(contract)
    await session.flush()
    return contract


async def add_order(
    session: AsyncSession,
    shop: Shop,
    contract: Contract,
    *,
    order_id: int | None = None,
    at: datetime = T0 - timedelta(days=10),
) -> Order:
    order = Order(
        shop_id=shop.id,
        order_id=order_id or next_id(),
        contract_pk=contract.id,
        subscriber_id=contract.subscriber_id,
        created_at_shop=at,
    )
    session.add(order)
    await session.flush()
    return order


async def add_invitation(
    session: AsyncSession,
    shop_id: int,
    subscriber_id: int,
    *,
    contract_pk: int | None = None,
    order_id: int | None = None,
    status: str = InvitationStatus.PENDING,
    sent_at: datetime | None = T0,
    send_at: datetime = T0,
    expires_at: datetime = T0 + timedelta(days=14),
) -> NpsInvitation:
    invitation = NpsInvitation(
        shop_id=shop_id,
        subscriber_id=subscriber_id,
        contract_pk=contract_pk,
        order_id=order_id or next_id(),
        trigger="delivered",
        status=status,
        send_at=send_at,
        sent_at=sent_at if status != InvitationStatus.SCHEDULED else None,
        expires_at=expires_at,
    )
    session.add(invitation)
    await session.flush()
    return invitation


async def world(
    runtime: Runtime,
    *,
    domain: str = SHOP,
    settings: dict[str, Any] | None = None,
    customer_id: int | None = None,
    locale: str | None = None,
) -> World:
    async with transaction(runtime.sessionmaker, None) as tx:
        shop = await add_shop(tx.session, domain, settings=settings)
        subscriber = await add_subscriber(tx.session, shop, customer_id, locale=locale)
        contract = await add_contract(tx.session, shop, subscriber)
        order = await add_order(tx.session, shop, contract)
        return World(
            shop.id,
            shop.domain,
            subscriber.id,
            subscriber.customer_id,
            contract.id,
            contract.contract_id,
            order.order_id,
        )


async def count(runtime: Runtime, model: type[Base], *where: Any) -> int:
    async with runtime.sessionmaker() as session:
        return int(await session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


async def all_rows(runtime: Runtime, model: type[Base], *where: Any) -> list[Any]:
    async with runtime.sessionmaker() as session:
        return list(await session.scalars(select(model).where(*where)))
