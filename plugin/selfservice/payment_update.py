"""A failed payment, as the subscriber sees it on their subscription page, and the secure
card-update email they can ask Shopify to send.

The notice reads the contract's open dunning case (plugin.billing.dunning): when the payment
failed (the shop day of the last failed charge), why in plain words, and the next retry's day
(none when only a new card can help or no retry is left). The email is Shopify's own
(`customerPaymentMethodSendUpdateEmail`): the link never passes through us. It is offered only
while a case is open, and rate-limited per contract (a resend after `RESEND_AFTER`, at most
`MAX_PER_DAY` a day) so the button cannot be used to flood a customer's inbox.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from plugin.billing.dunning import retries_left
from plugin.billing.settings import billing_settings
from plugin.models import BillingCharge, Contract, DunningCase, Shop, Subscriber
from plugin.models.billing import ChargeStatus, DunningStatus
from plugin.models.self_service import SelfServiceAction
from plugin.queue import TransientError
from plugin.selfservice.service import (
    UNAVAILABLE,
    SelfServiceRefused,
    SubscriptionView,
    contract_gid,
    perform,
    record_action,
)
from plugin.shopify.contract_edits import ContractEditor, ContractEditRefused
from plugin.shopify.errors import ShopifyError

PAYMENT_UPDATE = "payment_update_email"
RESEND_AFTER = timedelta(minutes=10)
MAX_PER_DAY = 3
SENT = (
    "We've sent a secure link to update your card to the email address of your account. "
    "It comes from the store; the link is valid for a limited time."
)

# Shopify's error codes (lower case, as plugin.domain.billing stores them) in plain words.
_REASONS: dict[str, str] = {
    "insufficient_funds": "there were not enough funds on the card",
    "expired_payment_method": "your card has expired",
    "expired_card": "your card has expired",
    "invalid_expiry_date": "your card has expired",
    "payment_method_declined": "your bank declined it",
    "card_declined": "your bank declined it",
    "generic_decline": "your bank declined it",
    "authentication_error": "your bank asked for a verification that could not be completed",
    "authentication_required": "your bank asked for a verification that could not be completed",
    "invalid_payment_method": "the card details are no longer valid",
    "invalid_number": "the card details are no longer valid",
    "incorrect_number": "the card details are no longer valid",
    "card_number_incorrect": "the card details are no longer valid",
    "payment_method_not_found": "there is no card saved for this subscription",
    "payment_method_not_specified": "there is no card saved for this subscription",
    "payment_method_unsupported": "this card cannot be used for subscriptions",
    "buyer_canceled_payment_method": "the card was removed from your account",
    "invalid_customer_billing_agreement": "the card was removed from your account",
    "payment_provider_is_not_enabled": "of a problem at the payment provider",
    "transient_error": "of a temporary problem at the payment provider",
    "unexpected_error": "of a temporary problem at the payment provider",
}
_DECLINED = "the payment was declined"
_FINAL = {"pause": "paused", "cancel": "cancelled"}


def plain_reason(error_code: str | None) -> str:
    return _REASONS.get((error_code or "").lower(), _DECLINED)


@dataclass(frozen=True)
class PaymentNotice:
    failed_on: date
    reason: str
    next_retry_on: date | None  # None: no retry is planned (see `needs_new_card`)
    needs_new_card: bool
    final_action: str  # pause | cancel, after the last failure

    @property
    def headline(self) -> str:
        return f"Your payment on {self.failed_on.isoformat()} didn't go through ({self.reason})."

    @property
    def next_step(self) -> str:
        if self.needs_new_card:
            return "We can't try again until your card is updated."
        if self.next_retry_on is not None:
            return f"We'll try again on {self.next_retry_on.isoformat()}."
        return (
            "That was our last try: unless your card is updated, your subscription will be "
            f"{_FINAL.get(self.final_action, self.final_action)}."
        )

    def as_json(self) -> dict[str, Any]:
        return {
            "failed_on": self.failed_on.isoformat(),
            "reason": self.reason,
            "next_retry_on": None if self.next_retry_on is None else self.next_retry_on.isoformat(),
            "needs_new_card": self.needs_new_card,
            "final_action": self.final_action,
            "message": f"{self.headline} {self.next_step}",
        }


async def _open_case(session: AsyncSession, shop_id: int, contract_pk: int) -> DunningCase | None:
    case: DunningCase | None = await session.scalar(
        select(DunningCase)
        .where(
            DunningCase.shop_id == shop_id,
            DunningCase.contract_pk == contract_pk,
            DunningCase.status == DunningStatus.OPEN,
        )
        .order_by(DunningCase.cycle_index.desc())
        .limit(1)
    )
    return case


async def payment_notice(
    session: AsyncSession, shop: Shop, contract: Contract
) -> PaymentNotice | None:
    """The contract's payment problem, if a dunning case is open for it."""
    case = await _open_case(session, shop.id, contract.id)
    if case is None or case.failures == 0:
        return None
    failed_on = await session.scalar(
        select(func.max(BillingCharge.billed_on)).where(
            BillingCharge.shop_id == shop.id,
            BillingCharge.contract_pk == contract.id,
            BillingCharge.cycle_index == case.cycle_index,
            BillingCharge.status == ChargeStatus.FAILURE,
        )
    )
    settings = billing_settings(shop)
    planned = retries_left(case, settings) > 0 and not case.needs_payment_update
    return PaymentNotice(
        failed_on=failed_on or case.cycle_date,
        reason=plain_reason(case.last_error_code),
        next_retry_on=case.next_retry_on if planned else None,
        needs_new_card=case.needs_payment_update,
        final_action=settings.final_action,
    )


