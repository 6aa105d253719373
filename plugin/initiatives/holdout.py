"""A targeted initiative's members and its effect, treatment against holdout.

`draw_members` fixes the audience's members when the initiative starts and splits them
(uplift.split_members with a stored random seed). `holdout_effect` loads each member's
outcome over the initiative's window and hands arrays to the pure uplift functions.
Services never commit: the request or job boundary does.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import numpy as np
from sqlalchemy import case, func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from plugin.db.transaction import Tx
from plugin.flow.events import initiative_changed
from plugin.initiatives.audience import candidates, matches
from plugin.initiatives.catalogue import DONE, DROPPED, RUNNING
from plugin.initiatives.metrics import MEMBER_METRICS
from plugin.initiatives.uplift import (
    Judgement,
    Uplift,
    judge,
    mean_uplift,
    nps_uplift,
    ratio_uplift,
    retained,
    share_uplift,
    split_members,
)
from plugin.initiatives.validation import InitiativeInvalid
from plugin.models import (
    BillingAttempt,
    BillingAttemptStatus,
    Contract,
    ContractStatus,
    NpsResponse,
    Shop,
    Subscriber,
    SubscriberScore,
)
from plugin.models.initiative_members import (
    HOLDOUT,
    TREATMENT,
    InitiativeAudience,
    InitiativeMember,
)
from plugin.models.initiatives import Initiative
from plugin.scoring.localtime import shop_zone


@dataclass(frozen=True)
class HoldoutEffect:
    """The effect of a targeted initiative: treatment − holdout on its metric.
    period: [start, end) in shop days the outcomes cover (retention: start + horizon)."""

    method: str
    metric: str
    period: tuple[date, date] | None
    members: int
    holdout_share: float
    uplift: Uplift | None
    judgement: Judgement
    currency: str | None = None
    excluded: int = 0


async def get_audience(
    session: AsyncSession, shop_id: int, initiative_id: int
) -> InitiativeAudience | None:
    return await session.scalar(
        select(InitiativeAudience).where(
            InitiativeAudience.shop_id == shop_id,
            InitiativeAudience.initiative_id == initiative_id,
        )
    )


async def draw_members(
    session: AsyncSession, initiative: Initiative, audience: InitiativeAudience, now: datetime
) -> int:
    """Fix the audience's members now and split them; refuses (InitiativeInvalid) an audience
    no active subscriber matches. Drawing twice is refused by the caller's status rules."""
    shop = await session.get_one(Shop, initiative.shop_id)
    found = [
        c
        for c in await candidates(session, initiative.shop_id, shop_zone(shop.timezone))
        if matches(audience.filter, c)
    ]
    if len(found) < 2:
        raise InitiativeInvalid(
            "audience",
            f"matches {len(found)} active subscriber(s): a holdout needs at least 2",
        )
    seed = secrets.randbits(62)
    treatment, holdout = split_members(
        [c.subscriber_id for c in found], audience.holdout_share, seed
    )
    if not holdout:
        raise InitiativeInvalid(
            "audience", f"{len(found)} subscribers are too few for a holdout of this share"
        )
    currency = {c.subscriber_id: c.currency for c in found}
    rows = [
        {
            "initiative_id": initiative.id,
            "subscriber_id": sid,
            "shop_id": initiative.shop_id,
            "arm": arm,
            "currency": currency[sid],
        }
        for arm, ids in ((TREATMENT, treatment), (HOLDOUT, holdout))
        for sid in ids
    ]
    await session.execute(insert(InitiativeMember), rows)
    audience.seed = seed
    audience.drawn_at = now
    audience.members = len(rows)
    return len(rows)


def treatment_marker(initiative_id: int) -> str:
    """What marks an initiative's treatment group in Shopify (customer metafield list entry,
    optional tag, Flow trigger field), so the merchant's email or offer reaches only them."""
    return f"vh-initiative-{initiative_id}"


