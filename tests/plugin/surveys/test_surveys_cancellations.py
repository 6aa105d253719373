"""The join of a subscriber's cancel reason with the contract's end, through the real webhook
pipeline (inbox → batch → domain → survey hooks), in both orders; system reasons;
answers whose cancellation never comes; cancellations retracted when the contract comes back."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from plugin.db.transaction import transaction
from plugin.models import Cancellation, Contract, ContractChange, Shop, Subscriber
from plugin.runtime import Runtime
from plugin.surveys import hooks
from plugin.surveys.answers import AnswerLocked, Channel, submit_cancel_reason
from plugin.surveys.cancellations import finalise_cancel_answers
from tests.plugin.surveys.survey_factories import all_rows, world
from tests.support.payloads import T0, Event, billing_attempt, contract, deliver, next_id

CREATE = "subscription_contracts/create"
CANCEL = "subscription_contracts/cancel"
ACTIVATE = "subscription_contracts/activate"
FAIL = "subscription_contracts/fail"
EXPIRE = "subscription_contracts/expire"
BILLING_FAILURE = "subscription_billing_attempts/failure"
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)


async def started(runtime: Runtime) -> tuple[int, int]:
    """A contract created through a webhook; (Shopify contract id, customer id)."""
    cid, customer = next_id(), next_id()
    await deliver(runtime, Event(CREATE, contract(cid, customer), at=T0))
    return cid, customer


async def answer(
    runtime: Runtime, cid: int, customer: int, now: datetime, **fields: Any
) -> Cancellation:
    async with transaction(runtime.sessionmaker, None) as tx:
        subscriber = await tx.session.scalar(
            select(Subscriber).where(Subscriber.customer_id == customer)
        )
        assert subscriber is not None
        return await submit_cancel_reason(
            tx.session,
            shop_id=subscriber.shop_id,
            subscriber_id=subscriber.id,
            contract_id=cid,
            reason=fields.get("reason", "too_expensive"),
            comment=fields.get("comment"),
            channel=Channel.PROXY,
            now=now,
        )


async def end(runtime: Runtime, topic: str, cid: int, customer: int, at: datetime) -> None:
    status = {CANCEL: "cancelled", FAIL: "failed", EXPIRE: "expired"}[topic]
    await deliver(
        runtime,
        Event(topic, contract(cid, customer, status=status, revision_id=revision(at)), at=at),
    )


def revision(at: datetime) -> int:
    """Shopify's revision of a contract grows with every change: here, with the time."""
    return 2 + int((at - T0).total_seconds())


async def comeback(runtime: Runtime, cid: int, at: datetime) -> None:
    """The survey hook the domain calls for a non-ending status event, called directly (it is
    idempotent, so a domain that already calls it changes nothing here)."""
    async with transaction(runtime.sessionmaker, None) as tx:
        row = await tx.session.scalar(select(Contract).where(Contract.contract_id == cid))
        assert row is not None
        shop = await tx.session.get(Shop, row.shop_id)
        assert shop is not None
        await hooks.on_contract_reactivated(tx.session, shop, row, at)


async def reactivate(runtime: Runtime, cid: int, customer: int, at: datetime) -> None:
    await deliver(
        runtime, Event(ACTIVATE, contract(cid, customer, revision_id=revision(at)), at=at)
    )
    await comeback(runtime, cid, at)


async def subscriber_changes(runtime: Runtime) -> list[tuple[str, datetime]]:
    changes = await all_rows(runtime, ContractChange, ContractChange.source == "subscriber")
    return sorted((c.kind, c.occurred_at) for c in changes)


async def cancellation(runtime: Runtime, cid: int) -> Cancellation:
    [row] = await all_rows(
        runtime,
        Cancellation,
        Cancellation.contract_pk
        == select(Contract.id).where(Contract.contract_id == cid).scalar_subquery(),
    )
    return row