async def send_update_email(
    session: AsyncSession,
    editor: ContractEditor,
    *,
    shop: Shop,
    contract: Contract,
    subscriber: Subscriber,
    channel: str,
    now: datetime,
) -> str:
    """Ask Shopify to email the subscriber a secure link to update the contract's card; returns
    the confirmation. SelfServiceRefused when no payment problem is open, when asked again too
    soon, or when Shopify refused or could not be reached (the refusal is recorded)."""
    # The contract row locked: two clicks at once send one email, the other is rate-limited.
    await session.scalar(
        select(Contract.id)
        .where(Contract.shop_id == shop.id, Contract.id == contract.id)
        .with_for_update()
    )
    if await _open_case(session, shop.id, contract.id) is None:
        raise SelfServiceRefused(
            "Your payments for this subscription are up to date: there is nothing to update.",
            code="invalid",
        )
    sent = list(
        await session.scalars(
            select(SelfServiceAction.occurred_at).where(
                SelfServiceAction.shop_id == shop.id,
                SelfServiceAction.contract_pk == contract.id,
                SelfServiceAction.action == PAYMENT_UPDATE,
                SelfServiceAction.outcome == "done",
                SelfServiceAction.occurred_at > now - timedelta(days=1),
            )
        )
    )
    if len(sent) >= MAX_PER_DAY or any(at > now - RESEND_AFTER for at in sent):
        raise SelfServiceRefused(
            "We sent you a link a short while ago: please check your inbox (and spam folder) "
            "before asking again.",
            code="rate_limited",
        )
    customer_gid = f"gid://shopify/Customer/{subscriber.customer_id}"
    refused: ContractEditRefused | None = None
    try:
        await editor.send_payment_update_email(contract_gid(contract.contract_id), customer_gid)
    except ContractEditRefused as exc:
        refused = exc
    except (TransientError, ShopifyError) as exc:
        refused = ContractEditRefused(UNAVAILABLE, code="unavailable", detail=str(exc))
    await record_action(
        session, shop.id, contract, subscriber, PAYMENT_UPDATE, channel, now, {}, refused=refused
    )
    if refused is not None:
        message = refused.message
        if refused.code is None:  # Shopify's user error: say what it said, in our sentence
            message = f"We could not send the link: {refused.detail or 'unknown error'}."
        raise SelfServiceRefused(message, code=refused.code or "refused")
    return SENT


async def carry_out(
    session: AsyncSession,
    editor: ContractEditor,
    view: SubscriptionView,
    *,
    shop: Shop,
    contract: Contract,
    subscriber: Subscriber,
    action: str,
    values: dict[str, Any],
    channel: str,
    now: datetime,
) -> str:
    """One action of the subscription page (proxy or extension API): the card-update email,
    or a change of the contract (`plugin.selfservice.service.perform`)."""
    if action == PAYMENT_UPDATE:
        return await send_update_email(
            session,
            editor,
            shop=shop,
            contract=contract,
            subscriber=subscriber,
            channel=channel,
            now=now,
        )
    return await perform(
        session,
        editor,
        view,
        shop_id=shop.id,
        contract=contract,
        subscriber=subscriber,
        action=action,
        values=values,
        channel=channel,
        now=now,
    )