async def announce_status_change(tx: Tx, initiative: Initiative, previous_status: str) -> int:
    """Fire "initiative started" (or "ended") for each treatment member when a targeted
    initiative starts (or stops running); returns how many firings were recorded."""
    started = initiative.status == RUNNING and previous_status != RUNNING
    ended = previous_status == RUNNING and initiative.status in (DONE, DROPPED)
    if not (started or ended):
        return 0
    rows = await tx.session.execute(
        select(InitiativeMember.subscriber_id, Subscriber.customer_id)
        .join(Subscriber, Subscriber.id == InitiativeMember.subscriber_id)
        .where(
            InitiativeMember.shop_id == initiative.shop_id,
            InitiativeMember.initiative_id == initiative.id,
            InitiativeMember.arm == TREATMENT,
            Subscriber.shop_id == initiative.shop_id,
        )
    )
    treatment = {sid: customer_id for sid, customer_id in rows}
    if not treatment:
        return 0
    return await initiative_changed(
        tx,
        shop_id=initiative.shop_id,
        initiative_id=initiative.id,
        title=initiative.title,
        started=started,
        treatment=treatment,
        marker=treatment_marker(initiative.id),
    )


async def member_arms(session: AsyncSession, shop_id: int, initiative_id: int) -> dict[int, str]:
    rows = await session.execute(
        select(InitiativeMember.subscriber_id, InitiativeMember.arm).where(
            InitiativeMember.shop_id == shop_id, InitiativeMember.initiative_id == initiative_id
        )
    )
    return {sid: arm for sid, arm in rows}


def _start_instant(day: date, zone_name: str | None) -> datetime:
    return datetime.combine(day, time(0), shop_zone(zone_name)).astimezone(UTC)


def _as_utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


async def _days_to_churn(
    session: AsyncSession, shop_id: int, ids: list[int], start: datetime
) -> dict[int, float]:
    """Days from the start to each member's churn (their last contract ending); members with
    a contract still active or paused have none."""
    ended = case((Contract.status.in_(sorted(ContractStatus.ENDED)), 0), else_=1)
    rows = await session.execute(
        select(
            Contract.subscriber_id,
            func.max(ended),
            func.max(func.coalesce(Contract.ended_at, Contract.status_at)),
        )
        .where(Contract.shop_id == shop_id, Contract.subscriber_id.in_(ids))
        .group_by(Contract.subscriber_id)
    )
    out: dict[int, float] = {}
    for sid, still_on, last_end in rows:
        end = _as_utc(datetime.fromisoformat(last_end) if isinstance(last_end, str) else last_end)
        if not still_on and end is not None:
            out[sid] = (end - start).total_seconds() / 86_400
    return out


def _split(
    arms: Mapping[int, str], values: Mapping[int, Any], default: Any
) -> tuple[list[Any], list[Any]]:
    t = [values.get(sid, default) for sid, arm in sorted(arms.items()) if arm == TREATMENT]
    h = [values.get(sid, default) for sid, arm in sorted(arms.items()) if arm == HOLDOUT]
    return t, h


