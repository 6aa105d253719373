"""Subscriber self-service: what a subscriber sees of one of their contracts, and the changes they
can make to it, each carried out through `plugin.shopify.contract_edits` and recorded.

Every attempt is stored as a `SelfServiceAction` (done or refused, with Shopify's refusal), and
every change that was made as a contract change with source "subscriber", which is what the
self-serve rate reads (`plugin.domain.changes` keeps the webhook Shopify then sends from
counting it twice). Services never commit: the request that called them does, so a refusal is
recorded in the same transaction as the page that reports it.

A subscriber reaches only their own contracts: the contract is looked up by the verified
customer's subscriber row, and Shopify's copy must name the same customer.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from plugin.domain.changes import record_change
from plugin.models import Contract, ContractStatus, Shop, Subscriber
from plugin.models.self_service import SelfServiceAction
from plugin.queue import TransientError
from plugin.runtime import Runtime
from plugin.shopify.contract_edits import (
    BillingCycle,
    ContractEditor,
    ContractEditRefused,
    EditableContract,
    PlanChoice,
)
from plugin.shopify.errors import ShopifyError
from plugin.shopify.gid import parse_gid
from plugin.shopify.graphql import admin_client_for

log = logging.getLogger(__name__)

# What each action is called in contract_changes (the behaviour events the engine reads).
CHANGE_KIND = {
    "skip": "skip",
    "frequency": "frequency_change",
    "pause": "pause",
    "resume": "resume",
    "quantity": "quantity_change",
    "discount": "discount",
    "delay": "delay",
}
ACTIONS = frozenset({"skip", "frequency", "pause", "resume", "quantity"})
MAX_QUANTITY = 99
# Requests from the portal wait at most this long for Shopify's rate limit to clear.
PORTAL_MAX_WAIT_S = 4.0
UPCOMING_DAYS = 400
MAX_ID = 2**63 - 1  # a larger id is nobody's (and the database would refuse the number)
LIVE = (ContractStatus.ACTIVE, ContractStatus.PAUSED)

UNAVAILABLE = "We could not reach the store just now. Nothing was changed: please try again soon."


class SelfServiceRefused(Exception):
    """The change cannot be made; `message` is for the subscriber."""

    def __init__(self, message: str, *, code: str = "refused", field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.field = field


@dataclass
class SubscriptionView:
    contract_id: int
    status: str
    live: EditableContract
    next_delivery: BillingCycle | None
    skipped: list[BillingCycle] = field(default_factory=list)
    choices: list[PlanChoice] = field(default_factory=list)

    @property
    def current_plan(self) -> str | None:
        return next((line.selling_plan_gid for line in self.live.lines), None)

    def as_json(self) -> dict[str, Any]:
        return {
            "contract_id": self.contract_id,
            "status": self.status,
            "next_delivery": None
            if self.next_delivery is None
            else {
                "cycle": self.next_delivery.index,
                "date": self.next_delivery.expected_at.date().isoformat(),
            },
            "skipped": [
                {"cycle": c.index, "date": c.expected_at.date().isoformat()} for c in self.skipped
            ],
            "delivery": {
                "interval": self.live.delivery.interval.lower(),
                "count": self.live.delivery.count,
            },
            "frequency_choices": [
                {
                    "plan_id": parse_gid(c.selling_plan_gid, "SellingPlan"),
                    "name": c.name,
                    "current": c.selling_plan_gid == self.current_plan,
                }
                for c in self.choices
            ],
            "lines": [
                {"line": i, "title": line.title, "quantity": line.quantity}
                for i, line in enumerate(self.live.lines, start=1)
            ],
        }


def contract_gid(contract_id: int) -> str:
    return f"gid://shopify/SubscriptionContract/{contract_id}"


async def editor_for(runtime: Runtime, session: AsyncSession, shop: Shop) -> ContractEditor:
    client = await admin_client_for(runtime, session, shop, max_wait=PORTAL_MAX_WAIT_S)
    if client is None:
        raise SelfServiceRefused(UNAVAILABLE, code="unavailable")
    return ContractEditor(client)


async def own_contracts(session: AsyncSession, shop_id: int, subscriber_id: int) -> list[Contract]:
    """The subscriber's live contracts (active or paused), oldest first."""
    rows = await session.scalars(
        select(Contract)
        .where(
            Contract.shop_id == shop_id,
            Contract.subscriber_id == subscriber_id,
            Contract.status.in_(LIVE),
        )
        .order_by(Contract.started_at, Contract.id)
    )
    return list(rows)


