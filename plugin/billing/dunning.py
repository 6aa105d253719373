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
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from plugin.billing.settings import BillingSettings, billing_settings
from plugin.domain.rows import insert_if_absent
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


async def on_attempt_outcome(
    session: AsyncSession,
    shop: Shop,
    idempotency_key: str | None,
    status: str,
    error_code: str | None,
    at: datetime,
) -> DunningCase | None:
    """Apply a success or failure webhook to the charge with this key (if it is ours).

    Returns the dunning case a failure opened or moved on (what a notice to the customer or a
    Flow trigger would report), else None.
    """
    if not idempotency_key or status not in (ChargeStatus.SUCCESS, ChargeStatus.FAILURE):
        return None
    charge = await session.scalar(
        select(BillingCharge)
        .where(BillingCharge.shop_id == shop.id, BillingCharge.idempotency_key == idempotency_key)
        .with_for_update()
    )
    if charge is None or charge.status not in ChargeStatus.OPEN:
        return None
    charge.status = status
    charge.error_code = error_code if status == ChargeStatus.FAILURE else None
    case = await _case(session, charge)
    if status == ChargeStatus.SUCCESS:
        if case is not None and case.status == DunningStatus.OPEN:
            case.status = DunningStatus.RECOVERED
            case.next_retry_on = None
            case.closed_at = at
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
    return case


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
