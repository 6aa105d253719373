"""Cancellations: the contract's end (webhook side) joined with the subscriber's reason.

One row per contract (unique (shop, contract_pk)); the webhook and the answer meet there,
whichever arrives first:

- answer first: the row holds the customer's reason with `cancelled_at` NULL, waiting for the
  cancel webhook, which then sets `cancelled_at`/`end_status` and keeps the reason.
- webhook first: the row gets a system reason (payment_failed, merchant_cancelled, expired,
  unknown) so the reason mix always adds up; a customer's answer within
  `cancel_answer_window` replaces it.

A row with `cancelled_at` NULL is an answer, not (yet) a cancellation: readers of the reason
mix count rows with `cancelled_at` set. An answer whose webhook never comes (the subscriber
was saved, or changed their mind) is finalised after the window by `finalise_cancel_answers`:
it becomes a `cancel_attempt` contract change (plus `cadence_reason` for a cadence reason),
which the churn-risk and cadence-fit inputs read, and the row is removed so that a real
cancellation later starts clean.

A cancelled contract that comes back (a later status that is not an ending, by event time:
`activate`, or `update` to active) retracts its cancellation (`retract_cancellation`): the row
is removed, so neither its reason (customer or system) nor the end count in the reason mix or
the churn split any more, and a later cancellation of the same contract starts clean (a fresh
system reason, a fresh answer). The row is removed rather than marked because the table holds
one row per contract: a retracted row kept there would collide with that later cancellation.
Nothing is lost: the status history keeps the cancel and the comeback, and a customer's answer
becomes a `cancel_attempt` (plus `cadence_reason`) dated at the comeback, like an answer whose
cancellation never came.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ScalarSelect, SQLColumnExpression, bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from plugin.domain.rows import insert_if_absent, insert_returning, locked
from plugin.models import (
    BillingAttempt,
    BillingAttemptStatus,
    Cancellation,
    CancelReasonOption,
    Contract,
    ContractChange,
    ContractStatus,
    ContractStatusEvent,
    ReasonSource,
    Shop,
)
from plugin.surveys.invitations import settle_invitations
from plugin.surveys.settings import SurveySettings, survey_settings

log = logging.getLogger(__name__)

PAYMENT_FAILED = "payment_failed"
MERCHANT_CANCELLED = "merchant_cancelled"
EXPIRED = "expired"
UNKNOWN = "unknown"
# A cancel this soon after a failed billing attempt (with no success since) is the dunning
# process giving up, not a choice: a month of retries covers the usual dunning schedules.
DUNNING_WINDOW = timedelta(days=35)
CANCEL_ATTEMPT = "cancel_attempt"
CADENCE_REASON = "cadence_reason"
SUBSCRIBER = "subscriber"


def _last_attempt(column: SQLColumnExpression[Any]) -> ScalarSelect[Any]:
    """`column` of the contract's last billing attempt at or before the end."""
    return (
        select(column)
        .where(
            BillingAttempt.shop_id == bindparam("shop_id"),
            BillingAttempt.contract_pk == bindparam("contract_pk"),
            BillingAttempt.occurred_at <= bindparam("at"),
        )
        .order_by(BillingAttempt.occurred_at.desc(), BillingAttempt.id.desc())
        .limit(1)
        .scalar_subquery()
    )


# What `system_reason` reads, in one statement built once: the last attempt's status and time,
# and who made the ending status's latest entry at or before the end.
_REASON_FACTS = select(
    _last_attempt(BillingAttempt.status),
    _last_attempt(BillingAttempt.occurred_at),
    select(ContractStatusEvent.source)
    .where(
        ContractStatusEvent.shop_id == bindparam("shop_id"),
        ContractStatusEvent.contract_pk == bindparam("contract_pk"),
        ContractStatusEvent.status == bindparam("status"),
        ContractStatusEvent.occurred_at <= bindparam("at"),
    )
    .order_by(ContractStatusEvent.occurred_at.desc())
    .limit(1)
    .scalar_subquery(),
)


