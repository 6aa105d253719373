"""The save-offer report of one shop: loads its cancel flows and hands them to the pure save-rate
functions (`plugin.value.save_rate`).

Which flows count: flows whose reason had an offer configured when they started (offered or
held out); flows with no offer are not an experiment. A subscriber who goes through the flow
more than once for the same contract counts once, with their first flow: later passes are not
independent of the first one's outcome. A contract is "kept" at day d when it had not ended d
days after the flow started (a paused contract has not ended).
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from plugin.models import Contract
from plugin.models.self_service import CancelFlow
from plugin.saveoffers.offers import describe, label
from plugin.value.save_rate import HORIZONS_DAYS, FlowOutcome, OfferResult, save_report

DAY_S = 86400.0


async def flow_outcomes(session: AsyncSession, shop_id: int, now: datetime) -> list[FlowOutcome]:
    rows = await session.execute(
        select(
            CancelFlow.contract_pk,
            CancelFlow.reason_code,
            CancelFlow.offer,
            CancelFlow.holdout,
            CancelFlow.outcome,
            CancelFlow.started_at,
            Contract.ended_at,
        )
        .join(Contract, Contract.id == CancelFlow.contract_pk)
        .where(CancelFlow.shop_id == shop_id, CancelFlow.started_at <= now)
        .order_by(CancelFlow.contract_pk, CancelFlow.started_at, CancelFlow.id)
    )
    seen: set[int] = set()
    outcomes = []
    for contract_pk, reason, offer, holdout, outcome, started, ended in rows:
        if not offer or contract_pk in seen:
            continue
        seen.add(contract_pk)
        ended_after = None
        if ended is not None and ended <= now:
            ended_after = max((ended - started).total_seconds() / DAY_S, 0.0)
        outcomes.append(
            FlowOutcome(
                reason=str(reason),
                offer=label(offer),
                holdout=bool(holdout),
                accepted=outcome == "accepted",
                age_days=(now - started).total_seconds() / DAY_S,
                ended_after_days=ended_after,
            )
        )
    return outcomes


def report_json(results: list[OfferResult]) -> list[dict[str, Any]]:
    rows = []
    for result in results:
        doc = asdict(result)
        for horizon in doc["horizons"]:
            interval = horizon.pop("interval")
            horizon["ci_low"] = None if interval is None else interval["low"]
            horizon["ci_high"] = None if interval is None else interval["high"]
        rows.append(doc)
    return rows


async def offer_texts(session: AsyncSession, shop_id: int) -> dict[str, str]:
    """Report label → the offer in words, for every offer a flow of the shop recorded."""
    offers = await session.scalars(
        select(CancelFlow.offer).where(CancelFlow.shop_id == shop_id, CancelFlow.offer.is_not(None))
    )
    return {label(offer): describe(offer) for offer in offers if offer}


async def shop_report(session: AsyncSession, shop_id: int, now: datetime) -> dict[str, Any]:
    flows = await flow_outcomes(session, shop_id, now)
    texts = await offer_texts(session, shop_id) if flows else {}
    rows = report_json(save_report(flows))
    for row in rows:
        row["offer_text"] = texts.get(row["offer"], row["offer"])
    return {
        "as_of": now.isoformat(),
        "horizons": list(HORIZONS_DAYS),
        "flows_counted": len(flows),
        "rows": rows,
    }
