"""Dunning: what a billing attempt's outcome does to our charge ledger and to failed cycles.

Called by the `subscription_billing_attempts/*` handler in the event's transaction, keyed on
the attempt's idempotency key (attempts we did not make are not ours to chase).

- A failure of a cycle opens its `DunningCase` (or moves it on) and dates the next retry:
  retry k falls `retry_days[k-1]` days after the cycle's billing day. After the last retry's
  failure the case is due for the merchant's final action, which the next billing run takes.
- A failure that no retry can fix until the customer changes their card (expired or invalid
  payment method, …) marks the case: the billing run skips its retries while the mark is on;
  `customer_payment_methods/update` of that customer clears it and brings the next retry to
  the next run.
- A success of a retry recovers the case: its amount counts as recovered revenue in the month
  (shop time) the payment came in.

Outcomes are applied once per charge (a redelivered webhook finds the charge settled), and a
late challenge never overrides an outcome.

Each failed charge records the "Subscription payment failed" Flow trigger and each case's end
the "Subscription dunning ended" trigger (plugin.flow.events), in the same transaction and
keyed on the charge and the case, so each fires once whatever is redelivered or rerun.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from plugin.billing.settings import BillingSettings, billing_settings
from plugin.db.transaction import Tx
from plugin.domain.rows import insert_if_absent
from plugin.flow import events as flow_events
from plugin.models import BillingCharge, Contract, DunningCase, Shop, Subscriber
from plugin.models.billing import ChargeStatus, DunningStatus
from plugin.scoring.localtime import shop_zone

# Failures only the customer can fix (a new or updated payment method): retrying the same
# card on schedule would fail again and count against the shop with the payment provider.
NEEDS_NEW_PAYMENT_METHOD = frozenset(
    {
        "expired_payment_method",
        "expired_card",
        "invalid_payment_method",
        "invalid_expiry_date",
        "invalid_number",
        "incorrect_number",
        "card_number_incorrect",
        "payment_method_not_found",
        "payment_method_not_specified",
        "payment_method_unsupported",
        "buyer_canceled_payment_method",
        "invalid_customer_billing_agreement",
    }
)


def needs_new_payment_method(error_code: str | None) -> bool:
    return (error_code or "").lower() in NEEDS_NEW_PAYMENT_METHOD


def retry_day(case: DunningCase, settings: BillingSettings) -> date | None:
    """The day of the case's next retry; None when no retry is left."""
    if case.retries_used >= len(settings.retry_days):
        return None
    return case.cycle_date + timedelta(days=settings.retry_days[case.retries_used])


def local_day(shop: Shop, at: datetime) -> date:
    return at.astimezone(shop_zone(shop.timezone)).date()


@dataclass(frozen=True)
class AttemptOutcome:
    """What a billing attempt webhook says, for the charge with its idempotency key."""

    idempotency_key: str
    status: str
    error_code: str | None
    at: datetime


async def on_attempt_outcomes(tx: Tx, shop: Shop, outcomes: Sequence[AttemptOutcome]) -> None:
    """Apply success and failure webhooks, in event order, to the charges with their keys (those
    that are ours), read and locked in one statement."""
    settled = [o for o in outcomes if o.status in (ChargeStatus.SUCCESS, ChargeStatus.FAILURE)]
    if not settled:
        return
    charges = {
        charge.idempotency_key: charge
        for charge in await tx.session.scalars(
            select(BillingCharge)
            .where(
                BillingCharge.shop_id == shop.id,
                BillingCharge.idempotency_key.in_({o.idempotency_key for o in settled}),
            )
            .order_by(BillingCharge.id)
            .with_for_update()
        )
    }
    for outcome in settled:
        charge = charges.get(outcome.idempotency_key)
        if charge is not None:
            await _settle(tx, shop, charge, outcome.status, outcome.error_code, outcome.at)