async def system_reason(
    session: AsyncSession, shop_id: int, contract: Contract, status: str, occurred_at: datetime
) -> str:
    """Why a contract ended when the subscriber did not tell us (docs/design.md §4)."""
    if status == ContractStatus.FAILED:
        return PAYMENT_FAILED
    if status == ContractStatus.EXPIRED:
        return EXPIRED
    params = {"shop_id": shop_id, "contract_pk": contract.id, "status": status, "at": occurred_at}
    attempt_status, attempt_at, status_source = (await session.execute(_REASON_FACTS, params)).one()
    if (
        attempt_status == BillingAttemptStatus.FAILURE
        and attempt_at is not None
        and attempt_at >= occurred_at - DUNNING_WINDOW
    ):
        return PAYMENT_FAILED
    if status_source == "merchant":
        return MERCHANT_CANCELLED
    return UNKNOWN


async def cancellation_of(
    session: AsyncSession, shop_id: int, contract_pk: int
) -> Cancellation | None:
    """The contract's cancellation row, locked for this transaction."""
    return await locked(
        session,
        select(Cancellation).where(
            Cancellation.shop_id == shop_id, Cancellation.contract_pk == contract_pk
        ),
    )


def cancelled_at_of(
    shop_id: SQLColumnExpression[int], contract_pk: SQLColumnExpression[int]
) -> ScalarSelect[datetime | None]:
    """The contract's recorded end (None: no cancellation row, or only an answer), for a caller
    that reads it with its other rows to know whether `retract_cancellation` can change
    anything."""
    return (
        select(Cancellation.cancelled_at)
        .where(Cancellation.shop_id == shop_id, Cancellation.contract_pk == contract_pk)
        .scalar_subquery()
    )


def may_retract(cancelled_at: datetime | None, reactivated_at: datetime) -> bool:
    """Whether a cancellation ending the contract at `cancelled_at` is retracted by a comeback
    at `reactivated_at` (a same-instant ending wins, as in the domain's tie-break)."""
    return cancelled_at is not None and cancelled_at < reactivated_at


async def record_contract_end(
    session: AsyncSession,
    shop: Shop,
    contract: Contract,
    status: str,
    occurred_at: datetime,
    *,
    settle: bool = True,
) -> Cancellation:
    """The webhook side of the join. Idempotent: the same end recorded twice changes nothing;
    a different end time (the domain settled the history differently) replaces the old one.
    `settle=False`: the caller knows the subscriber has no invitation to decide again."""
    cancellation = await insert_returning(
        session,
        Cancellation,
        {"shop_id": shop.id, "contract_pk": contract.id, "subscriber_id": contract.subscriber_id},
        ("shop_id", "contract_pk"),
    ) or await cancellation_of(session, shop.id, contract.id)
    assert cancellation is not None
    if cancellation.cancelled_at != occurred_at or cancellation.end_status != status:
        cancellation.cancelled_at = occurred_at
        cancellation.end_status = status
        if cancellation.reason_source != ReasonSource.CUSTOMER:
            cancellation.reason_code = await system_reason(
                session, shop.id, contract, status, occurred_at
            )
            cancellation.reason_version = None
            cancellation.reason_source = ReasonSource.SYSTEM
    if settle:
        # The subscriber's unsent invitations are cancelled if this end left no live contract.
        await settle_invitations(session, shop, contract.subscriber_id)
    await session.flush()
    return cancellation


async def refresh_system_reason(session: AsyncSession, shop: Shop, contract: Contract) -> None:
    """A billing attempt of an ended contract was recorded (it may have been processed after
    the end): the system reason is worked out again, so that it does not depend on which of
    the two was processed first. A customer's reason stays."""
    cancellation = await cancellation_of(session, shop.id, contract.id)
    if (
        cancellation is None
        or cancellation.reason_source != ReasonSource.SYSTEM
        or cancellation.cancelled_at is None
        or cancellation.end_status is None
    ):
        return
    await session.flush()  # the attempt this event wrote
    cancellation.reason_code = await system_reason(
        session, shop.id, contract, cancellation.end_status, cancellation.cancelled_at
    )


def answer_window_closed(
    cancellation: Cancellation, settings: SurveySettings, now: datetime
) -> bool:
    """Too late for a customer's reason to replace this cancellation's system reason."""
    return (
        cancellation.cancelled_at is not None
        and now > cancellation.cancelled_at + settings.cancel_answer_window
    )


