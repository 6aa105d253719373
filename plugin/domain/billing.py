"""Billing attempts (renewals and their failures), applied a run at a time, and billing cycle
skips."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, bindparam, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from plugin.billing.dunning import AttemptOutcome, on_attempt_outcomes
from plugin.db.transaction import Tx
from plugin.domain.changes import record_change
from plugin.domain.context import EventContext, RunOutcome
from plugin.domain.errors import ContractNotYetKnown, MalformedPayload
from plugin.domain.event_rows import context_of
from plugin.domain.order_events import Renewal, link_renewal_orders
from plugin.domain.payloads import first_id, positive_int, require_id, text, timestamp
from plugin.domain.rows import (
    fetch_locked_one,
    insert_all_if_absent,
    insert_if_absent,
    lock,
    write_changed,
)
from plugin.models import (
    BillingAttempt,
    BillingAttemptStatus,
    BillingCycleEvent,
    Contract,
    ContractStatus,
    InboxStatus,
    Shop,
    WebhookInbox,
)
from plugin.runtime import Runtime
from plugin.surveys import hooks

ATTEMPT_TOPIC_STATUS = {
    "subscription_billing_attempts/success": BillingAttemptStatus.SUCCESS,
    "subscription_billing_attempts/failure": BillingAttemptStatus.FAILURE,
    "subscription_billing_attempts/challenged": BillingAttemptStatus.CHALLENGED,
}
CYCLE_TOPIC_KIND = {
    "subscription_billing_cycles/skip": "skip",
    "subscription_billing_cycles/unskip": "unskip",
}
# A challenged attempt (3-D Secure) later succeeds or fails: an outcome is never replaced by
# the challenge, whatever the arrival order. Between two outcomes the later event wins.
_OUTCOME_RANK: dict[str, int] = {
    BillingAttemptStatus.CHALLENGED: 0,
    BillingAttemptStatus.FAILURE: 1,
    BillingAttemptStatus.SUCCESS: 1,
}


_OUTCOME_COLUMNS = ("status", "error_code", "error_message", "occurred_at")
_ATTEMPT_COLUMNS = ("attempt_id", "idempotency_key", "attempt_key", "order_id", *_OUTCOME_COLUMNS)
_INSERT_COLUMNS = ("shop_id", "contract_pk", *_ATTEMPT_COLUMNS)

_CONTRACT = select(Contract).where(
    Contract.shop_id == bindparam("shop_id"), Contract.contract_id == bindparam("contract_id")
)
_ATTEMPT_BY_KEY = lock(
    select(BillingAttempt).where(
        BillingAttempt.contract_pk == bindparam("contract_pk"),
        BillingAttempt.attempt_key == bindparam("attempt_key"),
    )
)


async def _contract_of(ctx: EventContext) -> Contract:
    contract_id = require_id(
        ctx.payload, "subscription_contract_id", "admin_graphql_api_subscription_contract_id"
    )
    # What plugin.domain.contracts.find_contract reads, as a statement built once.
    result = await ctx.session.execute(
        _CONTRACT, {"shop_id": ctx.shop_id, "contract_id": contract_id}
    )
    contract = result.scalar_one_or_none()
    if contract is None:
        raise ContractNotYetKnown(contract_id)
    return contract


def attempt_key(idempotency_key: str | None, attempt_id: int | None, order_id: int | None) -> str:
    """What identifies an attempt within its contract, from what its payload carries.

    Every delivery of an attempt carries its idempotency key (non-null in the Admin API), but
    Shopify's published payloads carry `"id": null`: the key comes first, so a later delivery
    with the id is the same attempt. Without a key, the id; without either, the order made.
    """
    if idempotency_key is not None:
        return f"key:{idempotency_key}"
    if attempt_id is not None:
        return f"id:{attempt_id}"
    if order_id is not None:
        return f"order:{order_id}"
    raise MalformedPayload("billing attempt has no id, idempotency_key or order_id")


def error_code(value: Any) -> str | None:
    """Shopify's error codes, one spelling: published examples use both
    `PAYMENT_METHOD_DECLINED` (the GraphQL enum) and `payment_method_declined`."""
    code = text(value, 64)
    return code.lower() if code is not None else None


@dataclass(frozen=True)
class AttemptFacts:
    """What a billing attempt webhook says."""

    status: str
    contract_id: int
    attempt_id: int | None
    idempotency_key: str | None
    order_id: int | None
    key: str  # `attempt_key`
    outcome: dict[str, Any]  # status, error code and message, occurred_at

    @classmethod
    def read(cls, ctx: EventContext) -> AttemptFacts:
        payload = ctx.payload
        attempt_id = first_id(payload, "id", "admin_graphql_api_id")
        idempotency_key = text(payload.get("idempotency_key"), 255)
        order_id = first_id(payload, "order_id", "admin_graphql_api_order_id")
        status = ATTEMPT_TOPIC_STATUS[ctx.topic]
        return cls(
            status=status,
            contract_id=require_id(
                payload, "subscription_contract_id", "admin_graphql_api_subscription_contract_id"
            ),
            attempt_id=attempt_id,
            idempotency_key=idempotency_key,
            order_id=order_id,
            key=attempt_key(idempotency_key, attempt_id, order_id),
            outcome={
                "status": status,
                "error_code": error_code(payload.get("error_code")),
                "error_message": text(payload.get("error_message"), 2000),
                "occurred_at": ctx.occurred_at,
            },
        )


async def apply_billing_attempts(
    tx: Tx, runtime: Runtime, shop: Shop, rows: Sequence[WebhookInbox]
) -> list[RunOutcome]:
    """Apply a run of billing attempt rows (in event order) set-based: their contracts read in
    one statement, their attempts locked in one and written in two, our charges settled
    (`on_attempt_outcomes`), the renewals' orders linked (`link_renewal_orders`). The status of
    each row, in order.

    Each attempt is found as one row at a time would find it (by its id, else by its key
    within the contract), so deliveries of one attempt in the same run merge as they would
    one after the other. A row whose payload cannot be read, or whose contract has not
    arrived yet, is declined with that error (it waits, alone, for its retry).
    """
    outcomes: list[RunOutcome] = [InboxStatus.HANDLED] * len(rows)
    read: dict[int, AttemptFacts] = {}  # by position
    for position, row in enumerate(rows):
        try:
            read[position] = AttemptFacts.read(context_of(tx, runtime, shop, row))
        except MalformedPayload as exc:
            outcomes[position] = exc
    session = tx.session
    contracts = await _contracts_of(session, shop.id, list(read.values()))
    facts: list[AttemptFacts] = []
    for position, fact in read.items():
        if fact.contract_id in contracts:
            facts.append(fact)
        else:
            outcomes[position] = ContractNotYetKnown(fact.contract_id)
    if not facts:
        return outcomes
    attempts = _Attempts(await _attempts_locked(session, shop.id, contracts, facts))
    new: list[BillingAttempt] = []
    for fact in facts:
        contract = contracts[fact.contract_id]
        attempt = attempts.find(fact.attempt_id, contract.id, fact.key)
        if attempt is None:
            attempt = BillingAttempt(
                shop_id=shop.id,
                contract_pk=contract.id,
                attempt_key=fact.key,
                attempt_id=fact.attempt_id,
                idempotency_key=fact.idempotency_key,
                order_id=fact.order_id,
                **fact.outcome,
            )
            new.append(attempt)
        else:
            _merge(attempt, fact.outcome, fact.attempt_id, fact.idempotency_key, fact.order_id)
        attempts.add(attempt)
    await _insert_attempts(session, new)
    await write_changed(session, attempts.loaded, _ATTEMPT_COLUMNS)
    ended = {
        contract.id: contract
        for fact in facts
        if (contract := contracts[fact.contract_id]).status in ContractStatus.ENDED
    }
    for contract in ended.values():
        # Processed after the contract's end: the end's system reason may depend on it.
        await hooks.on_billing_attempt_of_ended_contract(session, shop, contract)
    # Our own charges: settle the ledger and move dunning on (plugin.billing.dunning).
    await on_attempt_outcomes(
        tx,
        shop,
        [
            AttemptOutcome(
                fact.idempotency_key,
                fact.status,
                fact.outcome["error_code"],
                fact.outcome["occurred_at"],
            )
            for fact in facts
            if fact.idempotency_key is not None
        ],
    )
    # The renewals' orders: created now if orders/create has not come yet.
    await link_renewal_orders(
        session,
        shop,
        [
            Renewal(fact.order_id, fact.outcome["occurred_at"], contracts[fact.contract_id])
            for fact in facts
            if fact.status == BillingAttemptStatus.SUCCESS and fact.order_id is not None
        ],
    )
    return outcomes


async def _contracts_of(
    session: AsyncSession, shop_id: int, facts: list[AttemptFacts]
) -> dict[int, Contract]:
    """The attempts' contracts we know, by Shopify id."""
    wanted = {fact.contract_id for fact in facts}
    if not wanted:
        return {}
    return {
        contract.contract_id: contract
        for contract in await session.scalars(
            select(Contract).where(Contract.shop_id == shop_id, Contract.contract_id.in_(wanted))
        )
    }


