"""An initiative's audience: a saved filter of the Subscribers list, checked and matched.

Filter fields (all optional, all must hold; an empty filter is refused, a shop-wide
initiative simply has no audience):
    segment       the value segment of the latest scores (plugin.value.codes.SEGMENT_NAMES)
    plan          the plan name of one of the subscriber's active contracts
    cadence       "<interval>:<count>" billing cadence of an active contract, e.g. "month:1"
    cohort        "YYYY-MM", the month (shop time) of the subscriber's first contract
    currency      ISO code of the subscriber's scored MRR
    nps_category  promoter / passive / detractor of the latest answer, or "none"
`matches` is pure; `candidates` loads one shop's active subscribers with what the filter reads.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from plugin.models import Contract, ContractStatus, SubscriberScore
from plugin.value.codes import SEGMENT_NAMES
from plugin.value.nps import category as nps_category

SEGMENTS = frozenset(SEGMENT_NAMES.values())
NPS_CATEGORIES = ("promoter", "passive", "detractor", "none")
INTERVALS = ("day", "week", "month", "year")
CADENCE = re.compile(r"^(day|week|month|year):([1-9][0-9]{0,2})$")
COHORT = re.compile(r"^(20[0-9]{2})-(0[1-9]|1[0-2])$")
CURRENCY = re.compile(r"^[A-Z]{3}$")
MAX_PLAN = 255
FIELDS = ("segment", "plan", "cadence", "cohort", "currency", "nps_category")


@dataclass(frozen=True)
class Candidate:
    """An active subscriber as the filter sees them."""

    subscriber_id: int
    segment: str | None
    currency: str | None
    nps_last: int | None
    cohort: str | None
    plans: frozenset[str]
    cadences: frozenset[str]


def matches(audience: Mapping[str, str], who: Candidate) -> bool:
    """Whether one subscriber passes every filter of the audience."""
    checks = {
        "segment": lambda v: who.segment == v,
        "plan": lambda v: v in who.plans,
        "cadence": lambda v: v in who.cadences,
        "cohort": lambda v: who.cohort == v,
        "currency": lambda v: who.currency == v,
        "nps_category": lambda v: nps_category(who.nps_last) == v,
    }
    return all(checks[name](value) for name, value in audience.items())


async def candidates(session: AsyncSession, shop_id: int, zone: ZoneInfo) -> list[Candidate]:
    """The shop's subscribers with at least one active contract, with their filter fields."""
    first_start = (
        select(Contract.subscriber_id, func.min(Contract.started_at).label("first"))
        .where(Contract.shop_id == shop_id)
        .group_by(Contract.subscriber_id)
        .subquery()
    )
    active = await session.execute(
        select(
            Contract.subscriber_id,
            Contract.plan_name,
            Contract.billing_interval,
            Contract.billing_interval_count,
        ).where(Contract.shop_id == shop_id, Contract.status == ContractStatus.ACTIVE)
    )
    plans: dict[int, set[str]] = {}
    cadences: dict[int, set[str]] = {}
    for subscriber_id, plan, interval, count in active:
        plans.setdefault(subscriber_id, set())
        cadences.setdefault(subscriber_id, set()).add(f"{interval}:{count}")
        if plan:
            plans[subscriber_id].add(plan)
    if not cadences:
        return []
    rows = await session.execute(
        select(
            first_start.c.subscriber_id,
            first_start.c.first,
            SubscriberScore.segment,
            SubscriberScore.currency,
            SubscriberScore.nps_last,
        )
        .outerjoin(
            SubscriberScore,
            (SubscriberScore.shop_id == shop_id)
            & (SubscriberScore.subscriber_id == first_start.c.subscriber_id),
        )
        .where(first_start.c.subscriber_id.in_(list(cadences)))
    )
    found = []
    for subscriber_id, first, segment, currency, nps_last in rows:
        cohort = _month(first, zone)
        found.append(
            Candidate(
                subscriber_id,
                segment,
                currency,
                nps_last,
                cohort,
                frozenset(plans[subscriber_id]),
                frozenset(cadences[subscriber_id]),
            )
        )
    return found


def _month(instant: datetime | str | None, zone: ZoneInfo) -> str | None:
    if instant is None:
        return None
    if isinstance(instant, str):  # SQLite may hand an aggregate back as text
        instant = datetime.fromisoformat(instant)
    if instant.tzinfo is None:
        instant = instant.replace(tzinfo=UTC)
    return instant.astimezone(zone).strftime("%Y-%m")