async def _settle(
    tx: Tx, shop: Shop, charge: BillingCharge, status: str, error_code: str | None, at: datetime
) -> DunningCase | None:
    """One outcome of this charge. Returns the dunning case a failure opened or moved on."""
    session = tx.session
    if charge.status not in ChargeStatus.OPEN:
        return None
    charge.status = status
    charge.error_code = error_code if status == ChargeStatus.FAILURE else None
    case = await _case(session, charge)
    if status == ChargeStatus.SUCCESS:
        if case is not None and case.status == DunningStatus.OPEN:
            case.status = DunningStatus.RECOVERED
            case.next_retry_on = None
            case.closed_at = at
            await notify_end(tx, case, DunningStatus.RECOVERED)
        return None
    if case is None:
        await insert_if_absent(
            session,
            DunningCase,
            {
                "shop_id": shop.id,
                "contract_pk": charge.contract_pk,
                "cycle_index": charge.cycle_index,
                "cycle_date": charge.cycle_date,
                "status": DunningStatus.OPEN,
                "failures": 0,
                "retries_used": 0,
                "needs_payment_update": False,
                "amount": charge.amount,
                "currency": charge.currency,
                "opened_at": at,
            },
            ("contract_pk", "cycle_index"),
        )
        case = await _case(session, charge)
        assert case is not None
    if case.status != DunningStatus.OPEN:
        return None
    case.failures += 1
    # This outcome may beat the billing run's own note that the retry was sent.
    case.retries_used = max(case.retries_used, charge.try_number)
    case.last_error_code = error_code
    case.needs_payment_update = needs_new_payment_method(error_code)
    settings = billing_settings(shop)
    # Never before tomorrow's run: a retry the same day as the failure rarely succeeds.
    next_day = retry_day(case, settings)
    case.next_retry_on = max(next_day, local_day(shop, at)) if next_day else local_day(shop, at)
    await _notify_failure(tx, shop, case, charge, settings, local_day(shop, at))
    return case


def retries_left(case: DunningCase, settings: BillingSettings) -> int:
    return max(len(settings.retry_days) - case.retries_used, 0)


async def _customer_and_contract(session: AsyncSession, case: DunningCase) -> tuple[int, int]:
    row = (
        await session.execute(
            select(Subscriber.customer_id, Contract.contract_id)
            .join(Contract, Contract.subscriber_id == Subscriber.id)
            .where(Contract.shop_id == case.shop_id, Contract.id == case.contract_pk)
        )
    ).one()
    return int(row[0]), int(row[1])


async def _notify_failure(
    tx: Tx,
    shop: Shop,
    case: DunningCase,
    charge: BillingCharge,
    settings: BillingSettings,
    failed_on: date,
) -> None:
    customer_id, contract_id = await _customer_and_contract(tx.session, case)
    left = retries_left(case, settings)
    # No date to promise when only a new card can help or no retry is left.
    planned = left > 0 and not case.needs_payment_update
    await flow_events.payment_failed(
        tx,
        shop_id=shop.id,
        charge_id=charge.id,
        customer_id=customer_id,
        contract_id=contract_id,
        amount=charge.amount,
        currency=charge.currency,
        error_code=charge.error_code,
        failed_on=failed_on,
        next_retry_on=case.next_retry_on if planned else None,
        retries_left=left,
        needs_new_payment_method=case.needs_payment_update,
        final_action=settings.final_action,
    )


async def notify_end(tx: Tx, case: DunningCase, outcome: str) -> None:
    """The case has ended (`outcome`: recovered, pause, cancel or closed): its Flow trigger."""
    customer_id, contract_id = await _customer_and_contract(tx.session, case)
    await flow_events.dunning_ended(
        tx,
        shop_id=case.shop_id,
        case_id=case.id,
        customer_id=customer_id,
        contract_id=contract_id,
        outcome=END_OUTCOME.get(outcome, outcome),
        amount=case.amount,
        currency=case.currency,
        failures=case.failures,
    )


# How the merchant's Flow sees each end: the final action's past tense, else the status.
END_OUTCOME = {"pause": "paused", "cancel": "cancelled"}


async def _case(session: AsyncSession, charge: BillingCharge) -> DunningCase | None:
    return await session.scalar(
        select(DunningCase)
        .where(
            DunningCase.contract_pk == charge.contract_pk,
            DunningCase.cycle_index == charge.cycle_index,
        )
        .with_for_update()
        .execution_options(populate_existing=True)
    )


async def on_payment_method_updated(
    session: AsyncSession, shop: Shop, customer_id: int, at: datetime
) -> int:
    """The customer has a new or updated payment method: their blocked cases retry at the
    next run (if a retry is left). Returns how many cases were unblocked."""
    contract_pks = (
        select(Contract.id)
        .join(Subscriber, Subscriber.id == Contract.subscriber_id)
        .where(Contract.shop_id == shop.id, Subscriber.customer_id == customer_id)
    )
    result = await session.execute(
        update(DunningCase)
        .where(
            DunningCase.shop_id == shop.id,
            DunningCase.status == DunningStatus.OPEN,
            DunningCase.needs_payment_update.is_(True),
            DunningCase.contract_pk.in_(contract_pks),
        )
        .values(needs_payment_update=False, next_retry_on=local_day(shop, at))
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)