async def test_answer_first_then_webhook(runtime: Runtime) -> None:
    cid, customer = await started(runtime)
    await answer(runtime, cid, customer, T0 + DAY, reason="deliveries_too_often")
    await end(runtime, CANCEL, cid, customer, T0 + DAY + 5 * 60 * timedelta(seconds=1))
    row = await cancellation(runtime, cid)
    assert (row.reason_code, row.reason_source, row.end_status) == (
        "deliveries_too_often",
        "customer",
        "cancelled",
    )
    assert row.cancelled_at == T0 + DAY + timedelta(minutes=5)
    assert row.answered_at == T0 + DAY


async def test_webhook_first_then_answer_replaces_the_system_reason(runtime: Runtime) -> None:
    cid, customer = await started(runtime)
    await end(runtime, CANCEL, cid, customer, T0 + DAY)
    row = await cancellation(runtime, cid)
    assert (row.reason_code, row.reason_source, row.answered_at) == ("unknown", "system", None)
    await answer(runtime, cid, customer, T0 + DAY + HOUR, reason="other", comment="Moved")
    row = await cancellation(runtime, cid)
    assert (row.reason_code, row.reason_source, row.comment) == ("other", "customer", "Moved")
    assert (row.cancelled_at, row.end_status, row.reason_version) == (T0 + DAY, "cancelled", 1)
    # The same webhook delivered again keeps the customer's answer.
    await end(runtime, CANCEL, cid, customer, T0 + DAY)
    assert (await cancellation(runtime, cid)).reason_code == "other"


async def test_an_answer_after_the_window_leaves_the_system_reason(runtime: Runtime) -> None:
    cid, customer = await started(runtime)
    await end(runtime, CANCEL, cid, customer, T0 + DAY)
    with pytest.raises(AnswerLocked):
        await answer(runtime, cid, customer, T0 + 8 * DAY + HOUR)
    assert (await cancellation(runtime, cid)).reason_code == "unknown"


async def test_system_reasons(runtime: Runtime) -> None:
    failed, c1 = await started(runtime)
    await end(runtime, FAIL, failed, c1, T0 + 40 * DAY)

    dunned, c2 = await started(runtime)
    await deliver(
        runtime,
        Event(
            BILLING_FAILURE,
            billing_attempt(next_id(), dunned, error_code="insufficient_funds"),
            at=T0 + 30 * DAY,
        ),
    )
    await end(runtime, CANCEL, dunned, c2, T0 + 37 * DAY)

    expired, c3 = await started(runtime)
    await end(runtime, EXPIRE, expired, c3, T0 + 365 * DAY)

    quiet, c4 = await started(runtime)
    await end(runtime, CANCEL, quiet, c4, T0 + 10 * DAY)

    # A failure long before the cancel is not why it ended.
    old_failure, c5 = await started(runtime)
    await deliver(
        runtime,
        Event(
            BILLING_FAILURE,
            billing_attempt(next_id(), old_failure, error_code="card_declined"),
            at=T0 + DAY,
        ),
    )
    await end(runtime, CANCEL, old_failure, c5, T0 + 90 * DAY)

    reasons = {
        cid: (await cancellation(runtime, cid)).reason_code
        for cid in (failed, dunned, expired, quiet, old_failure)
    }
    assert reasons == {
        failed: "payment_failed",
        dunned: "payment_failed",
        expired: "expired",
        quiet: "unknown",
        old_failure: "unknown",
    }
    assert len(await all_rows(runtime, Cancellation)) == 5  # one per contract


