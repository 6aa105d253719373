"""What domain event processing tells the survey module (owner: surveys). Called inside the
job's transaction; must be idempotent (a re-run changes nothing)."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, SQLColumnExpression
from sqlalchemy.ext.asyncio import AsyncSession

from plugin.models import Contract, Shop
from plugin.surveys.cancellations import (
    cancelled_at_of,
    may_retract,
    record_contract_end,
    refresh_system_reason,
    retract_cancellation,
)
from plugin.surveys.invitations import (
    OrderProgress,
    has_unsent_invitation,
    schedule_invitations,
    settle_invitations,
    settle_invitations_of,
)

__all__ = [
    "ContractSurveyRows",
    "OrderProgress",
    "on_billing_attempt_of_ended_contract",
    "on_contract_ended",
    "on_contract_reactivated",
    "on_contracts_created",
    "on_orders_progressed",
    "survey_rows_columns",
]


@dataclass(frozen=True)
class ContractSurveyRows:
    """What the contract hooks depend on, read by the domain with the contract (the columns
    of `survey_rows_columns`) so that the hooks skip what would change nothing.

    Still valid after the event's order hooks: an invitation they schedule is settled there,
    after the contract's new status was written, so settling it again changes nothing."""

    cancelled_at: datetime | None  # the contract's recorded end, if any
    unsent_invitations: bool  # its subscriber has invitations to decide again


def survey_rows_columns(
    shop_id: SQLColumnExpression[int],
    contract_pk: SQLColumnExpression[int],
    subscriber_id: SQLColumnExpression[int],
) -> tuple[ColumnElement[datetime | None], ColumnElement[bool]]:
    """The columns `ContractSurveyRows` is made of, in its field order, for a contract."""
    return (
        cancelled_at_of(shop_id, contract_pk).label("survey_cancelled_at"),
        has_unsent_invitation(shop_id, subscriber_id).label("survey_unsent_invitations"),
    )


async def on_contract_ended(
    session: AsyncSession,
    shop: Shop,
    contract: Contract,
    status: str,
    occurred_at: datetime,
    *,
    known: ContractSurveyRows | None = None,
) -> None:
    """A contract reached cancelled/expired/failed at event time `occurred_at`: join it with
    the subscriber's answer or give it a system reason; cancel their unsent NPS invitations
    when no live contract is left."""
    settle = known is None or known.unsent_invitations
    await record_contract_end(session, shop, contract, status, occurred_at, settle=settle)


async def on_contracts_created(
    session: AsyncSession, shop: Shop, known_subscribers: Collection[int]
) -> None:
    """New contracts, active or paused, were recorded (`on_contract_reactivated` of each, at
    once): none had a cancellation to retract; the unsent invitations of their subscribers
    known before them are decided again (the subscriber may be live again)."""
    await settle_invitations_of(session, shop, known_subscribers)


async def on_contract_reactivated(
    session: AsyncSession,
    shop: Shop,
    contract: Contract,
    reactivated_at: datetime,
    *,
    known: ContractSurveyRows | None = None,
) -> None:
    """A status that is not an ending (active, paused) was added to the contract's history at
    event time `reactivated_at`. If the contract's recorded cancellation ended it before then,
    the cancellation is retracted: it leaves the reason mix and the churn split, and a later
    cancellation of the contract gets a fresh reason and a fresh answer (a customer's answer
    to the retracted one is kept as a cancel attempt). A no-op otherwise, so the domain may
    call it for every non-ending status event; call it before `on_contract_ended` for the
    same event (an out-of-order comeback can move the contract's end to a later ending)."""
    if known is None or may_retract(known.cancelled_at, reactivated_at):
        await retract_cancellation(session, shop, contract, reactivated_at)
    if known is None or known.unsent_invitations:
        # The subscriber may be live again: their unsent invitations are decided again.
        await settle_invitations(session, shop, contract.subscriber_id)


async def on_billing_attempt_of_ended_contract(
    session: AsyncSession, shop: Shop, contract: Contract
) -> None:
    """A billing attempt of a contract that has ended was recorded: a failure processed after
    the cancellation still makes its system reason `payment_failed`."""
    await refresh_system_reason(session, shop, contract)


async def on_orders_progressed(
    session: AsyncSession, shop: Shop, progress: Sequence[OrderProgress]
) -> None:
    """Orders of subscriptions were fulfilled or delivered, or became linked to their contract
    after either: their NPS invitations' triggers (one call for a whole batch of orders)."""
    await schedule_invitations(session, shop, progress)
