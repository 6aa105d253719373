"""Billing attempts (renewals and their failures) and billing cycle skips."""

from __future__ import annotations

from typing import Any

from sqlalchemy import bindparam, select

from plugin.billing.dunning import on_attempt_outcome
from plugin.domain.changes import record_change
from plugin.domain.context import EventContext
from plugin.domain.errors import ContractNotYetKnown, MalformedPayload
from plugin.domain.orders import OrderState, link_order, notify_surveys, order_row
from plugin.domain.payloads import first_id, positive_int, require_id, text, timestamp
from plugin.domain.rows import fetch_locked, fetch_locked_one, insert_if_absent, lock
from plugin.models import (
    BillingAttempt,
    BillingAttemptStatus,
    BillingCycleEvent,
    Contract,
    ContractStatus,
    InboxStatus,
)
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


_CONTRACT = select(Contract).where(
    Contract.shop_id == bindparam("shop_id"), Contract.contract_id == bindparam("contract_id")
)
_ATTEMPT_BY_ID = lock(
    select(BillingAttempt).where(
        BillingAttempt.shop_id == bindparam("shop_id"),
        BillingAttempt.attempt_id == bindparam("attempt_id"),
    )
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


async def handle_billing_attempt(ctx: EventContext) -> str:
    payload = ctx.payload
    status = ATTEMPT_TOPIC_STATUS[ctx.topic]
    attempt_id = first_id(payload, "id", "admin_graphql_api_id")
    idempotency_key = text(payload.get("idempotency_key"), 255)
    order_id = first_id(payload, "order_id", "admin_graphql_api_order_id")
    key = attempt_key(idempotency_key, attempt_id, order_id)
    contract = await _contract_of(ctx)
    outcome: dict[str, Any] = {
        "status": status,
        "error_code": error_code(payload.get("error_code")),
        "error_message": text(payload.get("error_message"), 2000),
        "occurred_at": ctx.occurred_at,
    }
    attempt = None
    if attempt_id is not None:
        # Known by its id already (a delivery that carried no idempotency key came first).
        attempt = await fetch_locked(
            ctx.session, _ATTEMPT_BY_ID, {"shop_id": ctx.shop_id, "attempt_id": attempt_id}
        )
    if attempt is None:
        created = await insert_if_absent(
            ctx.session,
            BillingAttempt,
            {
                "shop_id": ctx.shop_id,
                "contract_pk": contract.id,
                "attempt_key": key,
                "attempt_id": attempt_id,
                "idempotency_key": idempotency_key,
                "order_id": order_id,
                **outcome,
            },
            ("contract_pk", "attempt_key"),
        )
        if not created:
            attempt = await fetch_locked_one(
                ctx.session, _ATTEMPT_BY_KEY, {"contract_pk": contract.id, "attempt_key": key}
            )
    if attempt is not None:
        _merge(attempt, outcome, attempt_id, idempotency_key, order_id)
    if contract.status in ContractStatus.ENDED:
        # Processed after the contract's end: the end's system reason may depend on it.
        await hooks.on_billing_attempt_of_ended_contract(ctx.session, ctx.shop, contract)
    # Our own charges: settle the ledger and move dunning on (plugin.billing.dunning).
    await on_attempt_outcome(
        ctx.tx, ctx.shop, idempotency_key, status, outcome["error_code"], ctx.occurred_at
    )
    if status == BillingAttemptStatus.SUCCESS and order_id is not None:
        # The renewal's order: create it now if orders/create has not come yet.
        order = await order_row(ctx.session, ctx.shop_id, order_id, ctx.occurred_at)
        before = OrderState.of(order)
        await link_order(ctx.session, order, contract)
        await notify_surveys(ctx, order, before)
    return InboxStatus.HANDLED


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