async def test_answers_without_a_cancellation_become_cancel_attempts(runtime: Runtime) -> None:
    saved, c1 = await started(runtime)
    await answer(runtime, saved, c1, T0 + DAY, reason="deliveries_too_often")
    cancelled_late, c2 = await started(runtime)
    await answer(runtime, cancelled_late, c2, T0 + DAY, reason="budget")

    async with transaction(runtime.sessionmaker, None) as tx:
        assert await finalise_cancel_answers(tx.session, now=T0 + 7 * DAY) == 0
    async with transaction(runtime.sessionmaker, None) as tx:
        assert await finalise_cancel_answers(tx.session, now=T0 + 8 * DAY + HOUR) == 2
    async with transaction(runtime.sessionmaker, None) as tx:
        assert await finalise_cancel_answers(tx.session, now=T0 + 9 * DAY) == 0

    changes = await all_rows(runtime, ContractChange, ContractChange.source == "subscriber")
    by_kind = sorted((c.kind, c.occurred_at) for c in changes)
    assert by_kind == [
        ("cadence_reason", T0 + DAY),
        ("cancel_attempt", T0 + DAY),
        ("cancel_attempt", T0 + DAY),
    ]
    assert await all_rows(runtime, Cancellation) == []
    # When the saved subscriber does cancel months later, that cancellation starts clean.
    await end(runtime, CANCEL, saved, c1, T0 + 60 * DAY)
    row = await cancellation(runtime, saved)
    assert (row.reason_code, row.reason_source) == ("unknown", "system")


async def test_answer_then_reactivate_retracts_the_cancellation(runtime: Runtime) -> None:
    cid, customer = await started(runtime)
    await end(runtime, CANCEL, cid, customer, T0 + DAY)
    await answer(runtime, cid, customer, T0 + DAY + HOUR, reason="deliveries_too_often")
    await reactivate(runtime, cid, customer, T0 + 3 * DAY)

    # Neither the end nor its reason counts any more; the answer is kept as a cancel attempt
    # (and a cadence reason), dated when the subscriber came back.
    assert await all_rows(runtime, Cancellation) == []
    assert await subscriber_changes(runtime) == [
        ("cadence_reason", T0 + 3 * DAY),
        ("cancel_attempt", T0 + 3 * DAY),
    ]
    [row] = await all_rows(runtime, Contract, Contract.contract_id == cid)
    assert (row.status, row.ended_at) == ("active", None)
    # Idempotent: the same comeback again, or the redelivered cancel, changes nothing.
    await comeback(runtime, cid, T0 + 3 * DAY)
    await end(runtime, CANCEL, cid, customer, T0 + DAY)
    assert await all_rows(runtime, Cancellation) == []
    assert len(await subscriber_changes(runtime)) == 2
    # Nothing is waiting to be finalised either.
    async with transaction(runtime.sessionmaker, None) as tx:
        assert await finalise_cancel_answers(tx.session, now=T0 + 30 * DAY) == 0


async def test_reactivated_then_cancelled_again_gets_a_fresh_answer(runtime: Runtime) -> None:
    cid, customer = await started(runtime)
    await end(runtime, CANCEL, cid, customer, T0 + DAY)
    await answer(runtime, cid, customer, T0 + DAY + HOUR, reason="too_expensive", comment="Hm")
    await reactivate(runtime, cid, customer, T0 + 10 * DAY)
    await end(runtime, CANCEL, cid, customer, T0 + 30 * DAY)

    # The new cancellation starts clean: a system reason, not the old answer.
    row = await cancellation(runtime, cid)
    assert (row.cancelled_at, row.reason_code, row.reason_source) == (
        T0 + 30 * DAY,
        "unknown",
        "system",
    )
    assert (row.answered_at, row.comment, row.editable_until) == (None, None, None)
    # The first answer's edit window closed long ago; the new cancel survey is open anyway.
    await answer(runtime, cid, customer, T0 + 30 * DAY + HOUR, reason="budget")
    row = await cancellation(runtime, cid)
    assert (row.reason_code, row.reason_source, row.answered_at) == (
        "budget",
        "customer",
        T0 + 30 * DAY + HOUR,
    )
    assert (row.cancelled_at, row.end_status) == (T0 + 30 * DAY, "cancelled")
    assert await subscriber_changes(runtime) == [("cancel_attempt", T0 + 10 * DAY)]


