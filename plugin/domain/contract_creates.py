"""New subscription contracts, applied a run at a time: `subscription_contracts/create` of
contracts we do not hold yet (one per checkout line, the most frequent contract event).

What one row at a time takes five or six statements for, a run takes in one statement per kind
of row: the contracts known already, the subscribers (locked, the new ones inserted), the
contracts and their first history entries inserted, their origin orders linked, and their
subscribers' unsent invitations decided again. A contract created this way is in the state the
row-at-a-time path leaves (`record_contract_facts` on a history of one entry); anything else (a
contract we hold already, another delivery of one created in this run, a create that is not
live) goes through that path, after the new ones, in event order.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from plugin.db.transaction import Tx
from plugin.domain.context import EventContext, RunOutcome
from plugin.domain.contract_details import fetch_details, store_details
from plugin.domain.contracts import (
    CREATE_TOPIC,
    ContractFacts,
    handle_contract_event,
    new_contract_values,
    parse_contract,
)
from plugin.domain.errors import MalformedPayload
from plugin.domain.event_rows import context_of
from plugin.domain.order_events import link_origin_orders
from plugin.domain.rows import insert_all_if_absent, insert_all_returning, lock, write_changed
from plugin.domain.subscribers import note_seen, subscriber_for
from plugin.models import (
    Contract,
    ContractStatus,
    ContractStatusEvent,
    InboxStatus,
    Shop,
    Subscriber,
    WebhookInbox,
)
from plugin.models.base import utcnow
from plugin.queue import TransientError
from plugin.runtime import Runtime
from plugin.shopify.contracts import ContractDetails
from plugin.surveys import hooks

CREATE_TOPICS = frozenset({CREATE_TOPIC})
# Statuses a create applied set-based may have: no ending, so no end to record.
_LIVE = frozenset({ContractStatus.ACTIVE, ContractStatus.PAUSED})


@dataclass(frozen=True)
class _Create:
    position: int
    ctx: EventContext
    facts: ContractFacts


async def apply_contract_creates(
    tx: Tx, runtime: Runtime, shop: Shop, rows: Sequence[WebhookInbox]
) -> list[RunOutcome]:
    """Apply a run of contract create rows (in event order); the outcome of each, in order.
    An unreadable payload is declined (set aside as malformed, nothing written)."""
    outcomes: list[RunOutcome] = [InboxStatus.HANDLED] * len(rows)
    creates: list[_Create] = []
    for position, row in enumerate(rows):
        try:
            ctx = context_of(tx, runtime, shop, row)
            creates.append(_Create(position, ctx, parse_contract(ctx.payload, ctx.topic)))
        except MalformedPayload as exc:
            outcomes[position] = exc
    if not creates:
        return outcomes
    session = tx.session
    # The contracts we hold already go the row-at-a-time way, which decides whether their
    # details are due: known before any details are fetched.
    held = set(
        await session.scalars(
            select(Contract.contract_id).where(
                Contract.shop_id == shop.id,
                Contract.contract_id.in_({create.facts.contract_id for create in creates}),
            )
        )
    )
    new: dict[int, _Create] = {}  # the first create of each contract we do not hold
    others: list[_Create] = []
    for create in creates:
        contract_id = create.facts.contract_id
        if contract_id in held or contract_id in new or create.facts.status not in _LIVE:
            others.append(create)
        else:
            new[contract_id] = create
    # Their details first, before anything is written: a create Shopify cannot answer for now
    # (throttled, unavailable) is declined with that error and retried alone, as it would be
    # applied alone, while the others go on.
    details: dict[int, ContractDetails] = {}
    for contract_id, create in list(new.items()):
        try:
            found = await fetch_details(create.ctx, create.facts.gid)
        except TransientError as exc:
            outcomes[create.position] = exc
            del new[contract_id]
            continue
        if found is not None:
            details[contract_id] = found
    if new:
        # A contract another transaction created meanwhile goes the row-at-a-time way.
        others.extend(await _create(session, shop, list(new.values()), details))
        others.sort(key=lambda create: create.position)
    for create in others:
        outcomes[create.position] = await handle_contract_event(create.ctx)
    return outcomes


async def _create(
    session: AsyncSession,
    shop: Shop,
    creates: list[_Create],
    details: dict[int, ContractDetails],
) -> list[_Create]:
    """Create the contracts; the creates whose contract was there when inserted (another
    transaction's meanwhile), left undone."""
    subscribers, known_before = await _subscribers(session, shop, creates)
    contracts = await insert_all_returning(
        session,
        Contract,
        [
            new_contract_values(
                shop, create.facts, subscribers[create.facts.customer_id].id, create.ctx.occurred_at
            )
            for create in creates
        ],
        ("shop_id", "contract_id"),
    )
    by_id = {contract.contract_id: contract for contract in contracts}
    taken = [create for create in creates if create.facts.contract_id not in by_id]
    creates = [create for create in creates if create.facts.contract_id in by_id]
    await insert_all_if_absent(
        session,
        ContractStatusEvent,
        [
            {
                "shop_id": shop.id,
                "contract_pk": by_id[create.facts.contract_id].id,
                "status": create.facts.status,
                "occurred_at": create.ctx.occurred_at,
                "revision_id": create.facts.revision_id,
                "topic": create.ctx.topic,
            }
            for create in creates
        ],
        ("contract_pk", "status", "occurred_at"),
    )
    # What `handle_contract_event` does next for a new contract, for all of them at once.
    await link_origin_orders(
        session,
        shop,
        [
            (contract.origin_order_id, contract)
            for contract in contracts
            if contract.origin_order_id is not None
        ],
    )
    fetched_at = utcnow()
    for contract_id, found in details.items():
        if contract_id in by_id:
            await store_details(session, by_id[contract_id], found, fetched_at)
    await session.flush()
    await hooks.on_contracts_created(
        session,
        shop,
        {
            subscribers[create.facts.customer_id].id
            for create in creates
            if create.facts.customer_id in known_before
        },
    )
    return taken


async def _subscribers(
    session: AsyncSession, shop: Shop, creates: list[_Create]
) -> tuple[dict[int, Subscriber], set[int]]:
    """The creates' subscribers by customer id, locked (as `subscriber_for`, first seen at the
    earliest of their events), the new ones inserted; and the customers known before."""
    first_seen: dict[int, datetime] = {}
    for create in creates:
        customer_id, at = create.facts.customer_id, create.ctx.occurred_at
        first_seen[customer_id] = min(first_seen.get(customer_id, at), at)
    found = await session.scalars(
        lock(
            select(Subscriber)
            .where(Subscriber.shop_id == shop.id, Subscriber.customer_id.in_(first_seen))
            .order_by(Subscriber.customer_id)
        )
    )
    subscribers = {subscriber.customer_id: subscriber for subscriber in found}
    known_before = set(subscribers)
    for customer_id, subscriber in subscribers.items():
        note_seen(subscriber, first_seen[customer_id])
    await write_changed(session, list(subscribers.values()), ("first_seen_at",))
    missing = [
        {"shop_id": shop.id, "customer_id": customer_id, "first_seen_at": at}
        for customer_id, at in sorted(first_seen.items())
        if customer_id not in subscribers
    ]
    if missing:
        created = await insert_all_returning(
            session, Subscriber, missing, ("shop_id", "customer_id")
        )
        subscribers.update((subscriber.customer_id, subscriber) for subscriber in created)
    if len(subscribers) < len(first_seen):
        # Created by another transaction meanwhile: read as they are now, as `subscriber_for`.
        for customer_id in sorted(set(first_seen) - set(subscribers)):
            subscriber, _ = await subscriber_for(
                session, shop.id, customer_id, first_seen[customer_id]
            )
            subscribers[customer_id] = subscriber
            known_before.add(customer_id)
    return subscribers, known_before
