"""A subscriber's story for the workspace: the signals behind their churn risk, and their
timeline (orders, deliveries, billing attempts, skips, pauses, status changes, answers).

Read-only and scoped to one shop, like every read. The signals are the fixed-rule risk
inputs (`plugin.value.risk.FIXED_ODDS_MULTIPLIERS`) counted over the same 90 days the engine
uses, strongest first, so "why" on the page names what actually raised the risk under the
fixed rules; under a shop's own logistic model they are the same observable behaviour,
listed as evidence rather than as the model's weights.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from plugin.models import (
    BillingAttempt,
    BillingAttemptStatus,
    Cancellation,
    Contract,
    ContractChange,
    ContractStatusEvent,
    NpsResponse,
    Order,
)
from plugin.value.risk import FIXED_COUNT_CAPS, FIXED_ODDS_MULTIPLIERS

SIGNAL_WINDOW = timedelta(days=90)
DETRACTOR_WINDOW = timedelta(days=365)
TIMELINE_LIMIT = 200  # events per kind: a long-lived subscriber's page stays bounded
_CHANGE_SIGNALS = {
    "cancel_attempt": "cancel_attempt",
    "skip": "skip",
    "pause": "paused",
    "cadence_reason": "cadence_complaint",
}


def _strength(signal: dict[str, Any]) -> float:
    """The odds multiplier the signal applies under the fixed rules (counts capped)."""
    name = signal["signal"]
    per = FIXED_ODDS_MULTIPLIERS.get(name, 1.0)
    count = min(int(signal.get("count", 1)), FIXED_COUNT_CAPS.get(name, 1))
    return float(per**count)


async def risk_signals(
    session: AsyncSession, shop_id: int, subscriber_ids: Sequence[int], now: datetime
) -> dict[int, list[dict[str, Any]]]:
    """subscriber id → [{signal, count, score?}], strongest first; [] for no signal."""
    ids = list(subscriber_ids)
    out: dict[int, list[dict[str, Any]]] = {sid: [] for sid in ids}
    if not ids:
        return out
    since = now - SIGNAL_WINDOW
    c = Contract.__table__
    ba = BillingAttempt.__table__
    failed = await session.execute(
        select(c.c.subscriber_id, func.count())
        .select_from(ba.join(c, c.c.id == ba.c.contract_pk))
        .where(
            ba.c.shop_id == shop_id,
            c.c.shop_id == shop_id,
            c.c.subscriber_id.in_(ids),
            ba.c.status == BillingAttemptStatus.FAILURE,
            ba.c.occurred_at >= since,
        )
        .group_by(c.c.subscriber_id)
    )
    for sid, n in failed:
        out[sid].append({"signal": "failed_payment", "count": int(n)})
    ch = ContractChange.__table__
    changes = await session.execute(
        select(c.c.subscriber_id, ch.c.kind, func.count())
        .select_from(ch.join(c, c.c.id == ch.c.contract_pk))
        .where(
            ch.c.shop_id == shop_id,
            c.c.shop_id == shop_id,
            c.c.subscriber_id.in_(ids),
            ch.c.kind.in_(tuple(_CHANGE_SIGNALS)),
            ch.c.occurred_at >= since,
        )
        .group_by(c.c.subscriber_id, ch.c.kind)
    )
    for sid, kind, n in changes:
        out[sid].append({"signal": _CHANGE_SIGNALS[kind], "count": int(n)})
    nr = NpsResponse.__table__
    latest = (
        select(nr.c.subscriber_id, func.max(nr.c.answered_at).label("at"))
        .where(nr.c.shop_id == shop_id, nr.c.subscriber_id.in_(ids))
        .group_by(nr.c.subscriber_id)
        .subquery()
    )
    answers = await session.execute(
        select(nr.c.subscriber_id, nr.c.score)
        .join(
            latest,
            (latest.c.subscriber_id == nr.c.subscriber_id) & (latest.c.at == nr.c.answered_at),
        )
        .where(nr.c.shop_id == shop_id, nr.c.answered_at >= now - DETRACTOR_WINDOW)
    )
    for sid, score in answers:
        if score is not None and score <= 6:
            out[sid].append({"signal": "detractor", "count": 1, "score": int(score)})
    for signals in out.values():
        signals.sort(key=_strength, reverse=True)
    return out


def _iso(value: Any) -> str | None:
    return None if value is None else value.isoformat()


async def timeline(session: AsyncSession, shop_id: int, subscriber_id: int) -> list[dict[str, Any]]:
    """Everything that happened to the subscriber's contracts, newest first.

    Each event: {at, kind, text, contract_id?, detail?}; `text` is a plain sentence.
    """
    c = Contract.__table__
    contracts = {
        row.id: row
        for row in await session.execute(
            select(c.c.id, c.c.contract_id, c.c.plan_name, c.c.started_at).where(
                c.c.shop_id == shop_id, c.c.subscriber_id == subscriber_id
            )
        )
    }
    if not contracts:
        return []
    pks = list(contracts)
    events: list[dict[str, Any]] = []

    def add(at: Any, kind: str, text: str, pk: int | None = None, **extra: Any) -> None:
        if at is None:
            return
        event = {"at": _iso(at), "kind": kind, "text": text}
        if pk is not None:
            event["contract_id"] = contracts[pk].contract_id
        event.update({k: v for k, v in extra.items() if v is not None})
        events.append(event)

    row: Any  # one loop variable for rows of several shapes
    for row in contracts.values():
        add(row.started_at, "started", f"Subscribed to {row.plan_name or 'a plan'}", row.id)
    o = Order.__table__
    for row in await session.execute(
        select(
            o.c.order_id,
            o.c.contract_pk,
            o.c.created_at_shop,
            o.c.total,
            o.c.currency,
            o.c.fulfilled_at,
            o.c.delivered_at,
        )
        .where(o.c.shop_id == shop_id, o.c.contract_pk.in_(pks))
        .order_by(o.c.created_at_shop.desc())
        .limit(TIMELINE_LIMIT)
    ):
        amount = f" ({row.total} {row.currency})" if row.total is not None else ""
        add(
            row.created_at_shop,
            "order",
            f"Order {row.order_id}{amount}",
            row.contract_pk,
            order_id=row.order_id,
        )
        add(row.delivered_at, "delivery", f"Order {row.order_id} delivered", row.contract_pk)
    ba = BillingAttempt.__table__
    for row in await session.execute(
        select(ba.c.contract_pk, ba.c.status, ba.c.error_code, ba.c.occurred_at)
        .where(ba.c.shop_id == shop_id, ba.c.contract_pk.in_(pks))
        .order_by(ba.c.occurred_at.desc())
        .limit(TIMELINE_LIMIT)
    ):
        if row.status == BillingAttemptStatus.SUCCESS:
            text = "Renewal charge succeeded"
        elif row.status == BillingAttemptStatus.FAILURE:
            text = "Renewal charge failed" + (f" ({row.error_code})" if row.error_code else "")
        else:
            text = "Renewal charge waiting for the customer (3-D Secure)"
        add(row.occurred_at, f"billing_{row.status}", text, row.contract_pk)
    ch = ContractChange.__table__
    change_text = {
        "skip": "Skipped a delivery",
        "delay": "Delayed a delivery",
        "reschedule": "Rescheduled a delivery",
        "frequency_change": "Changed how often deliveries come",
        "pause": "Paused",
        "cancel_attempt": "Started to cancel, then stayed",
        "cadence_reason": "Said they get too much product",
    }
    for row in await session.execute(
        select(ch.c.contract_pk, ch.c.kind, ch.c.source, ch.c.occurred_at)
        .where(ch.c.shop_id == shop_id, ch.c.contract_pk.in_(pks))
        .order_by(ch.c.occurred_at.desc())
        .limit(TIMELINE_LIMIT)
    ):
        who = {
            "subscriber": " (by the subscriber)",
            "customer": " (by the subscriber)",
            "merchant": " (by you)",
        }.get(row.source, "")
        text = change_text.get(row.kind, f"Changed the subscription ({row.kind})")
        add(row.occurred_at, row.kind, text + who, row.contract_pk)
    se = ContractStatusEvent.__table__
    for row in await session.execute(
        select(se.c.contract_pk, se.c.status, se.c.occurred_at)
        .where(se.c.shop_id == shop_id, se.c.contract_pk.in_(pks))
        .order_by(se.c.occurred_at.desc())
        .limit(TIMELINE_LIMIT)
    ):
        if row.status == "active" and row.occurred_at == contracts[row.contract_pk].started_at:
            continue  # the start itself, already told as "Subscribed to …"
        add(row.occurred_at, "status", f"Subscription {row.status}", row.contract_pk)
    nr = NpsResponse.__table__
    for row in await session.execute(
        select(nr.c.score, nr.c.value_for_money, nr.c.comment, nr.c.answered_at)
        .where(nr.c.shop_id == shop_id, nr.c.subscriber_id == subscriber_id)
        .order_by(nr.c.answered_at.desc())
        .limit(TIMELINE_LIMIT)
    ):
        vfm = f", value for money {row.value_for_money}/5" if row.value_for_money else ""
        add(
            row.answered_at,
            "answer",
            f"Answered the survey: {row.score}/10{vfm}",
            comment=row.comment,
            score=row.score,
        )
    cn = Cancellation.__table__
    for row in await session.execute(
        select(cn.c.contract_pk, cn.c.cancelled_at, cn.c.reason_code, cn.c.comment).where(
            cn.c.shop_id == shop_id, cn.c.contract_pk.in_(pks)
        )
    ):
        reason = f": {row.reason_code.replace('_', ' ')}" if row.reason_code else ""
        add(
            row.cancelled_at,
            "cancellation",
            f"Cancelled{reason}",
            row.contract_pk,
            comment=row.comment,
        )
    events.sort(key=lambda e: e["at"], reverse=True)
    return events