async def test_a_system_reason_is_retracted_too(runtime: Runtime) -> None:
    cid, customer = await started(runtime)
    await deliver(
        runtime,
        Event(
            BILLING_FAILURE,
            billing_attempt(next_id(), cid, error_code="insufficient_funds"),
            at=T0 + 30 * DAY,
        ),
    )
    await end(runtime, CANCEL, cid, customer, T0 + 37 * DAY)
    assert (await cancellation(runtime, cid)).reason_code == "payment_failed"

    await reactivate(runtime, cid, customer, T0 + 40 * DAY)
    assert await all_rows(runtime, Cancellation) == []
    # Not the subscriber's doing: no cancel attempt.
    assert await subscriber_changes(runtime) == []


async def test_only_an_end_before_the_comeback_is_retracted(runtime: Runtime) -> None:
    cid, customer = await started(runtime)
    await end(runtime, CANCEL, cid, customer, T0 + 5 * DAY)
    # A status entry dated before the end, or at the same instant (the ending wins the
    # tie, as in the domain), is no comeback.
    await comeback(runtime, cid, T0 + 2 * DAY)
    await comeback(runtime, cid, T0 + 5 * DAY)
    assert (await cancellation(runtime, cid)).cancelled_at == T0 + 5 * DAY

    # An answer still waiting for its cancel webhook is not a cancellation to retract.
    waiting, c2 = await started(runtime)
    await answer(runtime, waiting, c2, T0 + DAY)
    await comeback(runtime, waiting, T0 + 2 * DAY)
    row = await cancellation(runtime, waiting)
    assert (row.cancelled_at, row.reason_source) == (None, "customer")


async def test_an_answer_given_after_the_comeback_waits_for_the_later_cancel(
    runtime: Runtime,
) -> None:
    # Delivered out of order: cancel (day 1), cancel again (day 5), the answer to the second
    # cancel (day 5 + 1 h), and only then the comeback between them (day 3).
    cid, customer = await started(runtime)
    await end(runtime, CANCEL, cid, customer, T0 + DAY)
    await end(runtime, CANCEL, cid, customer, T0 + 5 * DAY)
    await answer(runtime, cid, customer, T0 + 5 * DAY + HOUR, reason="switching_brand")
    await reactivate(runtime, cid, customer, T0 + 3 * DAY)

    row = await cancellation(runtime, cid)
    assert (row.cancelled_at, row.reason_code, row.reason_source) == (
        T0 + 5 * DAY,
        "switching_brand",
        "customer",
    )
    assert await subscriber_changes(runtime) == []


async def test_hooks_in_domain_order_for_a_late_comeback(runtime: Runtime) -> None:
    """The calls the domain makes when a comeback (day 3) arrives after two cancels (days 1
    and 5): the comeback first, then the contract's new end. The first cancel's answer must
    not stick to the second cancel."""
    w = await world(runtime)
    async with transaction(runtime.sessionmaker, None) as tx:
        shop = await tx.session.get(Shop, w.shop_id)
        row = await tx.session.get(Contract, w.contract_pk)
        assert shop is not None and row is not None
        row.status, row.status_at, row.ended_at = "cancelled", T0 + DAY, T0 + DAY
        await hooks.on_contract_ended(tx.session, shop, row, "cancelled", T0 + DAY)
    await answer(runtime, w.contract_id, w.customer_id, T0 + DAY + HOUR, reason="budget")
    async with transaction(runtime.sessionmaker, None) as tx:
        shop = await tx.session.get(Shop, w.shop_id)
        row = await tx.session.get(Contract, w.contract_pk)
        assert shop is not None and row is not None
        row.status_at, row.ended_at = T0 + 5 * DAY, T0 + 5 * DAY
        await hooks.on_contract_reactivated(tx.session, shop, row, T0 + 3 * DAY)
        await hooks.on_contract_ended(tx.session, shop, row, "cancelled", T0 + 5 * DAY)

    [kept] = await all_rows(runtime, Cancellation)
    assert (kept.cancelled_at, kept.reason_code, kept.reason_source, kept.answered_at) == (
        T0 + 5 * DAY,
        "unknown",
        "system",
        None,
    )
    assert await subscriber_changes(runtime) == [("cancel_attempt", T0 + 3 * DAY)]