async def finalise_cancel_answers(session: AsyncSession, *, now: datetime) -> int:
    """Settle answers that waited the whole window without their cancel webhook; returns how
    many. Runs across shops (operational upkeep); each row is handled with its own shop's
    settings and only by primary key."""
    waiting = list(
        await session.scalars(
            select(Cancellation)
            .where(Cancellation.cancelled_at.is_(None), Cancellation.answered_at <= now)
            .order_by(Cancellation.answered_at, Cancellation.id)
            .with_for_update(skip_locked=True)
        )
    )
    settings_of: dict[int, SurveySettings] = {}
    settled = 0
    for answer in waiting:
        if answer.shop_id not in settings_of:
            shop = await session.get(Shop, answer.shop_id)
            assert shop is not None
            settings_of[answer.shop_id] = survey_settings(shop)
        assert answer.answered_at is not None
        if now < answer.answered_at + settings_of[answer.shop_id].cancel_answer_window:
            continue
        contract = await session.get(Contract, answer.contract_pk)
        assert contract is not None
        if contract.status in ContractStatus.ENDED:
            # Ended without the hook (e.g. imported by backfill): join it now.
            answer.cancelled_at = contract.ended_at or contract.status_at
            answer.end_status = contract.status
        else:
            await _record_attempt(session, answer)
            await session.delete(answer)
        settled += 1
    await session.flush()
    return settled


async def retract_cancellation(
    session: AsyncSession, shop: Shop, contract: Contract, reactivated_at: datetime
) -> bool:
    """The contract's history gained a status that is not an ending at event time
    `reactivated_at`; if its recorded cancellation ended it before then, that cancellation is
    retracted. Returns True when something changed. Idempotent, and safe to call for any
    non-ending status: an ending at or after `reactivated_at` (a same-instant ending wins, as
    in the domain's tie-break) and an answer still waiting for its webhook are left alone.

    - the end and its reason (system, or a customer's answer given before the comeback) are
      removed; the customer's answer is kept as a `cancel_attempt` (plus `cadence_reason`)
      contract change dated at the comeback, when it became known that the subscriber stayed;
    - an answer given after the comeback is about a later cancellation (events processed out
      of order): it is detached from the retracted end and waits for that cancellation, or
      becomes a cancel attempt when none comes (`finalise_cancel_answers`).
    """
    cancellation = await cancellation_of(session, shop.id, contract.id)
    if cancellation is None or not may_retract(cancellation.cancelled_at, reactivated_at):
        return False
    answered_at = (
        cancellation.answered_at if cancellation.reason_source == ReasonSource.CUSTOMER else None
    )
    if answered_at is not None and answered_at >= reactivated_at:
        cancellation.cancelled_at = None
        cancellation.end_status = None
        log.info("cancellation %s detached from its retracted end", cancellation.id)
    else:
        if answered_at is not None:
            await _record_attempt(session, cancellation, at=reactivated_at)
        await session.delete(cancellation)
        log.info("cancellation of contract %s retracted (reactivated)", contract.id)
    await session.flush()
    return True


async def _record_attempt(
    session: AsyncSession, answer: Cancellation, *, at: datetime | None = None
) -> None:
    """The answer as contract changes of a subscriber who stayed, dated `at` (default: when
    they answered)."""
    assert answer.answered_at is not None
    kinds = [CANCEL_ATTEMPT]
    if answer.reason_code is not None:
        driver = await session.scalar(
            select(CancelReasonOption.driver).where(
                CancelReasonOption.shop_id == answer.shop_id,
                CancelReasonOption.code == answer.reason_code,
                CancelReasonOption.version == answer.reason_version,
            )
        )
        if driver == "cadence":
            kinds.append(CADENCE_REASON)
    for kind in kinds:
        await insert_if_absent(
            session,
            ContractChange,
            {
                "shop_id": answer.shop_id,
                "contract_pk": answer.contract_pk,
                "kind": kind,
                "source": SUBSCRIBER,
                "occurred_at": at or answer.answered_at,
            },
            ("contract_pk", "kind", "occurred_at"),
        )