async def own_contract(
    session: AsyncSession, shop_id: int, subscriber: Subscriber | None, contract_id: int
) -> Contract | None:
    if subscriber is None or not 0 < contract_id <= MAX_ID:
        return None
    found: Contract | None = await session.scalar(
        select(Contract).where(
            Contract.shop_id == shop_id,
            Contract.contract_id == contract_id,
            Contract.subscriber_id == subscriber.id,
        )
    )
    return found


async def subscription_view(
    editor: ContractEditor, contract: Contract, subscriber: Subscriber, now: datetime
) -> SubscriptionView:
    """The contract as Shopify has it now: status, next delivery, frequency options."""
    try:
        live = await editor.contract(contract_gid(contract.contract_id))
        if live is None or parse_gid(live.customer_gid, "Customer") != subscriber.customer_id:
            raise SelfServiceRefused("This subscription could not be found.", code="not_found")
        cycles = await editor.upcoming_cycles(live.gid, now, now + timedelta(days=UPCOMING_DAYS))
        choices = await editor.plan_choices(live.lines[0]) if live.lines else []
    except ContractEditRefused as refused:
        raise SelfServiceRefused(refused.message, code=refused.code or "refused") from refused
    except (TransientError, ShopifyError) as exc:
        log.warning("self-service view of contract %s failed: %s", contract.id, exc)
        raise SelfServiceRefused(UNAVAILABLE, code="unavailable") from exc
    upcoming = [c for c in cycles if c.expected_at >= now]
    next_delivery = next((c for c in upcoming if not c.skipped), None)
    skipped = [c for c in upcoming if c.skipped]
    return SubscriptionView(
        contract.contract_id, live.status, live, next_delivery, skipped, choices
    )


async def open_view(
    runtime: Runtime,
    session: AsyncSession,
    shop: Shop,
    contract: Contract,
    subscriber: Subscriber,
    now: datetime,
) -> tuple[ContractEditor, SubscriptionView]:
    """The shop's editor and the contract as Shopify has it now (SelfServiceRefused if not)."""
    editor = await editor_for(runtime, session, shop)
    return editor, await subscription_view(editor, contract, subscriber, now)


def _int(raw: Any, name: str, low: int, high: int) -> int:
    text = str(raw).strip() if raw is not None else ""
    if not text.isdigit() or not low <= int(text) <= high:
        raise SelfServiceRefused(
            f"Choose a {name} from {low} to {high}.", code="invalid", field=name
        )
    return int(text)