async def _attempts_locked(
    session: AsyncSession, shop_id: int, contracts: dict[int, Contract], facts: list[AttemptFacts]
) -> list[BillingAttempt]:
    """The stored attempts any of the rows could be: by id in the shop, or by key within the
    contract, locked."""
    ids = {fact.attempt_id for fact in facts if fact.attempt_id is not None}
    keys = {fact.key for fact in facts}
    contract_pks = {contract.id for contract in contracts.values()}
    by_key = and_(
        BillingAttempt.contract_pk.in_(contract_pks), BillingAttempt.attempt_key.in_(keys)
    )
    matches = or_(BillingAttempt.attempt_id.in_(ids), by_key) if ids else by_key
    found = await session.scalars(
        lock(
            select(BillingAttempt)
            .where(BillingAttempt.shop_id == shop_id, matches)
            .order_by(BillingAttempt.id)
        )
    )
    return list(found)


class _Attempts:
    """The run's attempts (stored, or new in this run) by id and by key, as they stand after
    the rows applied so far."""

    def __init__(self, loaded: list[BillingAttempt]) -> None:
        self.loaded = loaded
        self._by_id: dict[int, BillingAttempt] = {}
        self._by_key: dict[tuple[int, str], BillingAttempt] = {}
        for attempt in loaded:
            self.add(attempt)

    def find(self, attempt_id: int | None, contract_pk: int, key: str) -> BillingAttempt | None:
        # By its id first: a delivery that carried no idempotency key may have come first.
        found = self._by_id.get(attempt_id) if attempt_id is not None else None
        return found if found is not None else self._by_key.get((contract_pk, key))

    def add(self, attempt: BillingAttempt) -> None:
        """Index the attempt as it now stands (a merge may have given it its id or key)."""
        if attempt.attempt_id is not None:
            self._by_id[attempt.attempt_id] = attempt
        self._by_key[(attempt.contract_pk, attempt.attempt_key)] = attempt


