"""Billing attempts (renewals and their failures) and billing cycle skips."""

from __future__ import annotations

from typing import Any

from sqlalchemy import bindparam, select

from plugin.domain.changes import record_change
from plugin.domain.context import EventContext
from plugin.domain.errors import ContractNotYetKnown, MalformedPayload
from plugin.domain.orders import OrderState, link_order, notify_surveys, order_row
from plugin.domain.payloads import first_id, positive_int, require_id, text
from plugin.domain.rows import fetch_locked_one, insert_if_absent, lock
from plugin.models import (
    BillingAttempt,
    BillingAttemptStatus,
    BillingCycleEvent,
    Contract,
    InboxStatus,
)

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
_OUTCOME_RANK = {
    BillingAttemptStatus.CHALLENGED: 0,
    BillingAttemptStatus.FAILURE: 1,
    BillingAttemptStatus.SUCCESS: 1,
}
CHANGE_SOURCES = frozenset({"subscriber", "merchant"})


_CONTRACT = select(Contract).where(
    Contract.shop_id == bindparam("shop_id"), Contract.contract_id == bindparam("contract_id")
)
_ATTEMPT = lock(
    select(BillingAttempt).where(
        BillingAttempt.shop_id == bindparam("shop_id"),
        BillingAttempt.attempt_id == bindparam("attempt_id"),
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


async def handle_billing_attempt(ctx: EventContext) -> str:
    payload = ctx.payload
    status = ATTEMPT_TOPIC_STATUS[ctx.topic]
    attempt_id = require_id(payload, "id", "admin_graphql_api_id")
    contract = await _contract_of(ctx)
    order_id = first_id(payload, "order_id", "admin_graphql_api_order_id")
    outcome: dict[str, Any] = {
        "status": status,
        "error_code": text(payload.get("error_code"), 64),
        "error_message": text(payload.get("error_message"), 2000),
        "order_id": order_id,
        "occurred_at": ctx.occurred_at,
    }
    created = await insert_if_absent(
        ctx.session,
        BillingAttempt,
        {
            "shop_id": ctx.shop_id,
            "attempt_id": attempt_id,
            "contract_pk": contract.id,
            "idempotency_key": text(payload.get("idempotency_key"), 255),
            **outcome,
        },
        ("shop_id", "attempt_id"),
    )
    if not created:
        attempt = await fetch_locked_one(
            ctx.session, _ATTEMPT, {"shop_id": ctx.shop_id, "attempt_id": attempt_id}
        )
        if (_OUTCOME_RANK[status], ctx.occurred_at) > (
            _OUTCOME_RANK[attempt.status],
            attempt.occurred_at,
        ):
            for key, value in outcome.items():
                setattr(attempt, key, value)
    if status == BillingAttemptStatus.SUCCESS and order_id is not None:
        # The renewal's order: create it now if orders/create has not come yet.
        order = await order_row(ctx.session, ctx.shop_id, order_id, ctx.occurred_at)
        before = OrderState.of(order)
        await link_order(ctx.session, order, contract)
        await notify_surveys(ctx, order, before)
    return InboxStatus.HANDLED


async def handle_billing_cycle(ctx: EventContext) -> str:
    """subscription_billing_cycles/skip and /unskip: one cycle of a contract."""
    payload = ctx.payload
    kind = CYCLE_TOPIC_KIND[ctx.topic]
    cycle_index = positive_int(payload.get("cycle_index"), "cycle_index")
    if cycle_index is None:
        raise MalformedPayload("billing cycle event has no cycle_index")
    contract = await _contract_of(ctx)
    source = payload.get("source")
    await insert_if_absent(
        ctx.session,
        BillingCycleEvent,
        {
            "shop_id": ctx.shop_id,
            "contract_pk": contract.id,
            "cycle_index": cycle_index,
            "kind": kind,
            "occurred_at": ctx.occurred_at,
        },
        ("contract_pk", "cycle_index", "kind", "occurred_at"),
    )
    await record_change(
        ctx.session,
        shop_id=ctx.shop_id,
        contract_pk=contract.id,
        kind=kind,
        at=ctx.occurred_at,
        source=source if source in CHANGE_SOURCES else "unknown",
    )
    return InboxStatus.HANDLED
