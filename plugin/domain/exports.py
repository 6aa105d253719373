"""Everything we hold about one customer of a shop, as JSON (customers/data_request)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, false, or_, select
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.ext.asyncio import AsyncSession

from plugin.models import (
    Base,
    BillingAttempt,
    BillingCycleEvent,
    Cancellation,
    Contract,
    ContractChange,
    ContractStatusEvent,
    FulfillmentEvent,
    NpsInvitation,
    NpsResponse,
    Order,
    Shop,
    Subscriber,
    SubscriberScore,
)
from plugin.models.base import utcnow

EXPORT_FORMAT = 1


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def row_data(row: Base) -> dict[str, Any]:
    """A row's columns as JSON values (the shop is implied by the export)."""
    return {
        attr.key: _jsonable(getattr(row, attr.key))
        for attr in sa_inspect(row).mapper.column_attrs
        if attr.key != "shop_id"
    }


async def _rows(
    session: AsyncSession, model: type[Base], shop_id: int, condition: ColumnElement[bool]
) -> list[dict[str, Any]]:
    table = model.__table__
    result = await session.execute(
        select(model)
        .where(table.c.shop_id == shop_id, condition)
        .order_by(*sa_inspect(model).primary_key)
    )
    return [row_data(row) for row in result.scalars()]


async def export_customer(
    session: AsyncSession, shop: Shop, customer_id: int, order_ids: Sequence[int] = ()
) -> dict[str, Any]:
    """Subscriber, contracts and their history, billing, orders and deliveries, cancellations
    with reasons and comments, NPS invitations and answers, and our scores of them."""
    shop_id = shop.id
    subscriber = (
        await session.execute(
            select(Subscriber).where(
                Subscriber.shop_id == shop_id, Subscriber.customer_id == customer_id
            )
        )
    ).scalar_one_or_none()

    def theirs(column: Any) -> ColumnElement[bool]:
        # No subscriber: match nothing (never `IS NULL`, which would match unlinked orders).
        return column == subscriber.id if subscriber is not None else false()

    contract_pks = list(
        (
            await session.execute(
                select(Contract.id).where(
                    Contract.shop_id == shop_id, theirs(Contract.subscriber_id)
                )
            )
        ).scalars()
    )
    of_contracts = ContractStatusEvent.contract_pk.in_(contract_pks)
    orders = await _rows(
        session,
        Order,
        shop_id,
        or_(
            theirs(Order.subscriber_id),
            Order.contract_pk.in_(contract_pks),
            Order.order_id.in_(list(order_ids)),
        ),
    )
    return {
        "format": EXPORT_FORMAT,
        "shop_domain": shop.domain,
        "customer_id": customer_id,
        "generated_at": utcnow().isoformat(),
        "subscriber": row_data(subscriber) if subscriber is not None else None,
        "contracts": await _rows(session, Contract, shop_id, Contract.id.in_(contract_pks)),
        "contract_status_events": await _rows(session, ContractStatusEvent, shop_id, of_contracts),
        "contract_changes": await _rows(
            session, ContractChange, shop_id, ContractChange.contract_pk.in_(contract_pks)
        ),
        "billing_attempts": await _rows(
            session, BillingAttempt, shop_id, BillingAttempt.contract_pk.in_(contract_pks)
        ),
        "billing_cycle_events": await _rows(
            session, BillingCycleEvent, shop_id, BillingCycleEvent.contract_pk.in_(contract_pks)
        ),
        "orders": orders,
        "fulfillment_events": await _rows(
            session,
            FulfillmentEvent,
            shop_id,
            FulfillmentEvent.order_id.in_([order["order_id"] for order in orders]),
        ),
        "cancellations": await _rows(
            session, Cancellation, shop_id, theirs(Cancellation.subscriber_id)
        ),
        "nps_invitations": await _rows(
            session, NpsInvitation, shop_id, theirs(NpsInvitation.subscriber_id)
        ),
        "nps_responses": await _rows(
            session, NpsResponse, shop_id, theirs(NpsResponse.subscriber_id)
        ),
        "subscriber_scores": await _rows(
            session, SubscriberScore, shop_id, theirs(SubscriberScore.subscriber_id)
        ),
    }
