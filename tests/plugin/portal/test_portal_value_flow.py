"""End to end: answers submitted over HTTP on all three channels become the records the value
engine reads, and give the NPS, value perception, response rate and reason mix they should."""

from __future__ import annotations

from datetime import timedelta

import httpx
import numpy as np
from sqlalchemy import select

from plugin.db.transaction import transaction
from plugin.models import Cancellation, Contract, NpsInvitation, NpsResponse, Shop
from plugin.models.base import utcnow
from plugin.runtime import Runtime
from plugin.surveys import hooks
from plugin.surveys.invitations import expire_invitations
from plugin.surveys.links import make_token
from plugin.value.nps import nps, response_rate, value_perception
from plugin.value.reasons import cancel_reason_mix
from tests.plugin.portal.portal_helpers import JSON, bearer, proxy_post_json
from tests.plugin.surveys.survey_factories import (
    add_contract,
    add_invitation,
    add_shop,
    add_subscriber,
)

# 34 answers (enough for a score) out of 40 invitations; scores and value-for-money chosen so
# the expected figures can be worked out by hand below.
SCORES = [10] * 14 + [9] * 6 + [8] * 4 + [7] * 2 + [6] * 3 + [3] * 3 + [0] * 2
VALUE = [5, 4, None, 3] * 8 + [2, None]
CUSTOMER_REASONS = [
    "too_expensive",
    "too_expensive",
    "deliveries_too_often",
    "other",
    "budget",
    "too_expensive",
]


async def test_answers_flow_into_the_value_engine(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    now = utcnow()
    people: list[tuple[int, int, int, int, int]] = []  # subscriber, customer, contract pk/id, inv
    async with transaction(runtime.sessionmaker, None) as tx:
        shop = await add_shop(tx.session)
        for _ in range(40):
            subscriber = await add_subscriber(tx.session, shop)
            contract = await add_contract(tx.session, shop, subscriber)
            invitation = await add_invitation(
                tx.session,
                shop.id,
                subscriber.id,
                contract_pk=contract.id,
                sent_at=now - timedelta(days=1),
                expires_at=now + timedelta(days=13),
            )
            people.append(
                (
                    subscriber.id,
                    subscriber.customer_id,
                    contract.id,
                    contract.contract_id,
                    invitation.id,
                )
            )
        shop_id = shop.id

    for i, (score, value) in enumerate(zip(SCORES, VALUE, strict=True)):
        _, customer, _, _, invitation_id = people[i]
        answer = {"score": score, "value_for_money": value, "comment": f"answer {i}"}
        if i % 3 == 0:
            response = await proxy_post_json(client, "nps", customer, answer)
        elif i % 3 == 1:
            response = await client.post("/api/portal/nps", json=answer, headers=bearer(customer))
        else:
            token = make_token(
                runtime.settings,
                invitation_id=invitation_id,
                shop_id=shop_id,
                customer_id=customer,
                expires_at=now + timedelta(days=13),
            )
            response = await client.post(f"/s/{token}", json=answer, headers=JSON)
        assert response.status_code == 201, response.text

    # Ten subscribers cancel: six tell us why (half before the webhook, half after), four not.
    async def webhook(contract_pk: int) -> None:
        async with transaction(runtime.sessionmaker, None) as tx:
            shop = await tx.session.get(Shop, shop_id)
            contract = await tx.session.get(Contract, contract_pk)
            assert shop is not None and contract is not None
            contract.status, contract.ended_at = "cancelled", now
            await hooks.on_contract_ended(tx.session, shop, contract, "cancelled", now)

    for j in range(10):
        _, customer, contract_pk, contract_id, _ = people[30 + j]
        reason = CUSTOMER_REASONS[j] if j < 6 else None
        if reason is not None and j % 2 == 0:
            await webhook(contract_pk)
        if reason is not None:
            body = {
                "contract_id": contract_id,
                "reason": reason,
                "comment": "Too much coffee" if reason == "other" else None,
            }
            sent = await client.post(
                "/api/portal/cancel-reason", json=body, headers=bearer(customer)
            )
            assert sent.status_code == 201, sent.text
        if reason is None or j % 2 == 1:
            await webhook(contract_pk)

    async with transaction(runtime.sessionmaker, None) as tx:
        assert await expire_invitations(tx.session, now=now + timedelta(days=14)) == 6

    # What the scoring job loads: set-based reads of one shop's survey tables.
    async with runtime.sessionmaker() as session:
        rows = (
            await session.execute(
                select(NpsResponse.score, NpsResponse.value_for_money).where(
                    NpsResponse.shop_id == shop_id
                )
            )
        ).all()
        invited = list(
            await session.scalars(
                select(NpsInvitation.status).where(
                    NpsInvitation.shop_id == shop_id, NpsInvitation.sent_at.is_not(None)
                )
            )
        )
        codes = list(
            await session.scalars(
                select(Cancellation.reason_code).where(
                    Cancellation.shop_id == shop_id, Cancellation.cancelled_at.is_not(None)
                )
            )
        )
        channels = set(await session.scalars(select(NpsResponse.channel)))
    assert channels == {"proxy", "extension", "link"}

    result = nps(np.array([r.score for r in rows], dtype=float))
    # 20 promoters (9–10), 6 passives (7–8), 8 detractors (0–6) of 34: 100 × 12 / 34.
    assert (result.n, result.promoters, result.passives, result.detractors) == (34, 20, 6, 8)
    assert result.score == 100 * 12 / 34

    perceived = value_perception(
        np.array([np.nan if r.value_for_money is None else r.value_for_money for r in rows])
    )
    given = [v for v in VALUE if v is not None]
    assert perceived.n == len(given) == 25 and perceived.mean == sum(given) / len(given)

    rate = response_rate(np.array([status == "answered" for status in invited]))
    assert (rate.numerator, rate.denominator) == (34, 40)

    mix = cancel_reason_mix(np.array(codes))
    assert mix.cancellations == 10
    assert (mix.capture.numerator, mix.capture.denominator) == (6, 10)
    assert mix.system_counts == {"unknown": 4}
    shares = {row.code: row.share for row in mix.reasons}
    assert shares == {
        "too_expensive": 0.5,
        "deliveries_too_often": 1 / 6,
        "other": 1 / 6,
        "budget": 1 / 6,
    }
    # The mix adds up: every cancellation has a reason, the customer's or a system one.
    assert sum(r.count for r in mix.reasons) + sum(mix.system_counts.values()) == 10
