"""Save-offer history for the demo shop, laid over the replayed history so the Save offers page
has figures.

What is taken from the replayed history: who cancelled, when and why (the cancel-reason
answers), which subscriptions were live at a given moment, and what became of each one later
(its end, if any). What is assumed, because the simulated history has no save offers in it:
- the merchant's offers (`DEMO_OFFERS`) from 240 days before the end, and a holdout of 25%
  (`DEMO_HOLDOUT`; a real shop starts at 10%): with a tenth of a demo shop's few hundred
  flows held out, every figure would still read "cannot tell yet";
- every customer cancellation with a reason in that window went through the cancel flow; its
  subscriber's arm is the real holdout hash of the shop's key;
- in the offered arm an offer of kind k saves `SAVE_SHARE[k]` of those who would have cancelled:
  for each offered cancellation, on average SAVE_SHARE/(1 − SAVE_SHARE) extra flows are made for
  subscribers who were live then and accepted (what happened to them afterwards is their
  replayed history, so some of them still leave within 90 days: acceptance overstates saving);
- in both arms `ABANDON_SHARE` of flows are abandoned (the subscriber leaves the flow and stays),
  which is why a holdout keeps some subscribers without any offer.
Nothing here changes contracts or metrics: only the flows, their steps and the offer settings.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
from sqlalchemy import select

from plugin.db.transaction import transaction
from plugin.models import Cancellation, Contract, ReasonSource, Subscriber
from plugin.models.self_service import CancelFlow, CancelFlowStep
from plugin.runtime import Runtime
from plugin.saveoffers.offers import in_holdout, offer_settings

DEMO_OFFERS: dict[str, dict[str, object]] = {
    "too_expensive": {"kind": "discount", "percentage": 20, "orders": 3},
    "budget": {"kind": "discount", "percentage": 15, "orders": 2},
    "deliveries_too_often": {"kind": "cadence"},
    "too_much_product": {"kind": "skip"},
    "taking_a_break": {"kind": "pause", "months": 2},
    "no_longer_needed": {"kind": "pause", "months": 1},
}
DEMO_HOLDOUT = 0.25
SAVE_SHARE = {"discount": 0.30, "cadence": 0.35, "skip": 0.20, "pause": 0.25}
ABANDON_SHARE = 0.06
WINDOW_DAYS = 240
CHANNELS = ("proxy", "extension")


@dataclass(frozen=True)
class _Live:
    contract_pk: int
    subscriber_id: int
    customer_id: int
    started_at: datetime
    ended_at: datetime | None


def _live_at(candidates: Sequence[_Live], at: datetime) -> list[_Live]:
    return [
        c
        for c in candidates
        if c.started_at < at and (c.ended_at is None or c.ended_at > at + timedelta(days=1))
    ]


async def seed_save_offers(runtime: Runtime, shop_id: int, *, end: datetime, seed: int) -> int:
    """Configure the demo's offers and write its cancel flows; returns how many flows."""
    rng = np.random.default_rng(seed + 1303)
    start = end - timedelta(days=WINDOW_DAYS)
    async with transaction(runtime.sessionmaker, None) as tx:
        session = tx.session
        settings = await offer_settings(session, shop_id)
        settings.offers = dict(DEMO_OFFERS)
        settings.holdout_share = DEMO_HOLDOUT
        # The arms are the hash's, as in a real shop; the key comes from the seed so that a
        # rebuild with the same seed gives the same demo.
        settings.holdout_key = hashlib.sha256(
            f"valuehealth-demo-holdout:{seed}".encode()
        ).hexdigest()
        cancels = (
            await session.execute(
                select(
                    Cancellation.contract_pk,
                    Cancellation.subscriber_id,
                    Subscriber.customer_id,
                    Cancellation.reason_code,
                    Cancellation.answered_at,
                )
                .join(Subscriber, Subscriber.id == Cancellation.subscriber_id)
                .where(
                    Cancellation.shop_id == shop_id,
                    Cancellation.reason_source == ReasonSource.CUSTOMER,
                    Cancellation.cancelled_at >= start,
                    Cancellation.cancelled_at < end,
                )
                .order_by(Cancellation.answered_at, Cancellation.contract_pk)
            )
        ).all()
        contracts = [
            _Live(*row)
            for row in await session.execute(
                select(
                    Contract.id,
                    Contract.subscriber_id,
                    Subscriber.customer_id,
                    Contract.started_at,
                    Contract.ended_at,
                )
                .join(Subscriber, Subscriber.id == Contract.subscriber_id)
                .where(Contract.shop_id == shop_id)
                .order_by(Contract.id)
            )
        ]
        used: set[int] = {row.contract_pk for row in cancels}
        flows = 0

        def add(
            live: tuple[int, int], reason: str, at: datetime, holdout: bool, outcome: str
        ) -> None:
            nonlocal flows
            offer = DEMO_OFFERS.get(reason)
            shown = offer is not None and not holdout
            flow = CancelFlow(
                shop_id=shop_id,
                contract_pk=live[0],
                subscriber_id=live[1],
                reason_code=reason,
                channel=CHANNELS[int(rng.integers(0, 2))],
                holdout=holdout,
                offer=offer,
                offer_shown=shown,
                outcome=outcome,
                started_at=at,
                decided_at=None if outcome == "open" else at + timedelta(minutes=2),
            )
            session.add(flow)
            flows += 1
            pending.append((flow, offer, shown))

        pending: list[tuple[CancelFlow, dict[str, object] | None, bool]] = []
        for contract_pk, subscriber_id, customer_id, reason, answered in cancels:
            reason = str(reason)
            if answered is None or answered < start:
                continue
            holdout = in_holdout(settings, customer_id)
            add((contract_pk, subscriber_id), reason, answered, holdout, "cancelled")
            offer = DEMO_OFFERS.get(reason)
            # Those the flow did not lose: abandoners in both arms, savers where an offer shows.
            extra = ABANDON_SHARE / (1 - ABANDON_SHARE)
            saved = 0.0
            if offer is not None and not holdout:
                share = SAVE_SHARE[str(offer["kind"])]
                saved = share / (1 - share)
            for outcome, mean in (("open", extra), ("accepted", saved)):
                for _ in range(int(rng.poisson(mean))):
                    at = answered - timedelta(days=float(rng.uniform(0, 20)))
                    pool = [
                        c
                        for c in _live_at(contracts, at)
                        if c.contract_pk not in used
                        and in_holdout(settings, c.customer_id) == holdout
                    ]
                    if not pool:
                        continue
                    pick = pool[int(rng.integers(0, len(pool)))]
                    used.add(pick.contract_pk)
                    add((pick.contract_pk, pick.subscriber_id), reason, at, holdout, outcome)
        await session.flush()
        for flow, offer, shown in pending:
            steps: list[tuple[str, dict[str, object]]] = [
                ("reason_given", {"reason": flow.reason_code})
            ]
            if offer is None:
                steps.append(("no_offer", {}))
            else:
                steps.append(("offer_shown" if shown else "held_out", {"offer": offer}))
            if flow.outcome == "accepted":
                steps.append(("offer_accepted", {}))
            elif flow.outcome == "cancelled":
                steps.append(("cancel_confirmed", {}))
            for step, detail in steps:
                session.add(
                    CancelFlowStep(
                        shop_id=shop_id,
                        flow_id=flow.id,
                        step=step,
                        detail=detail,
                        occurred_at=flow.started_at,
                    )
                )
    return flows
