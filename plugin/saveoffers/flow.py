"""The cancel flow: reason → (offer, unless held out or none configured) → accept or cancel.

Every step is a `CancelFlowStep`: the reason given, the offer shown (or held out, or none
configured), the offer accepted or refused by Shopify, the cancellation confirmed or refused.
The reason is also stored as the contract's cancel-reason answer (`plugin.surveys`), so the
reason mix and the cancel attempts of subscribers who stay keep working as before.

An accepted offer and a confirmed cancellation are carried out with
`plugin.shopify.contract_edits`; when Shopify refuses or cannot be reached the flow stays open,
the contract is unchanged and the subscriber reads why. Services never commit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from plugin.models import Contract, ContractStatus, Subscriber
from plugin.models.self_service import CancelFlow, CancelFlowStep
from plugin.queue import TransientError
from plugin.saveoffers.offers import describe, in_holdout, offer_settings
from plugin.selfservice.service import (
    MAX_ID,
    UNAVAILABLE,
    SelfServiceRefused,
    SubscriptionView,
    record_action,
)
from plugin.shopify.contract_edits import ContractEditor, ContractEditRefused
from plugin.shopify.gid import parse_gid
from plugin.surveys.answers import submit_cancel_reason
from plugin.surveys.errors import AnswerLocked

OPEN, ACCEPTED, CANCELLED = "open", "accepted", "cancelled"
# The self-service action an accepted offer is recorded as (the self-serve rate reads it).
OFFER_ACTION = {"skip": "skip", "cadence": "frequency", "pause": "delay", "discount": "discount"}
DISCOUNT_TITLE = "Thank you for staying"


@dataclass(frozen=True)
class Offer:
    kind: str
    params: dict[str, Any]
    text: str


def shown_offer(flow: CancelFlow) -> Offer | None:
    if not flow.offer_shown or not flow.offer:
        return None
    return Offer(flow.offer["kind"], flow.offer, describe(flow.offer))


def add_step(
    session: AsyncSession, flow: CancelFlow, step: str, now: datetime, **detail: Any
) -> None:
    session.add(
        CancelFlowStep(
            shop_id=flow.shop_id, flow_id=flow.id, step=step, detail=detail, occurred_at=now
        )
    )


async def start_flow(
    session: AsyncSession,
    *,
    shop_id: int,
    subscriber: Subscriber,
    contract: Contract,
    reason: Any,
    comment: Any,
    channel: str,
    now: datetime,
) -> CancelFlow:
    """Record the reason and decide what the subscriber is shown. Raises AnswerInvalid for an
    unknown reason or a missing comment, SelfServiceRefused for a subscription that has
    already ended (nothing stored either way)."""
    if contract.status in ContractStatus.ENDED:
        raise SelfServiceRefused("This subscription has already ended.", code="closed")
    try:
        answer = await submit_cancel_reason(
            session,
            shop_id=shop_id,
            subscriber_id=subscriber.id,
            contract_id=contract.contract_id,
            reason=reason,
            comment=comment,
            channel=channel,
            now=now,
        )
        code = str(answer.reason_code)
    except AnswerLocked:
        # An earlier answer is final; the reason was checked before the lock was found.
        code = str(reason).strip().lower()
    settings = await offer_settings(session, shop_id)
    offer = settings.offers.get(code)
    holdout = in_holdout(settings, subscriber.customer_id)
    flow = CancelFlow(
        shop_id=shop_id,
        contract_pk=contract.id,
        subscriber_id=subscriber.id,
        reason_code=code,
        channel=channel,
        holdout=holdout,
        offer=offer,
        offer_shown=offer is not None and not holdout,
        outcome=OPEN,
        started_at=now,
    )
    session.add(flow)
    await session.flush()
    add_step(session, flow, "reason_given", now, reason=code)
    if offer is None:
        add_step(session, flow, "no_offer", now)
    elif holdout:
        add_step(session, flow, "held_out", now, offer=offer)
    else:
        add_step(session, flow, "offer_shown", now, offer=offer)
    await session.flush()
    return flow


async def own_flow(
    session: AsyncSession, shop_id: int, subscriber: Subscriber | None, flow_id: int
) -> tuple[CancelFlow, Contract] | None:
    if subscriber is None or not 0 < flow_id <= MAX_ID:
        return None
    row = (
        await session.execute(
            select(CancelFlow, Contract)
            .join(Contract, Contract.id == CancelFlow.contract_pk)
            .where(
                CancelFlow.shop_id == shop_id,
                CancelFlow.id == flow_id,
                CancelFlow.subscriber_id == subscriber.id,
            )
        )
    ).first()
    return None if row is None else (row[0], row[1])


def _add_months(day: date, months: int) -> date:
    year, month = divmod(day.month - 1 + months, 12)
    return date(day.year + year, month + 1, min(day.day, 28))


async def _carry_out(
    editor: ContractEditor,
    view: SubscriptionView,
    offer: dict[str, Any],
    values: dict[str, Any],
    now: datetime,
) -> tuple[str, dict[str, Any], date | None]:
    kind = offer["kind"]
    gid = view.live.gid
    if kind == "skip":
        if view.next_delivery is None:
            raise SelfServiceRefused("There is no upcoming delivery to skip.")
        day = view.next_delivery.expected_at.date()
        await editor.skip_cycle(gid, view.next_delivery.index)
        return (
            f"Your delivery of {day.isoformat()} is skipped.",
            {"cycle": view.next_delivery.index},
            None,
        )
    if kind == "cadence":
        raw = str(values.get("plan_id") or "").strip()
        choice = next(
            (
                c
                for c in view.choices
                if raw.isdigit() and parse_gid(c.selling_plan_gid, "SellingPlan") == int(raw)
            ),
            None,
        )
        if choice is None or choice.selling_plan_gid == view.current_plan:
            raise SelfServiceRefused(
                "Choose one of the other frequencies offered.", code="invalid", field="plan_id"
            )
        await editor.change_plan(view.live, choice)
        return f"Your subscription now comes {choice.name.lower()}.", {"plan": choice.name}, None
    if kind == "pause":
        start = view.next_delivery.expected_at.date() if view.next_delivery else now.date()
        resume = _add_months(start, int(offer["months"]))
        await editor.set_next_billing_date(gid, resume)
        return (
            f"Your subscription is paused: your next delivery is on {resume.isoformat()}.",
            {"resume_on": resume.isoformat()},
            resume,
        )
    await editor.add_discount(
        gid, percentage=int(offer["percentage"]), orders=int(offer["orders"]), title=DISCOUNT_TITLE
    )
    return (
        f"{offer['percentage']}% off your next {offer['orders']} orders is applied.",
        {"percentage": offer["percentage"], "orders": offer["orders"]},
        None,
    )


@dataclass(frozen=True)
class _Step:
    """One decision of a flow: what is recorded whether it works or not."""

    session: AsyncSession
    flow: CancelFlow
    contract: Contract
    subscriber: Subscriber
    action: str
    now: datetime

    async def record(
        self, step: str, detail: dict[str, Any], error: Exception | None = None
    ) -> None:
        refused = None if error is None else _as_refusal(error)
        step_detail = (
            detail if refused is None else {"code": refused.code, "message": refused.message}
        )
        add_step(self.session, self.flow, step, self.now, **step_detail)
        await record_action(
            self.session,
            self.flow.shop_id,
            self.contract,
            self.subscriber,
            self.action,
            self.flow.channel,
            self.now,
            detail,
            refused=refused,
        )

    async def refuse(
        self, step: str, detail: dict[str, Any], error: Exception
    ) -> SelfServiceRefused:
        """Record the refusal; the error to raise (the flow stays open, the contract unchanged)."""
        await self.record(step, detail, error)
        refused = _as_refusal(error)
        return SelfServiceRefused(refused.message, code=refused.code or "refused")


async def accept_offer(
    session: AsyncSession,
    editor: ContractEditor,
    view: SubscriptionView,
    flow: CancelFlow,
    contract: Contract,
    subscriber: Subscriber,
    values: dict[str, Any],
    now: datetime,
) -> str:
    """Carry out the offer shown; the flow ends as saved. Raises SelfServiceRefused (recorded,
    flow still open, contract unchanged) when it cannot be done."""
    if flow.outcome != OPEN or not flow.offer_shown or not flow.offer:
        raise SelfServiceRefused("This offer is no longer open.", code="closed")
    offer = flow.offer
    step = _Step(session, flow, contract, subscriber, OFFER_ACTION[offer["kind"]], now)
    try:
        message, detail, resume = await _carry_out(editor, view, offer, values, now)
    except (ContractEditRefused, TransientError, SelfServiceRefused) as exc:
        raise await step.refuse("offer_failed", {"offer": offer}, exc) from exc
    flow.outcome, flow.decided_at, flow.resume_on = ACCEPTED, now, resume
    await step.record("offer_accepted", {"offer": offer, **detail})
    return message


async def confirm_cancel(
    session: AsyncSession,
    editor: ContractEditor,
    flow: CancelFlow,
    contract: Contract,
    subscriber: Subscriber,
    now: datetime,
) -> None:
    """Cancel the contract through Shopify. Raises SelfServiceRefused (recorded, contract
    unchanged) when Shopify refuses or cannot be reached."""
    if flow.outcome != OPEN:
        raise SelfServiceRefused("This cancellation is already settled.", code="closed")
    step = _Step(session, flow, contract, subscriber, "cancel", now)
    try:
        await editor.cancel(f"gid://shopify/SubscriptionContract/{contract.contract_id}")
    except (ContractEditRefused, TransientError) as exc:
        raise await step.refuse("cancel_failed", {}, exc) from exc
    flow.outcome, flow.decided_at = CANCELLED, now
    await step.record("cancel_confirmed", {})


def _as_refusal(exc: Exception) -> ContractEditRefused:
    if isinstance(exc, ContractEditRefused):
        return exc
    if isinstance(exc, SelfServiceRefused):
        return ContractEditRefused(exc.message, code=exc.code)
    return ContractEditRefused(UNAVAILABLE, code="unavailable", detail=str(exc))
