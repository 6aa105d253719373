"""Answers through the services: one per invitation, edit window, and nothing stored on error."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from plugin.db.transaction import transaction
from plugin.models import Cancellation, Contract, NpsInvitation, NpsResponse, Shop
from plugin.runtime import Runtime
from plugin.surveys.answers import (
    AnswerInvalid,
    AnswerLocked,
    Channel,
    NoPendingSurvey,
    submit_cancel_reason,
    submit_nps_answer,
)
from plugin.surveys.catalogue import set_reason_active
from tests.plugin.surveys.survey_factories import (
    T0,
    World,
    add_contract,
    add_invitation,
    add_subscriber,
    all_rows,
    count,
    world,
)

HOUR = timedelta(hours=1)


async def nps(runtime: Runtime, w: World, now: Any = T0, **fields: Any) -> NpsResponse:
    answer = {"score": 9, "value_for_money": 4, "comment": None, **fields}
    async with transaction(runtime.sessionmaker, None) as tx:
        return await submit_nps_answer(
            tx.session,
            shop_id=w.shop_id,
            subscriber_id=w.subscriber_id,
            channel=Channel.PROXY,
            now=now,
            **answer,
        )


async def cancel(runtime: Runtime, w: World, now: Any = T0, **fields: Any) -> Cancellation:
    answer = {"contract_id": w.contract_id, "reason": "too_expensive", "comment": None, **fields}
    async with transaction(runtime.sessionmaker, None) as tx:
        return await submit_cancel_reason(
            tx.session,
            shop_id=w.shop_id,
            subscriber_id=w.subscriber_id,
            channel=Channel.EXTENSION,
            now=now,
            **answer,
        )


async def invite(runtime: Runtime, w: World, **fields: Any) -> int:
    async with transaction(runtime.sessionmaker, None) as tx:
        invitation = await add_invitation(tx.session, w.shop_id, w.subscriber_id, **fields)
        return invitation.id


async def test_an_answer_goes_to_the_oldest_pending_invitation(runtime: Runtime) -> None:
    w = await world(runtime)
    newer = await invite(runtime, w, sent_at=T0 - HOUR)
    older = await invite(runtime, w, sent_at=T0 - 2 * HOUR)
    response = await nps(runtime, w, score="10", value_for_money="", comment=" Love it ")
    assert (response.invitation_id, response.score, response.value_for_money) == (older, 10, None)
    assert (response.comment, response.channel, response.answered_at) == ("Love it", "proxy", T0)
    assert response.editable_until == T0 + 24 * HOUR
    statuses = {i.id: i.status for i in await all_rows(runtime, NpsInvitation)}
    assert statuses == {older: "answered", newer: "pending"}


async def test_a_second_submit_updates_within_the_window_then_is_refused(
    runtime: Runtime,
) -> None:
    w = await world(runtime)
    await invite(runtime, w)
    first = await nps(runtime, w, score=3)
    second = await nps(runtime, w, now=T0 + 23 * HOUR, score=6, comment="on reflection")
    assert second.id == first.id and (second.score, second.comment) == (6, "on reflection")
    assert second.answered_at == T0 and second.updated_at == T0 + 23 * HOUR
    with pytest.raises(AnswerLocked):
        await nps(runtime, w, now=T0 + 25 * HOUR, score=10)
    [stored] = await all_rows(runtime, NpsResponse)
    assert (stored.score, stored.comment) == (6, "on reflection")


async def test_no_pending_survey(runtime: Runtime) -> None:
    w = await world(runtime)
    with pytest.raises(NoPendingSurvey):
        await nps(runtime, w)
    # Pending in the table but past its expiry (the cron has not run yet): not answerable.
    await invite(runtime, w, expires_at=T0)
    with pytest.raises(NoPendingSurvey):
        await nps(runtime, w)
    assert await count(runtime, NpsResponse) == 0


async def test_an_invitation_of_someone_else_cannot_be_answered(runtime: Runtime) -> None:
    w = await world(runtime)
    async with transaction(runtime.sessionmaker, None) as tx:
        shop = await tx.session.get(Shop, w.shop_id)
        assert shop is not None
        other = await add_subscriber(tx.session, shop)
        theirs = (await add_invitation(tx.session, w.shop_id, other.id)).id
    with pytest.raises(NoPendingSurvey):
        await nps(runtime, w, invitation_id=theirs)
    assert await count(runtime, NpsResponse) == 0


async def test_invalid_answers_store_nothing(runtime: Runtime) -> None:
    w = await world(runtime)
    await invite(runtime, w)
    for fields, field in [
        ({"score": 11}, "score"),
        ({"score": -1}, "score"),
        ({"score": "ten"}, "score"),
        ({"score": None}, "score"),
        ({"value_for_money": 6}, "value_for_money"),
        ({"comment": "x" * 2001}, "comment"),
    ]:
        with pytest.raises(AnswerInvalid) as caught:
            await nps(runtime, w, **fields)
        assert caught.value.field == field
    assert await count(runtime, NpsResponse) == 0
    assert [i.status for i in await all_rows(runtime, NpsInvitation)] == ["pending"]


async def test_programming_errors_are_not_answers(runtime: Runtime) -> None:
    w = await world(runtime)
    await invite(runtime, w)
    async with transaction(runtime.sessionmaker, None) as tx:
        with pytest.raises(ValueError, match="channel"):
            await submit_nps_answer(
                tx.session,
                shop_id=w.shop_id,
                subscriber_id=w.subscriber_id,
                score=9,
                value_for_money=None,
                comment=None,
                channel="carrier-pigeon",
                now=T0,
            )
        with pytest.raises(ValueError, match="timezone"):
            await submit_nps_answer(
                tx.session,
                shop_id=w.shop_id,
                subscriber_id=w.subscriber_id,
                score=9,
                value_for_money=None,
                comment=None,
                channel=Channel.LINK,
                now=T0.replace(tzinfo=None),
            )


async def test_cancel_reason_before_the_webhook(runtime: Runtime) -> None:
    w = await world(runtime)
    stored = await cancel(runtime, w, reason="other", comment="Moving abroad")
    assert (stored.reason_code, stored.reason_version, stored.reason_source) == (
        "other",
        1,
        "customer",
    )
    assert (stored.comment, stored.channel, stored.cancelled_at) == (
        "Moving abroad",
        "extension",
        None,
    )
    assert (stored.answered_at, stored.editable_until) == (T0, T0 + 24 * HOUR)
    changed = await cancel(runtime, w, now=T0 + 2 * HOUR, reason="budget")
    assert (changed.id, changed.reason_code, changed.comment) == (stored.id, "budget", None)
    assert changed.answered_at == T0  # the window runs from the first answer
    with pytest.raises(AnswerLocked):
        await cancel(runtime, w, now=T0 + 25 * HOUR, reason="too_expensive")
    [row] = await all_rows(runtime, Cancellation)
    assert row.reason_code == "budget"


async def test_invalid_cancel_reasons_store_nothing(runtime: Runtime) -> None:
    w = await world(runtime)
    for fields, field in [
        ({"reason": "other", "comment": "  "}, "comment"),
        ({"reason": "moon_landing"}, "reason"),
        ({"reason": "payment_failed"}, "reason"),  # system reasons are not the customer's
        ({"reason": ""}, "reason"),
        ({"contract_id": None}, "contract_id"),
        ({"contract_id": 999_999_999}, "contract_id"),
    ]:
        with pytest.raises(AnswerInvalid) as caught:
            await cancel(runtime, w, **fields)
        assert caught.value.field == field
    assert await count(runtime, Cancellation) == 0


async def test_another_customers_contract_is_refused_like_a_missing_one(runtime: Runtime) -> None:
    w = await world(runtime)
    async with transaction(runtime.sessionmaker, None) as tx:
        shop = await tx.session.get(Shop, w.shop_id)
        assert shop is not None
        other = await add_subscriber(tx.session, shop)
        theirs = (await add_contract(tx.session, shop, other)).contract_id
    with pytest.raises(AnswerInvalid) as caught:
        await cancel(runtime, w, contract_id=theirs)
    assert caught.value.field == "contract_id"
    assert caught.value.message == "is not a subscription of yours"
    assert await count(runtime, Cancellation) == 0


async def test_a_retired_reason_is_no_longer_accepted(runtime: Runtime) -> None:
    w = await world(runtime)
    async with transaction(runtime.sessionmaker, None) as tx:
        await set_reason_active(tx.session, w.shop_id, "budget", False)
    with pytest.raises(AnswerInvalid):
        await cancel(runtime, w, reason="budget")


async def test_a_contract_that_ended_long_ago_takes_no_reason(runtime: Runtime) -> None:
    w = await world(runtime)
    async with transaction(runtime.sessionmaker, None) as tx:
        contract = await tx.session.get(Contract, w.contract_pk)
        assert contract is not None
        contract.status, contract.ended_at = "cancelled", T0 - timedelta(days=30)
    with pytest.raises(AnswerLocked):
        await cancel(runtime, w)
    assert await count(runtime, Cancellation) == 0
    # Within the window the answer joins the (imported) end at once.
    async with transaction(runtime.sessionmaker, None) as tx:
        contract = await tx.session.get(Contract, w.contract_pk)
        assert contract is not None
        contract.ended_at = T0 - timedelta(days=2)
    joined = await cancel(runtime, w)
    assert (joined.cancelled_at, joined.end_status) == (T0 - timedelta(days=2), "cancelled")
