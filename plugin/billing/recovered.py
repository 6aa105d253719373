"""Recovered revenue: failed cycles later paid, per month.

Definition: the amount of each billing cycle whose charge failed at least once and that a
dunning retry then paid, counted in the month (shop time) the paying retry succeeded, per
currency (never converted). The amount is the contract's recurring amount when the cycle was
first charged (tax and shipping excluded, as MRR). Cycles paid by their first charge, and
failed cycles never paid, add nothing.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from plugin.models import DunningCase
from plugin.models.billing import DunningStatus
from plugin.scoring.localtime import shop_zone


@dataclass(frozen=True)
class RecoveredMonth:
    month: str  # YYYY-MM, shop time
    currency: str
    amount: Decimal
    cycles: int


async def recovered_by_month(
    session: AsyncSession, shop_id: int, timezone: str, since: datetime | None = None
) -> list[RecoveredMonth]:
    query = select(DunningCase.closed_at, DunningCase.amount, DunningCase.currency).where(
        DunningCase.shop_id == shop_id,
        DunningCase.status == DunningStatus.RECOVERED,
        DunningCase.closed_at.is_not(None),
    )
    if since is not None:
        query = query.where(DunningCase.closed_at >= since)
    zone = shop_zone(timezone)
    totals: dict[tuple[str, str], list[Decimal]] = defaultdict(list)
    for closed_at, amount, currency in (await session.execute(query)).all():
        assert closed_at is not None  # filtered above
        month = closed_at.astimezone(zone).strftime("%Y-%m")
        totals[(month, currency or "")].append(Decimal(amount or 0))
    return [
        RecoveredMonth(month, currency, sum(amounts, Decimal(0)), len(amounts))
        for (month, currency), amounts in sorted(totals.items())
    ]