async def holdout_effect(
    session: AsyncSession,
    initiative: Initiative,
    audience: InitiativeAudience,
    today: date,
) -> HoldoutEffect:
    """Treatment − holdout on the initiative's member metric, as of the shop's day `today`."""
    metric = MEMBER_METRICS[initiative.target_metric]
    shop = await session.get_one(Shop, initiative.shop_id)
    share = audience.holdout_share

    def result(
        judgement: Judgement,
        uplift: Uplift | None = None,
        period: tuple[date, date] | None = None,
        currency: str | None = None,
        excluded: int = 0,
    ) -> HoldoutEffect:
        return HoldoutEffect(
            "holdout",
            metric.key,
            period,
            audience.members,
            share,
            uplift,
            judgement,
            currency,
            excluded,
        )

    if initiative.starts_on is None or audience.drawn_at is None:
        return result(Judgement("measuring", "not started: members are fixed at the start", None))
    days = metric.horizon_days or initiative.window_days
    period = (initiative.starts_on, initiative.starts_on + timedelta(days=days))
    over = today >= period[1]
    start = _start_instant(period[0], shop.timezone)
    end = _start_instant(period[1], shop.timezone)
    arms = await member_arms(session, initiative.shop_id, initiative.id)
    ids = sorted(arms)
    currency: str | None = None
    excluded = 0

    if metric.horizon_days is not None:
        churn = await _days_to_churn(session, initiative.shop_id, ids, start)
        t, h = _split(arms, churn, np.nan)
        kept_t, kept_h = retained(t, days), retained(h, days)
        uplift = share_uplift(int(kept_t.sum()), len(t), int(kept_h.sum()), len(h))
    elif metric.key in ("members.nps", "members.value_for_money"):
        column = NpsResponse.score if metric.key == "members.nps" else NpsResponse.value_for_money
        answers = await session.execute(
            select(NpsResponse.subscriber_id, column).where(
                NpsResponse.shop_id == initiative.shop_id,
                NpsResponse.subscriber_id.in_(ids),
                NpsResponse.answered_at >= start,
                NpsResponse.answered_at < end,
                column.is_not(None),
            )
        )
        answers_t: list[float] = []
        answers_h: list[float] = []
        for sid, value in answers:
            if value is not None:
                (answers_t if arms[sid] == TREATMENT else answers_h).append(float(value))
        if metric.key == "members.nps":
            uplift = nps_uplift(answers_t, answers_h)
        else:
            uplift = mean_uplift(answers_t, answers_h, "answers")
    elif metric.key == "members.billing_success":
        success = case((BillingAttempt.status == BillingAttemptStatus.SUCCESS, 1), else_=0)
        billed = await session.execute(
            select(Contract.subscriber_id, func.sum(success), func.count())
            .join(Contract, Contract.id == BillingAttempt.contract_pk)
            .where(
                BillingAttempt.shop_id == initiative.shop_id,
                Contract.subscriber_id.in_(ids),
                BillingAttempt.status.in_(
                    [BillingAttemptStatus.SUCCESS, BillingAttemptStatus.FAILURE]
                ),
                BillingAttempt.occurred_at >= start,
                BillingAttempt.occurred_at < end,
            )
            .group_by(Contract.subscriber_id)
        )
        counts = {sid: (int(x), int(n)) for sid, x, n in billed}
        t, h = _split(arms, counts, (0, 0))
        uplift = ratio_uplift(
            [x for x, _ in t], [n for _, n in t], [x for x, _ in h], [n for _, n in h]
        )
    else:  # members.mrr: the latest scores' MRR, 0 for a member who left; one currency
        member_currency = dict(
            (
                await session.execute(
                    select(InitiativeMember.subscriber_id, InitiativeMember.currency).where(
                        InitiativeMember.shop_id == initiative.shop_id,
                        InitiativeMember.initiative_id == initiative.id,
                    )
                )
            ).all()
        )
        known = [c for c in member_currency.values() if c]
        currency = max(set(known), key=known.count) if known else shop.currency
        mrr_rows = await session.execute(
            select(SubscriberScore.subscriber_id, SubscriberScore.mrr).where(
                SubscriberScore.shop_id == initiative.shop_id,
                SubscriberScore.subscriber_id.in_(ids),
            )
        )
        mrr = {sid: float(value or 0) for sid, value in mrr_rows}
        same = {
            sid: arm for sid, arm in arms.items() if member_currency.get(sid) in (currency, None)
        }
        excluded = len(arms) - len(same)
        t, h = _split(same, mrr, 0.0)
        uplift = mean_uplift(t, h, "subscribers")
    judgement = judge(
        uplift,
        expected_direction=initiative.expected_direction,
        expected_change=initiative.expected_change,
        over=over,
    )
    return result(judgement, uplift, period, currency, excluded)