async def perform(
    session: AsyncSession,
    editor: ContractEditor,
    view: SubscriptionView,
    *,
    shop_id: int,
    contract: Contract,
    subscriber: Subscriber,
    action: str,
    values: dict[str, Any],
    channel: str,
    now: datetime,
) -> str:
    """Carry out one self-service action; returns what was done, in a sentence.

    Raises SelfServiceRefused (after recording the refusal) when the input is invalid, the
    contract does not allow it, it changed meanwhile, or Shopify refused or could not be
    reached; the contract is then unchanged."""
    if action not in ACTIONS:
        raise SelfServiceRefused("That change is not offered here.", code="invalid", field="action")
    gid = view.live.gid
    detail: dict[str, Any] = {}
    try:
        if action == "skip":
            cycle = _int(values.get("cycle"), "cycle", 0, 10**6)
            if view.next_delivery is None or view.next_delivery.index != cycle:
                raise SelfServiceRefused(
                    "Your next delivery changed meanwhile. Nothing was skipped: please look "
                    "at it again.",
                    code="changed_meanwhile",
                )
            detail = {"cycle": cycle, "date": view.next_delivery.expected_at.date().isoformat()}
            await editor.skip_cycle(gid, cycle)
            done = f"Your delivery of {detail['date']} is skipped."
        elif action == "frequency":
            plan_id = _int(values.get("plan_id"), "plan_id", 1, 10**15)
            choice = next(
                (
                    c
                    for c in view.choices
                    if parse_gid(c.selling_plan_gid, "SellingPlan") == plan_id
                ),
                None,
            )
            if choice is None:
                raise SelfServiceRefused(
                    "Choose one of the frequencies offered.", code="invalid", field="plan_id"
                )
            if choice.selling_plan_gid == view.current_plan:
                raise SelfServiceRefused(
                    "That is already your frequency.", code="invalid", field="plan_id"
                )
            detail = {"plan": choice.name}
            await editor.change_plan(view.live, choice)
            done = f"Your subscription now comes {choice.name.lower()}."
        elif action == "quantity":
            number = _int(values.get("line", 1), "line", 1, max(len(view.live.lines), 1))
            quantity = _int(values.get("quantity"), "quantity", 1, MAX_QUANTITY)
            line = view.live.lines[number - 1]
            detail = {"line": number, "from": line.quantity, "to": quantity}
            await editor.set_quantity(gid, line.gid, quantity)
            done = f"The quantity is now {quantity}."
        elif action == "pause":
            if view.status != ContractStatus.ACTIVE:
                raise SelfServiceRefused("Only an active subscription can be paused.")
            await editor.pause(gid)
            done = "Your subscription is paused. Resume it here whenever you like."
        else:
            if view.status != ContractStatus.PAUSED:
                raise SelfServiceRefused("Only a paused subscription can be resumed.")
            await editor.resume(gid)
            done = "Your subscription is active again."
    except ContractEditRefused as refused:
        await record_action(
            session, shop_id, contract, subscriber, action, channel, now, detail, refused=refused
        )
        raise SelfServiceRefused(refused.message, code=refused.code or "refused") from refused
    except TransientError as exc:
        log.warning("self-service %s of contract %s not done: %s", action, contract.id, exc)
        unavailable = ContractEditRefused(UNAVAILABLE, code="unavailable", detail=str(exc))
        await record_action(
            session,
            shop_id,
            contract,
            subscriber,
            action,
            channel,
            now,
            detail,
            refused=unavailable,
        )
        raise SelfServiceRefused(UNAVAILABLE, code="unavailable") from exc
    await record_action(session, shop_id, contract, subscriber, action, channel, now, detail)
    return done


async def record_action(
    session: AsyncSession,
    shop_id: int,
    contract: Contract,
    subscriber: Subscriber,
    action: str,
    channel: str,
    now: datetime,
    detail: dict[str, Any],
    *,
    refused: ContractEditRefused | None = None,
) -> None:
    """Store the attempt; a change that was made also becomes a subscriber-made contract change."""
    session.add(
        SelfServiceAction(
            shop_id=shop_id,
            contract_pk=contract.id,
            subscriber_id=subscriber.id,
            action=action,
            channel=channel,
            outcome="refused" if refused else "done",
            error_code=refused.code if refused else None,
            error_message=refused.detail if refused else None,
            detail=detail,
            occurred_at=now,
        )
    )
    kind = CHANGE_KIND.get(action)
    if refused is None and kind is not None:
        await record_change(
            session,
            shop_id=shop_id,
            contract_pk=contract.id,
            kind=kind,
            at=now,
            source="subscriber",
        )
    await session.flush()
