"""Subscription contracts and their status history, safe against late and duplicate deliveries.

Every contract event adds a row to the status history (one per distinct status and event time).
The contract's current state is always recomputed from that history, so a late or repeated
`update` can never overwrite a newer state and any arrival order of the same events ends in the
same contract. Between two entries that both carry a `revision_id`, the higher revision is the
newer state (Shopify's subscriptions guide); otherwise the later event time is (`arrange`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, NamedTuple, Protocol, TypeVar

from sqlalchemy import bindparam, exists, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from plugin.domain.changes import record_change
from plugin.domain.context import EventContext
from plugin.domain.contract_details import refresh_details, store_details
from plugin.domain.errors import MalformedPayload
from plugin.domain.order_events import link_origin_orders
from plugin.domain.orders import find_order, link_order
from plugin.domain.payloads import first_id, positive_int, require_id, section, text
from plugin.domain.rows import insert_if_absent, insert_returning
from plugin.domain.subscribers import note_seen, subscriber_for
from plugin.models import (
    Contract,
    ContractStatus,
    ContractStatusEvent,
    InboxStatus,
    Order,
    Shop,
    Subscriber,
)
from plugin.shopify.contracts import ContractDetails
from plugin.shopify.gid import parse_gid
from plugin.surveys import hooks
from plugin.surveys.hooks import ContractSurveyRows, survey_rows_columns

log = logging.getLogger(__name__)

PREFIX = "subscription_contracts/"
CREATE_TOPIC = f"{PREFIX}create"
# The status a topic means; None: the payload's `status` says (create, update).
TOPIC_STATUS: dict[str, str | None] = {
    f"{PREFIX}create": None,
    f"{PREFIX}update": None,
    f"{PREFIX}activate": ContractStatus.ACTIVE,
    f"{PREFIX}pause": ContractStatus.PAUSED,
    f"{PREFIX}cancel": ContractStatus.CANCELLED,
    f"{PREFIX}expire": ContractStatus.EXPIRED,
    f"{PREFIX}fail": ContractStatus.FAILED,
}
# Changes a subscriber or merchant made that these topics reveal (source unknown: Shopify does
# not say who paused). `activate` fires on resuming; a new contract fires `create`.
TOPIC_CHANGE = {f"{PREFIX}pause": "pause", f"{PREFIX}activate": "resume"}
STATUSES = frozenset(
    {
        ContractStatus.ACTIVE,
        ContractStatus.PAUSED,
        ContractStatus.CANCELLED,
        ContractStatus.EXPIRED,
        ContractStatus.FAILED,
        ContractStatus.STALE,
    }
)
# Tie-break for two statuses with the same event time and revision, so the outcome never
# depends on arrival order: an ending beats a pause, which beats being active.
_TIE_RANK: dict[str, int] = {
    ContractStatus.ACTIVE: 0,
    ContractStatus.STALE: 1,
    ContractStatus.PAUSED: 2,
    ContractStatus.FAILED: 3,
    ContractStatus.EXPIRED: 4,
    ContractStatus.CANCELLED: 5,
}
INTERVALS = frozenset({"day", "week", "month", "year"})


@dataclass(frozen=True)
class ContractFacts:
    """What a contract webhook says (docs/design.md §4 "Contract webhook fields")."""

    contract_id: int
    gid: str
    customer_id: int
    status: str
    revision_id: int | None
    currency: str | None
    billing_interval: str | None
    billing_interval_count: int | None
    min_cycles: int | None
    max_cycles: int | None
    delivery_interval: str | None
    delivery_interval_count: int | None
    origin_order_id: int | None
    has_billing_policy: bool


def parse_contract(payload: dict[str, Any], topic: str) -> ContractFacts:
    contract_id = require_id(payload, "id", "admin_graphql_api_id")
    customer_id = require_id(payload, "customer_id", "admin_graphql_api_customer_id")
    status = TOPIC_STATUS[topic] or str(payload.get("status") or "").lower()
    if status not in STATUSES:
        raise MalformedPayload(f"unknown contract status {payload.get('status')!r}")
    billing = section(payload, "billing_policy")
    delivery = section(payload, "delivery_policy")
    gid = payload.get("admin_graphql_api_id")
    currency = text(payload.get("currency_code"), 3)
    return ContractFacts(
        contract_id=contract_id,
        gid=gid if isinstance(gid, str) else f"gid://shopify/SubscriptionContract/{contract_id}",
        customer_id=customer_id,
        status=status,
        revision_id=positive_int(payload.get("revision_id"), "revision_id"),
        currency=currency.upper() if currency else None,
        billing_interval=_interval(billing.get("interval"), "billing_policy.interval"),
        billing_interval_count=_count(billing.get("interval_count"), "billing_policy"),
        min_cycles=positive_int(billing.get("min_cycles"), "billing_policy.min_cycles"),
        max_cycles=positive_int(billing.get("max_cycles"), "billing_policy.max_cycles"),
        delivery_interval=_interval(delivery.get("interval"), "delivery_policy.interval"),
        delivery_interval_count=_count(delivery.get("interval_count"), "delivery_policy"),
        origin_order_id=first_id(payload, "origin_order_id", "admin_graphql_api_origin_order_id"),
        has_billing_policy=bool(billing),
    )


def _interval(value: Any, field: str) -> str | None:
    if value is None:
        return None
    interval = str(value).lower()
    if interval not in INTERVALS:
        raise MalformedPayload(f"{field} must be one of {sorted(INTERVALS)}, got {value!r}")
    return interval


def _count(value: Any, policy: str) -> int | None:
    count = positive_int(value, f"{policy}.interval_count")
    if count == 0:
        raise MalformedPayload(f"{policy}.interval_count must be at least 1")
    return count


async def find_contract(session: AsyncSession, shop_id: int, contract_id: int) -> Contract | None:
    result = await session.execute(
        select(Contract).where(Contract.shop_id == shop_id, Contract.contract_id == contract_id)
    )
    return result.scalar_one_or_none()


class StatusEntry(Protocol):
    """One statement of the status history: a `ContractStatusEvent` row, or `Entry`."""

    @property
    def status(self) -> str: ...

    @property
    def occurred_at(self) -> datetime: ...

    @property
    def revision_id(self) -> int | None: ...


class Entry(NamedTuple):
    """A history entry as read with the contract, or about to be added."""

    status: str
    occurred_at: datetime
    revision_id: int | None


E = TypeVar("E", bound=StatusEntry)


def _time_key(event: StatusEntry) -> tuple[datetime, int, int]:
    return (event.occurred_at, event.revision_id or 0, _TIE_RANK[event.status])


def _revision_key(event: StatusEntry) -> tuple[int, datetime, int]:
    return (event.revision_id or 0, event.occurred_at, _TIE_RANK[event.status])


def arrange(history: Sequence[E]) -> list[E]:
    """The history oldest first: by event time, except that the entries carrying a revision
    fill their places in revision order. Revisions are Shopify's own sequence, so they beat
    clocks (a delivery's event time can lag); entries without one keep their time's place.
    One order for the set, whatever order it was recorded in."""
    by_time = sorted(history, key=_time_key)
    slots = [i for i, event in enumerate(by_time) if event.revision_id is not None]
    revised = sorted((by_time[i] for i in slots), key=_revision_key)
    for slot, event in zip(slots, revised, strict=True):
        by_time[slot] = event
    return by_time


@dataclass(frozen=True)
class Settled:
    """The contract's state as its history says."""

    status: str
    status_at: datetime
    revision_id: int | None
    started_at: datetime
    ended_at: datetime | None
    end_status: str | None  # how it ended (the first ending of the trailing run)

    def is_latest(self, status: str, at: datetime) -> bool:
        """Whether the history entry (status, at) is the one the state comes from."""
        return (self.status, self.status_at) == (status, at)


def settle(history: Sequence[StatusEntry]) -> Settled:
    """Current status = the latest entry; the contract ended with the first ending after its
    last non-ended entry (cancel then expire: it ended when cancelled)."""
    ordered = arrange(history)
    ending: StatusEntry | None = None
    for event in ordered:
        if event.status not in ContractStatus.ENDED:
            ending = None
        elif ending is None:
            ending = event
    latest = ordered[-1]
    return Settled(
        status=latest.status,
        status_at=latest.occurred_at,
        revision_id=latest.revision_id,
        started_at=min(event.occurred_at for event in ordered),
        ended_at=ending.occurred_at if ending else None,
        end_status=ending.status if ending else None,
    )


_ENTRY_COLUMNS = (
    ContractStatusEvent.status,
    ContractStatusEvent.occurred_at,
    ContractStatusEvent.revision_id,
)


async def _history(session: AsyncSession, contract: Contract) -> list[Entry]:
    result = await session.execute(
        select(*_ENTRY_COLUMNS).where(
            ContractStatusEvent.shop_id == contract.shop_id,
            ContractStatusEvent.contract_pk == contract.id,
        )
    )
    return [Entry(*row) for row in result]


def _terms(facts: ContractFacts) -> dict[str, Any]:
    """Policy and currency as the event states them (what it leaves out is left as it is)."""
    terms: dict[str, Any] = {
        "currency": facts.currency,
        "billing_interval": facts.billing_interval,
        "billing_interval_count": facts.billing_interval_count,
        "delivery_interval": facts.delivery_interval,
        "delivery_interval_count": facts.delivery_interval_count,
    }
    terms = {name: value for name, value in terms.items() if value}
    if facts.has_billing_policy:
        terms.update(min_cycles=facts.min_cycles, max_cycles=facts.max_cycles)
    return terms


def _apply_terms(contract: Contract, facts: ContractFacts) -> None:
    """Policy and currency as of the newest event (older events never overwrite them)."""
    for name, value in _terms(facts).items():
        setattr(contract, name, value)


# Whether the contract's origin order is known and not linked to it: only then can
# `link_origin_orders` change anything (an order linked already is left as it is).
_ORIGIN_ORDER_UNLINKED = exists().where(
    Order.shop_id == Contract.shop_id,
    Order.order_id == Contract.origin_order_id,
    or_(Order.contract_pk.is_(None), Order.contract_pk != Contract.id),
)
# The subscriber and the contract, both locked, with what the event needs to know about the
# contract's other rows, and one row per history entry: one statement for what took six.
# No row when either is new. The survey columns say what the survey hooks would change.
_SUBSCRIBER_AND_CONTRACT = (
    select(
        Subscriber,
        Contract,
        _ORIGIN_ORDER_UNLINKED.label("origin_order_unlinked"),
        *survey_rows_columns(Contract.shop_id, Contract.id, Contract.subscriber_id),
        *_ENTRY_COLUMNS,
    )
    .join(
        Contract,
        (Contract.shop_id == Subscriber.shop_id)
        & (Contract.contract_id == bindparam("contract_id")),
    )
    .outerjoin(ContractStatusEvent, ContractStatusEvent.contract_pk == Contract.id)
    .where(
        Subscriber.shop_id == bindparam("shop_id"),
        Subscriber.customer_id == bindparam("customer_id"),
    )
    # As `plugin.domain.rows.lock`, of the two rows (the history is read, not locked).
    .with_for_update(of=(Subscriber, Contract), key_share=True)
    .execution_options(populate_existing=True)
)


@dataclass
class _Known:
    """The subscriber and the contract, locked, with what was read with them."""

    subscriber: Subscriber
    contract: Contract
    created: bool  # the contract is new (this statement inserted it)
    history: list[Entry]
    origin_order_unlinked: bool
    survey_rows: ContractSurveyRows


async def _read_known(session: AsyncSession, shop: Shop, facts: ContractFacts) -> _Known | None:
    result = await session.execute(
        _SUBSCRIBER_AND_CONTRACT,
        {"shop_id": shop.id, "customer_id": facts.customer_id, "contract_id": facts.contract_id},
    )
    rows: Sequence[Any] = result.all()  # typed by position below
    if not rows:
        return None
    subscriber, contract, origin_order_unlinked, cancelled_at, unsent_invitations = rows[0][:5]
    return _Known(
        subscriber=subscriber,
        contract=contract,
        created=False,
        # Each row's last columns: one history entry (none at all: no history yet).
        history=[Entry._make(row[-3:]) for row in rows if row[-3] is not None],
        origin_order_unlinked=bool(origin_order_unlinked),
        survey_rows=ContractSurveyRows(cancelled_at, bool(unsent_invitations)),
    )


async def _known_or_new(
    session: AsyncSession, shop: Shop, facts: ContractFacts, at: datetime, *, likely_new: bool
) -> _Known:
    """The subscriber and the contract, locked, created when new. A contract's first event
    (`likely_new`) tries the inserts first; any other the read that finds both."""
    if not likely_new:
        known = await _read_known(session, shop, facts)
        if known is not None:
            note_seen(known.subscriber, at)
            return known
    subscriber, new_subscriber = await subscriber_for(session, shop.id, facts.customer_id, at)
    contract = await insert_returning(
        session,
        Contract,
        new_contract_values(shop, facts, subscriber.id, at),
        ("shop_id", "contract_id"),
    )
    if contract is not None:
        # Nothing can refer to a contract that did not exist: no order is linked to it, no
        # cancellation recorded; nor to a new subscriber: no invitation (others' are unknown).
        survey_rows = ContractSurveyRows(cancelled_at=None, unsent_invitations=not new_subscriber)
        return _Known(subscriber, contract, True, [], True, survey_rows)
    known = await _read_known(session, shop, facts)  # both exist now
    assert known is not None
    # The read loaded the subscriber afresh, over what `subscriber_for` noted.
    note_seen(known.subscriber, at)
    return known


def new_contract_values(
    shop: Shop, facts: ContractFacts, subscriber_id: int, at: datetime
) -> dict[str, Any]:
    """A new contract's row as its first event at `at` makes it: what `record_contract_facts`
    would set right after the insert, so that the insert is its only write."""
    state = settle([Entry(facts.status, at, facts.revision_id)])
    return {
        "shop_id": shop.id,
        "contract_id": facts.contract_id,
        "subscriber_id": subscriber_id,
        "status": state.status,
        "status_at": state.status_at,
        "revision_id": state.revision_id,
        "started_at": state.started_at,
        "ended_at": state.ended_at,
        **_terms(facts),
        "currency": facts.currency or shop.currency,
        "origin_order_id": facts.origin_order_id,
    }


@dataclass(frozen=True)
class Recorded:
    """A contract after one statement about its status was added to its history."""

    contract: Contract
    state: Settled
    newly_ended: bool  # the contract ended, or ended at another time, with this statement
    order_to_link: bool  # its origin order may be known and not linked to it yet
    survey_rows: ContractSurveyRows  # as read before this statement


async def record_contract_facts(
    session: AsyncSession, shop: Shop, facts: ContractFacts, at: datetime, topic: str
) -> Recorded:
    """Add what a webhook (or a backfill snapshot) says the contract was at `at` to its history
    and settle its state; creates the subscriber and the contract when new."""
    known = await _known_or_new(session, shop, facts, at, likely_new=topic == CREATE_TOPIC)
    contract, created, history = known.contract, known.created, known.history
    before_status = None if created else contract.status
    before_ended_at = None if created else contract.ended_at

    if (facts.status, at) not in {(entry.status, entry.occurred_at) for entry in history}:
        added = await insert_if_absent(
            session,
            ContractStatusEvent,
            {
                "shop_id": shop.id,
                "contract_pk": contract.id,
                "status": facts.status,
                "occurred_at": at,
                "revision_id": facts.revision_id,
                "topic": topic,
            },
            ("contract_pk", "status", "occurred_at"),
        )
        if added:
            history.append(Entry(facts.status, at, facts.revision_id))
        else:  # another transaction added it since the read: the history as it is now
            history = await _history(session, contract)
    state = settle(history)
    if created or state.is_latest(facts.status, at):
        _apply_terms(contract, facts)
    contract.status = state.status
    contract.status_at = state.status_at
    contract.revision_id = state.revision_id
    contract.started_at = state.started_at
    contract.ended_at = state.ended_at

    change = TOPIC_CHANGE.get(topic)
    if change is not None:
        await record_change(session, shop_id=shop.id, contract_pk=contract.id, kind=change, at=at)
    origin_newly_known = contract.origin_order_id is None and facts.origin_order_id is not None
    if origin_newly_known:
        contract.origin_order_id = facts.origin_order_id
    await session.flush()
    ended = contract.ended_at
    newly_ended = before_status not in ContractStatus.ENDED or before_ended_at != ended
    return Recorded(
        contract,
        state,
        ended is not None and newly_ended,
        order_to_link=origin_newly_known or known.origin_order_unlinked,
        survey_rows=known.survey_rows,
    )


async def _notify_comeback(
    session: AsyncSession,
    shop: Shop,
    recorded: Recorded,
    status: str,
    at: datetime,
    known: ContractSurveyRows | None,
) -> None:
    """A non-ending status at `at` retracts a cancellation that ended the contract before it.
    Called before `_notify_end`: a late comeback can move the end to a later cancel.
    `known`: the survey rows as read with the contract, still valid (None: not known)."""
    if status not in ContractStatus.ENDED:
        await session.flush()
        await hooks.on_contract_reactivated(session, shop, recorded.contract, at, known=known)


async def _notify_end(
    session: AsyncSession, shop: Shop, recorded: Recorded, known: ContractSurveyRows | None
) -> None:
    contract, end_status = recorded.contract, recorded.state.end_status
    if recorded.newly_ended and contract.ended_at is not None and end_status is not None:
        await session.flush()
        await hooks.on_contract_ended(
            session, shop, contract, end_status, contract.ended_at, known=known
        )


async def handle_contract_event(ctx: EventContext) -> str:
    facts = parse_contract(ctx.payload, ctx.topic)
    recorded = await record_contract_facts(ctx.session, ctx.shop, facts, ctx.occurred_at, ctx.topic)
    contract = recorded.contract
    if contract.origin_order_id is not None and recorded.order_to_link:
        # An invitation this schedules for the order is settled by the scheduling itself, with
        # the contract's new status written already: `survey_rows` needs no update for it.
        await link_origin_orders(ctx.session, ctx.shop, [(contract.origin_order_id, contract)])
    await refresh_details(ctx, contract, facts.gid)
    await _notify_comeback(
        ctx.session, ctx.shop, recorded, facts.status, ctx.occurred_at, recorded.survey_rows
    )
    await _notify_end(ctx.session, ctx.shop, recorded, recorded.survey_rows)
    return InboxStatus.HANDLED


# Status history entries that came from a backfill snapshot rather than a webhook.
BACKFILL_TOPIC = "backfill"


async def import_contract(
    session: AsyncSession, shop: Shop, details: ContractDetails, *, observed_at: datetime
) -> bool:
    """Bring in a contract as Shopify's Admin API showed it at `observed_at` (`valuehealth
    backfill`); True when it was new to us.

    The snapshot is one more statement in the contract's history, through the same code as a
    webhook: active since Shopify's `createdAt`, and in its current status as of `observed_at`
    (when it ended before that is unknown, so it is dated when we learnt of it). Events that
    fired later still win. Orders already known are linked, without survey invitations: those
    deliveries are history, not news.
    """
    contract_id = parse_gid(details.contract_gid, "SubscriptionContract")
    if contract_id is None or details.status not in STATUSES:
        raise MalformedPayload(
            f"contract snapshot {details.contract_gid!r} has no id or an unknown status"
        )
    known = await find_contract(session, shop.id, contract_id) is not None
    facts = ContractFacts(
        contract_id=contract_id,
        gid=details.contract_gid,
        customer_id=details.customer_id,
        status=details.status,
        revision_id=None,
        currency=details.currency,
        billing_interval=details.billing_interval,
        billing_interval_count=details.billing_interval_count,
        min_cycles=None,
        max_cycles=None,
        delivery_interval=details.delivery_interval,
        delivery_interval_count=details.delivery_interval_count,
        origin_order_id=details.origin_order_id,
        has_billing_policy=False,  # the snapshot does not carry min/max cycles
    )
    if details.created_at is not None and details.created_at < observed_at:
        started = replace(facts, status=ContractStatus.ACTIVE)
        await record_contract_facts(session, shop, started, details.created_at, BACKFILL_TOPIC)
    recorded = await record_contract_facts(session, shop, facts, observed_at, BACKFILL_TOPIC)
    contract = recorded.contract
    if contract.origin_order_id is not None:
        order = await find_order(session, shop.id, contract.origin_order_id)
        if order is not None:
            await link_order(session, order, contract)
    await store_details(session, contract, details, observed_at)
    await _notify_comeback(session, shop, recorded, facts.status, observed_at, None)
    await _notify_end(session, shop, recorded, None)
    return not known