async def _insert_attempts(session: AsyncSession, new: list[BillingAttempt]) -> None:
    """The run's new attempts in one statement. One another transaction stored meanwhile
    (the inbox drains a shop in one place, but an operator may replay a row) takes this run's
    delivery as a later one."""
    rows = [{name: getattr(attempt, name) for name in _INSERT_COLUMNS} for attempt in new]
    created = await insert_all_if_absent(
        session, BillingAttempt, rows, ("contract_pk", "attempt_key")
    )
    for attempt in new:
        if attempt.attempt_key in created:
            continue
        stored = await fetch_locked_one(
            session,
            _ATTEMPT_BY_KEY,
            {"contract_pk": attempt.contract_pk, "attempt_key": attempt.attempt_key},
        )
        outcome = {name: getattr(attempt, name) for name in _OUTCOME_COLUMNS}
        _merge(stored, outcome, attempt.attempt_id, attempt.idempotency_key, attempt.order_id)
        await write_changed(session, [stored], _ATTEMPT_COLUMNS)


def _merge(
    attempt: BillingAttempt,
    outcome: dict[str, Any],
    attempt_id: int | None,
    idempotency_key: str | None,
    order_id: int | None,
) -> None:
    """Another delivery of a known attempt: fill in what the first lacked, and take its
    outcome if it ranks higher (an outcome over a challenge; between outcomes, the later)."""
    if attempt.attempt_id is None and attempt_id is not None:
        attempt.attempt_id = attempt_id
    if attempt.idempotency_key is None and idempotency_key is not None:
        # Known by its id until now: from here on the key finds it too.
        attempt.idempotency_key = idempotency_key
        attempt.attempt_key = attempt_key(idempotency_key, None, None)
    if attempt.order_id is None and order_id is not None:
        attempt.order_id = order_id
    if (_OUTCOME_RANK[outcome["status"]], outcome["occurred_at"]) > (
        _OUTCOME_RANK[attempt.status],
        attempt.occurred_at,
    ):
        for name, value in outcome.items():
            setattr(attempt, name, value)


async def handle_billing_cycle(ctx: EventContext) -> str:
    """subscription_billing_cycles/skip and /unskip: one cycle of a contract.

    The payload is the cycle after the change (index, dates, `skipped`, `edited`); it does not
    say who made the change, so the change's source stays unknown.
    """
    payload = ctx.payload
    cycle_index = positive_int(payload.get("cycle_index"), "cycle_index")
    if cycle_index is None:
        raise MalformedPayload("billing cycle event has no cycle_index")
    skipped = _flag(payload, "skipped")
    # The cycle's own flag says what the change left; the topic when the flag is absent.
    kind = CYCLE_TOPIC_KIND[ctx.topic] if skipped is None else ("skip" if skipped else "unskip")
    contract = await _contract_of(ctx)
    await insert_if_absent(
        ctx.session,
        BillingCycleEvent,
        {
            "shop_id": ctx.shop_id,
            "contract_pk": contract.id,
            "cycle_index": cycle_index,
            "kind": kind,
            "occurred_at": ctx.occurred_at,
            "cycle_start_at": timestamp(payload.get("cycle_start_at")),
            "cycle_end_at": timestamp(payload.get("cycle_end_at")),
            "billing_attempt_expected_at": timestamp(payload.get("billing_attempt_expected_date")),
            "skipped": skipped,
            "edited": _flag(payload, "edited"),
        },
        ("contract_pk", "cycle_index", "kind", "occurred_at"),
    )
    # The payload does not say who skipped: the change's source stays unknown unless our own
    # record of the same change (self-service) came first.
    await record_change(
        ctx.session, shop_id=ctx.shop_id, contract_pk=contract.id, kind=kind, at=ctx.occurred_at
    )
    return InboxStatus.HANDLED


def _flag(payload: dict[str, Any], key: str) -> bool | None:
    value = payload.get(key)
    if value is None:
        return None
    if not isinstance(value, bool):
        raise MalformedPayload(f"{key} must be true or false")
    return value
