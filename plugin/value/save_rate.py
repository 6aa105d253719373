"""The true save rate of a save offer: how many more subscribers are still subscribed some days
after the cancel flow when they were offered something than when they were held out.

Acceptance (clicked "yes") is not saving: some who accept cancel a month later, and some who
are shown nothing stay anyway. So for each horizon d (30, 60, 90 days) and each (reason, offer):

    kept_offered(d) = offered flows whose contract had not ended d days after the flow began
                      / offered flows at least d days old
    kept_holdout(d) = the same over holdout flows (same reason, same offer configured, not shown)
    true save rate(d) = kept_offered(d) − kept_holdout(d)

with a 95% interval for the difference of two independent proportions by Newcombe's hybrid
score method (Newcombe 1998, "Interval estimation for the difference between independent
proportions", Statistics in Medicine 17:873–890, method 10), built from Wilson score intervals;
it stays inside [−1, 1] and behaves at small counts where the Wald interval does not.
Pure functions over plain values: no database.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

HORIZONS_DAYS: tuple[int, ...] = (30, 60, 90)
Z95 = 1.959963984540054


@dataclass(frozen=True)
class FlowOutcome:
    """One cancel flow, as the report needs it.

    age_days: days from the flow's start to the report day. ended_after_days: days from the
    flow's start to the contract's end, None while it has not ended (paused is not ended)."""

    reason: str
    offer: str
    holdout: bool
    accepted: bool
    age_days: float
    ended_after_days: float | None


@dataclass(frozen=True)
class Interval:
    low: float
    high: float


@dataclass(frozen=True)
class HorizonResult:
    days: int
    offered_n: int
    offered_kept: int
    holdout_n: int
    holdout_kept: int
    kept_offered: float | None
    kept_holdout: float | None
    save_rate: float | None  # kept_offered − kept_holdout
    interval: Interval | None
    note: str | None = None  # why there is no figure, in plain words


@dataclass(frozen=True)
class OfferResult:
    reason: str
    offer: str
    offered: int
    accepted: int
    acceptance_rate: float | None
    holdout: int
    horizons: list[HorizonResult] = field(default_factory=list)


def wilson(kept: int, n: int, z: float = Z95) -> Interval:
    """Wilson score interval of a proportion kept/n (n > 0)."""
    p = kept / n
    centre = p + z * z / (2 * n)
    spread = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    denominator = 1 + z * z / n
    return Interval((centre - spread) / denominator, (centre + spread) / denominator)


def newcombe_difference(x1: int, n1: int, x2: int, n2: int, z: float = Z95) -> Interval:
    """95% interval of x1/n1 − x2/n2 (Newcombe's method 10)."""
    if n1 <= 0 or n2 <= 0:
        raise ValueError("both samples need at least one observation")
    p1, p2 = x1 / n1, x2 / n2
    a, b = wilson(x1, n1, z), wilson(x2, n2, z)
    d = p1 - p2
    low = d - math.sqrt((p1 - a.low) ** 2 + (b.high - p2) ** 2)
    high = d + math.sqrt((a.high - p1) ** 2 + (p2 - b.low) ** 2)
    return Interval(low, high)


def _kept(flows: Iterable[FlowOutcome], days: int) -> tuple[int, int]:
    mature = [f for f in flows if f.age_days >= days]
    kept = sum(1 for f in mature if f.ended_after_days is None or f.ended_after_days > days)
    return kept, len(mature)


def horizon_result(
    offered: Sequence[FlowOutcome], holdout: Sequence[FlowOutcome], days: int
) -> HorizonResult:
    x1, n1 = _kept(offered, days)
    x2, n2 = _kept(holdout, days)
    p1 = x1 / n1 if n1 else None
    p2 = x2 / n2 if n2 else None
    if p1 is None or p2 is None:
        note = f"no flow is {days} days old yet in " + (
            "either arm"
            if p1 is None and p2 is None
            else "the offered arm"
            if p1 is None
            else "the holdout"
        )
        return HorizonResult(days, n1, x1, n2, x2, p1, p2, None, None, note)
    return HorizonResult(days, n1, x1, n2, x2, p1, p2, p1 - p2, newcombe_difference(x1, n1, x2, n2))


def save_report(
    flows: Sequence[FlowOutcome], horizons: Sequence[int] = HORIZONS_DAYS
) -> list[OfferResult]:
    """One row per (reason, offer) that had an offer configured, sorted by reason and offer."""
    groups: dict[tuple[str, str], list[FlowOutcome]] = {}
    for flow in flows:
        groups.setdefault((flow.reason, flow.offer), []).append(flow)
    results = []
    for (reason, offer), members in sorted(groups.items()):
        offered = [f for f in members if not f.holdout]
        holdout = [f for f in members if f.holdout]
        accepted = sum(1 for f in offered if f.accepted)
        results.append(
            OfferResult(
                reason=reason,
                offer=offer,
                offered=len(offered),
                accepted=accepted,
                acceptance_rate=accepted / len(offered) if offered else None,
                holdout=len(holdout),
                horizons=[horizon_result(offered, holdout, days) for days in horizons],
            )
        )
    return results
