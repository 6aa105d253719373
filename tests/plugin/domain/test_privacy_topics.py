"""Compliance topics: customers/data_request, customers/redact, shop/redact."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy import func, select

from plugin.db.transaction import transaction
from plugin.models import (
    Base,
    Cancellation,
    Contract,
    DataExport,
    InboxStatus,
    NpsInvitation,
    NpsResponse,
    Shop,
    Subscriber,
    SubscriberScore,
    WebhookInbox,
)
from plugin.models.base import UtcDateTime
from plugin.runtime import Runtime
from tests.plugin.domain.domain_helpers import one, rows, shop_of
from tests.support.payloads import (
    T0,
    Event,
    billing_attempt,
    billing_cycle,
    contract,
    customer,
    customer_redact,
    data_request,
    deliver,
    fulfillment_event,
    inbox_row,
    next_id,
    order,
    shop_redact,
)
from tests.support.signing import SHOP

OTHER_SHOP = "other-shop.myshopify.com"
DAY = timedelta(days=1)
NPS_COMMENT = "Great coffee, call me on 06 12 34 56 78"
CANCEL_COMMENT = "Moving abroad with my partner Alex"


@dataclass(frozen=True)
class Customer:
    customer_id: int
    contract_id: int
    order_ids: tuple[int, int]
    email: str


async def subscriber_with_history(rt: Runtime, domain: str = SHOP) -> Customer:
    """A subscriber with every kind of record we keep: contract, history, billing, skip,
    orders, deliveries, a cancellation with a comment, an NPS answer with a comment, a score."""
    customer_id, cid, origin, renewal = next_id(), next_id(), next_id(), next_id()
    email = f"customer{customer_id}@example.com"
    await deliver(
        rt,
        Event(
            "subscription_contracts/create",
            contract(cid, customer_id, origin_order_id=origin),
            at=T0,
        ),
        Event("orders/create", order(origin, customer_id, created_at=T0), at=T0),
        Event(
            "fulfillment_events/create",
            fulfillment_event(next_id(), origin, happened_at=T0 + 3 * DAY),
            at=T0 + 3 * DAY,
        ),
        Event("customers/update", customer(customer_id, at=T0 + DAY), at=T0 + DAY),
        Event(
            "subscription_billing_attempts/success",
            billing_attempt(next_id(), cid, order_id=renewal),
            at=T0 + 30 * DAY,
        ),
        Event("orders/create", order(renewal, customer_id, created_at=T0 + 30 * DAY)),
        Event("subscription_billing_cycles/skip", billing_cycle(cid, 2), at=T0 + 40 * DAY),
        Event(
            "subscription_contracts/cancel",
            contract(cid, customer_id, status="cancelled", revision_id=2),
            at=T0 + 50 * DAY,
        ),
        shop=domain,
    )
    shop = await shop_of(rt, domain)
    async with transaction(rt.sessionmaker, None) as tx:
        session = tx.session
        subscriber = (
            await session.execute(
                select(Subscriber).where(
                    Subscriber.shop_id == shop.id, Subscriber.customer_id == customer_id
                )
            )
        ).scalar_one()
        contract_row = (
            await session.execute(
                select(Contract).where(Contract.shop_id == shop.id, Contract.contract_id == cid)
            )
        ).scalar_one()
        contract_row.recurring_amount = Decimal("25.00")
        cancellation = (
            await session.execute(
                select(Cancellation).where(
                    Cancellation.shop_id == shop.id, Cancellation.contract_pk == contract_row.id
                )
            )
        ).scalar_one()
        cancellation.reason_code = "no_longer_needed"
        cancellation.reason_source = "customer"
        cancellation.comment = CANCEL_COMMENT
        # The delivery scheduled this invitation (survey hook); the subscriber answered it.
        invitation = (
            await session.execute(
                select(NpsInvitation).where(
                    NpsInvitation.shop_id == shop.id, NpsInvitation.order_id == origin
                )
            )
        ).scalar_one()
        invitation.status = "answered"
        session.add(
            NpsResponse(
                shop_id=shop.id,
                invitation_id=invitation.id,
                subscriber_id=subscriber.id,
                score=9,
                value_for_money=4,
                comment=NPS_COMMENT,
                channel="proxy",
                answered_at=T0 + 6 * DAY,
                editable_until=T0 + 7 * DAY,
            )
        )
        session.add(
            SubscriberScore(
                shop_id=shop.id, subscriber_id=subscriber.id, value_score=71.5, churn_risk=0.12
            )
        )
    return Customer(customer_id, cid, (origin, renewal), email)


# Stand-in values by column type (the most specific type first).
_DUMMIES: list[tuple[type, Any]] = [
    (UtcDateTime, T0),
    (sa.JSON, {}),
    (sa.Boolean, False),
    (sa.Integer, 1),
    (sa.Float, 1.0),
    (sa.Numeric, Decimal("1.00")),
    (sa.Date, date(2026, 2, 1)),
    (sa.String, "x"),
]


def _dummy(column: sa.Column[Any]) -> Any:
    return next(value for kind, value in _DUMMIES if isinstance(column.type, kind))


async def fill_empty_tables(rt: Runtime, domain: str) -> None:
    """One row in each shop table the events left empty (snapshots, settings, initiatives,
    and whatever table is added later), so the erasure test covers every table."""
    shop = await shop_of(rt, domain)
    async with transaction(rt.sessionmaker, None) as tx:
        session = tx.session
        for table in Base.metadata.sorted_tables:  # parents first: FKs find a row to point at
            if "shop_id" not in table.c:
                continue
            held = select(func.count()).select_from(table).where(table.c.shop_id == shop.id)
            if (await session.execute(held)).scalar_one():
                continue
            values: dict[str, Any] = {"shop_id": shop.id}
            for column in table.c:
                if column.name in values or column.nullable or column.default is not None:
                    continue
                if column.primary_key and column.autoincrement is True:
                    continue
                [fk, *_] = list(column.foreign_keys) or [None]
                if fk is not None:
                    parent = fk.column.table
                    values[column.name] = (
                        await session.execute(
                            select(fk.column).where(parent.c.shop_id == shop.id).limit(1)
                        )
                    ).scalar_one()
                else:
                    values[column.name] = _dummy(column)
            await session.execute(table.insert().values(**values))


# ---- customers/data_request -------------------------------------------------------------------


async def test_data_request_exports_everything_we_hold(rt: Runtime) -> None:
    x = await subscriber_with_history(rt)
    other = await subscriber_with_history(rt)
    request = data_request(x.customer_id, request_id=9191, orders_requested=list(x.order_ids))
    event = Event("customers/data_request", request, at=T0 + 60 * DAY)
    await deliver(rt, event, event)  # a redelivery: still one export

    export = await one(rt, DataExport)
    assert (export.customer_id, export.request_key, export.requested_at) == (
        x.customer_id,
        "9191",
        T0 + 60 * DAY,
    )
    data = export.data
    json.dumps(data)  # plain JSON
    assert data["subscriber"]["email"] == x.email
    assert [c["contract_id"] for c in data["contracts"]] == [x.contract_id]
    assert sorted(e["status"] for e in data["contract_status_events"]) == ["active", "cancelled"]
    assert [a["status"] for a in data["billing_attempts"]] == ["success"]
    assert [e["kind"] for e in data["billing_cycle_events"]] == ["skip"]
    assert [c["kind"] for c in data["contract_changes"]] == ["skip"]
    assert sorted(o["order_id"] for o in data["orders"]) == sorted(x.order_ids)
    assert [e["status"] for e in data["fulfillment_events"]] == ["delivered"]
    [cancellation] = data["cancellations"]
    assert (cancellation["reason_code"], cancellation["comment"]) == (
        "no_longer_needed",
        CANCEL_COMMENT,
    )
    assert [i["status"] for i in data["nps_invitations"]] == ["answered"]
    [answer] = data["nps_responses"]
    assert (answer["score"], answer["comment"]) == (9, NPS_COMMENT)
    assert [s["value_score"] for s in data["subscriber_scores"]] == [71.5]
    # Nobody else's data is in it.
    assert str(other.customer_id) not in json.dumps(data)


async def test_data_request_for_an_unknown_customer_says_we_hold_nothing(rt: Runtime) -> None:
    stranger = next_id()
    await deliver(rt, Event("customers/data_request", data_request(stranger, request_id=1)))
    export = await one(rt, DataExport)
    assert export.data["subscriber"] is None
    assert export.data["contracts"] == export.data["orders"] == []


async def test_each_request_gets_its_own_export(rt: Runtime) -> None:
    x = await subscriber_with_history(rt)
    await deliver(
        rt,
        Event("customers/data_request", data_request(x.customer_id, request_id=1)),
        Event("customers/data_request", data_request(x.customer_id, request_id=2)),
    )
    assert sorted(e.request_key for e in await rows(rt, DataExport)) == ["1", "2"]


# ---- customers/redact -------------------------------------------------------------------------


async def test_redact_erases_personal_data_and_keeps_aggregates(rt: Runtime) -> None:
    x = await subscriber_with_history(rt)
    kept = await subscriber_with_history(rt)
    await deliver(rt, Event("customers/data_request", data_request(x.customer_id, request_id=5)))
    await deliver(rt, Event("customers/data_request", data_request(kept.customer_id)))

    [redact_id] = await deliver(
        rt,
        Event(
            "customers/redact",
            customer_redact(x.customer_id, orders_to_redact=list(x.order_ids)),
            at=T0 + 70 * DAY,
        ),
    )

    subscriber = await one(rt, Subscriber, Subscriber.customer_id == x.customer_id)
    assert (subscriber.email, subscriber.first_name, subscriber.last_name, subscriber.locale) == (
        None,
        None,
        None,
        None,
    )
    assert subscriber.redacted_at == T0 + 70 * DAY
    answer = await one(rt, NpsResponse, NpsResponse.subscriber_id == subscriber.id)
    assert (answer.comment, answer.score, answer.value_for_money) == (None, 9, 4)
    cancellation = await one(rt, Cancellation, Cancellation.subscriber_id == subscriber.id)
    assert (cancellation.comment, cancellation.reason_code) == (None, "no_longer_needed")
    economics = await one(rt, Contract, Contract.contract_id == x.contract_id)
    assert (economics.status, economics.recurring_amount) == ("cancelled", Decimal("25.00"))
    assert await one(rt, SubscriberScore, SubscriberScore.subscriber_id == subscriber.id)
    assert [e.customer_id for e in await rows(rt, DataExport)] == [kept.customer_id]

    # Raw webhook payloads no longer name them; the other subscriber's are intact.
    inbox = await rows(rt, WebhookInbox)
    dumped = {row.id: json.dumps(row.payload) for row in inbox}
    assert not any(x.email in text for text in dumped.values())
    assert not any("Lyon" in text and str(x.order_ids[0]) in text for text in dumped.values())
    assert any(kept.email in text for text in dumped.values())
    redact_row = await inbox_row(rt, redact_id)
    assert redact_row is not None and redact_row.status == InboxStatus.HANDLED

    # Later events about them store no personal data again.
    await deliver(
        rt,
        Event(
            "customers/update",
            customer(x.customer_id, email="back@example.com", at=T0 + 80 * DAY),
            at=T0 + 80 * DAY,
        ),
    )
    assert (await one(rt, Subscriber, Subscriber.customer_id == x.customer_id)).email is None
    kept_subscriber = await one(rt, Subscriber, Subscriber.customer_id == kept.customer_id)
    assert kept_subscriber.email == kept.email
    kept_answer = await one(rt, NpsResponse, NpsResponse.subscriber_id == kept_subscriber.id)
    assert kept_answer.comment == NPS_COMMENT


# ---- shop/redact ------------------------------------------------------------------------------


async def test_shop_redact_deletes_every_row_of_the_shop(rt: Runtime) -> None:
    for domain in (SHOP, OTHER_SHOP):
        await subscriber_with_history(rt, domain)
        await deliver(rt, Event("customers/data_request", data_request(1)), shop=domain)
        await fill_empty_tables(rt, domain)
    erased = (await shop_of(rt, SHOP)).id
    other = (await shop_of(rt, OTHER_SHOP)).id
    shop_tables = [t for t in Base.metadata.sorted_tables if "shop_id" in t.c]

    async def counts(shop_id: int) -> dict[str, int]:
        async with rt.sessionmaker() as session:
            found = {
                t.name: (
                    await session.execute(
                        select(func.count()).select_from(t).where(t.c.shop_id == shop_id)
                    )
                ).scalar_one()
                for t in shop_tables
            }
            found["shops"] = (
                await session.execute(select(func.count()).where(Shop.id == shop_id))
            ).scalar_one()
            return found

    before = await counts(erased)
    assert all(before.values()), f"the test must fill every table first: {before}"

    await deliver(rt, Event("shop/redact", shop_redact(SHOP), at=T0 + 90 * DAY))

    assert await counts(erased) == dict.fromkeys(before, 0)
    assert await counts(other) == before  # the other shop is untouched


async def test_shop_redact_naming_another_shop_is_refused(rt: Runtime) -> None:
    [inbox_id] = await deliver(rt, Event("shop/redact", shop_redact(OTHER_SHOP)))
    row = await inbox_row(rt, inbox_id)
    assert row is not None and row.status == InboxStatus.FAILED
    assert (await shop_of(rt, SHOP)).id == row.shop_id
