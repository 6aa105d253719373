"""Charging one cycle of one contract, exactly once per (contract, cycle, try).

The idempotency key is derived, never random: `valuehealth-<contract id>-<cycle index>-<try>`
(try 0 is the scheduled charge, try n the n-th dunning retry). Whoever computes it (today's
run, a rerun, a second worker, the run after a crash) gets the same key, and

1. claims it in our ledger (`billing_charges`, unique per shop and key) in its own committed
   transaction before Shopify is asked: a key already settled (submitted, paid, failed,
   failed) is never sent again;
2. sends it to Shopify with `subscriptionBillingAttemptCreate` while it is only `claimed` (a
   crash or a lost answer after the claim, or another worker right now, send it again) or
   refused (Shopify may accept it on a later day: a contract under review, for example), and
   Shopify answers a known key with the attempt it already made rather than charging twice;
3. records the answer (attempt id, or Shopify's refusal) in a second small transaction.

A charge cannot be rolled back, so this is the one place that commits around an external
call instead of holding one transaction over it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date

from sqlalchemy import select

from plugin.db.transaction import transaction
from plugin.domain.rows import insert_if_absent
from plugin.models import BillingCharge, Contract
from plugin.models.billing import ChargeStatus
from plugin.runtime import Runtime
from plugin.shopify.billing import create_attempt
from plugin.shopify.graphql import AdminGraphQL
from plugin.shopify.mutations import UserErrors

log = logging.getLogger(__name__)


def idempotency_key(contract_id: int, cycle_index: int, try_number: int) -> str:
    return f"valuehealth-{contract_id}-{cycle_index}-{try_number}"


def contract_gid(contract: Contract) -> str:
    return f"gid://shopify/SubscriptionContract/{contract.contract_id}"


@dataclass(frozen=True)
class ChargeOutcome:
    status: str  # submitted | rejected | already (settled before this call)
    message: str | None = None
    code: str | None = None


async def charge_cycle(
    runtime: Runtime,
    client: AdminGraphQL,
    contract: Contract,
    cycle_index: int,
    cycle_date: date,
    try_number: int,
    billed_on: date,
) -> ChargeOutcome:
    key = idempotency_key(contract.contract_id, cycle_index, try_number)
    async with transaction(runtime.sessionmaker, None) as tx:
        await insert_if_absent(
            tx.session,
            BillingCharge,
            {
                "shop_id": contract.shop_id,
                "contract_pk": contract.id,
                "cycle_index": cycle_index,
                "cycle_date": cycle_date,
                "try_number": try_number,
                "idempotency_key": key,
                "billed_on": billed_on,
                "status": ChargeStatus.CLAIMED,
                "amount": contract.recurring_amount,
                "currency": contract.currency,
            },
            ("shop_id", "idempotency_key"),
        )
        status = await tx.session.scalar(
            select(BillingCharge.status).where(
                BillingCharge.shop_id == contract.shop_id, BillingCharge.idempotency_key == key
            )
        )
    if status not in ChargeStatus.SENDABLE:
        # Shopify has the attempt: its outcome comes by webhook.
        return ChargeOutcome("already")
    try:
        attempt_gid = await create_attempt(client, contract_gid(contract), cycle_index, key)
    except UserErrors as exc:
        first = exc.errors[0] if exc.errors else None
        await _settle(runtime, contract.shop_id, key, ChargeStatus.REJECTED, None, exc, first)
        log.info(
            "shop %s: Shopify refused to charge contract %s cycle %s: %s",
            contract.shop_id,
            contract.contract_id,
            cycle_index,
            exc,
        )
        return ChargeOutcome("rejected", str(exc), first.code if first else None)
    await _settle(runtime, contract.shop_id, key, ChargeStatus.SUBMITTED, attempt_gid, None, None)
    return ChargeOutcome("submitted")


async def _settle(
    runtime: Runtime,
    shop_id: int,
    key: str,
    status: str,
    attempt_gid: str | None,
    error: Exception | None,
    first: object | None,
) -> None:
    async with transaction(runtime.sessionmaker, None) as tx:
        charge = await tx.session.scalar(
            select(BillingCharge)
            .where(BillingCharge.shop_id == shop_id, BillingCharge.idempotency_key == key)
            .with_for_update()
        )
        # The webhook may have settled it already (it can beat our own answer here).
        if charge is None or charge.status not in ChargeStatus.SENDABLE:
            return
        charge.status = status
        charge.attempt_gid = attempt_gid
        charge.error_code = getattr(first, "code", None) if error is not None else None
        charge.error_message = str(error)[:1000] if error is not None else None
