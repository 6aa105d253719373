"""Measured effect of an initiative: its target metric over the N days from its start against
the N days before, from the shop's daily snapshots.

Windowed counts (NPS answers, billing attempts, …) in a daily snapshot cover the trailing
window that ends on its day, so a period is covered by snapshots whose windows tile it without
overlap, newest first: samples on the two sides never share an observation, which the tests
need. A period shorter than the metric's window therefore cannot be measured: the result says
so rather than comparing overlapping windows. Churn is counted per calendar month, so whole
months inside each period are compared.

`measure_effect` is pure (documents in, result out); `load_effect_inputs` reads only the parts
of the snapshots a metric needs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from plugin.initiatives.catalogue import DOWN, UP
from plugin.initiatives.metrics import TARGET_METRICS, TargetMetric
from plugin.initiatives.stats import MIN_CELL, compare_proportions
from plugin.models import MetricSnapshot
from plugin.models.initiatives import Initiative
from plugin.scoring.metrics_doc import metric_value
from plugin.scoring.store import DAY
from plugin.value.nps import compare_nps, nps_from_counts

Verdict = Literal[
    "not_started", "measuring", "not_enough_data", "real_change", "no_real_change", "untested"
]
Doc = Mapping[str, Any]
DatedDoc = tuple[date, Doc]


@dataclass(frozen=True)
class Effect:
    """before/after: the metric over each period (None when nothing covers it).
    change: after − before. days_before/days_after: days the data behind each side covers.
    verdict: real_change / no_real_change (tested), untested (a metric without a test),
    not_enough_data, measuring (the period after the start is not over yet), not_started.
    as_expected: the change goes the expected way by at least the expected size (and is
    real, for a tested metric); None until there is a verdict on complete periods."""

    metric: str
    method: str
    before_period: tuple[date, date] | None
    after_period: tuple[date, date] | None
    before: float | None
    after: float | None
    change: float | None
    days_before: int
    days_after: int
    z: float | None
    p_value: float | None
    verdict: Verdict
    reason: str | None
    as_expected: bool | None


@dataclass(frozen=True)
class Side:
    value: float | None
    days: int
    # For the tests: NPS (promoters, passives, detractors) or a proportion (x, n).
    counts: tuple[int, ...] | None
    reason: str | None


def periods(start: date, window_days: int) -> tuple[tuple[date, date], tuple[date, date]]:
    """([start − N, start − 1], [start, start + N − 1]), inclusive."""
    n = timedelta(days=window_days)
    return (start - n, start - timedelta(days=1)), (start, start + n - timedelta(days=1))


def window_of(doc: Doc, key: str) -> tuple[date, date] | None:
    """A snapshot's `window` or `driver_window` as inclusive dates (None when absent)."""
    raw = doc.get(key)
    if not isinstance(raw, Mapping):
        return None
    try:
        return date.fromisoformat(raw["start"]), date.fromisoformat(raw["end"])
    except (KeyError, TypeError, ValueError):
        return None


def tile(docs: Sequence[DatedDoc], key: str, first: date, last: date) -> list[Doc]:
    """Snapshots whose windows lie inside [first, last] without overlapping, newest first."""
    chosen: list[Doc] = []
    cursor = last
    for day, doc in sorted(docs, key=lambda d: d[0], reverse=True):
        if day > cursor:
            continue
        span = window_of(doc, key)
        if span is None or span[1] > cursor or span[0] < first:
            continue
        chosen.append(doc)
        cursor = span[0] - timedelta(days=1)
    return chosen


def _covered(docs: Sequence[Doc], key: str) -> int:
    total = 0
    for doc in docs:
        span = window_of(doc, key)
        if span is not None:
            total += (span[1] - span[0]).days + 1
    return total


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _side(
    metric: TargetMetric, docs: Sequence[DatedDoc], history: Sequence[Doc], span: tuple[date, date]
) -> Side:
    first, last = span
    if metric.method == "level":
        values = [
            float(v)
            for day, doc in docs
            if first <= day <= last and isinstance(v := metric_value(doc, metric.path), int | float)
        ]
        if not values:
            return Side(None, 0, None, "no daily snapshot in the period")
        return Side(sum(values) / len(values), len(values), None, None)

    if metric.method == "monthly":
        months = [
            m
            for m in history
            if isinstance(m.get("month"), str)
            and first <= date.fromisoformat(f"{m['month']}-01")
            and _month_last(date.fromisoformat(f"{m['month']}-01")) <= last
        ]
        if not months:
            return Side(None, 0, None, "no whole calendar month of churn history in the period")
        churned = sum(_int(m.get(metric.counts or "churned")) for m in months)
        base = sum(_int(m.get("active_at_start")) for m in months)
        days = sum((_month_last(date.fromisoformat(f"{m['month']}-01")).day) for m in months)
        value = churned / base if base else None
        return Side(value, days, (churned, base), None if base else "nobody was subscribed")

    assert metric.window is not None
    tiles = tile(docs, metric.window, first, last)
    if not tiles:
        return Side(
            None,
            0,
            None,
            f"no daily snapshot whose {_window_days(docs, metric.window)} lies in the period",
        )
    days = _covered(tiles, metric.window)
    if metric.method == "nps":
        p = sum(_int(metric_value(d, "nps.promoters")) for d in tiles)
        q = sum(_int(metric_value(d, "nps.passives")) for d in tiles)
        r = sum(_int(metric_value(d, "nps.detractors")) for d in tiles)
        n = p + q + r
        return Side(
            100.0 * (p - r) / n if n else None, days, (p, q, r), None if n else "no answers"
        )
    key = metric.counts or ""
    if metric.method == "mean":
        weights = [_int(metric_value(d, f"details.{key}.answers")) for d in tiles]
        values = [metric_value(d, metric.path) for d in tiles]
        pairs = [(w, float(v)) for w, v in zip(weights, values, strict=True) if w and v is not None]
        total = sum(w for w, _ in pairs)
        value = sum(w * v for w, v in pairs) / total if total else None
        return Side(value, days, None, None if total else "no answers in the period")
    x = sum(_int(metric_value(d, f"details.{key}.numerator")) for d in tiles)
    n = sum(_int(metric_value(d, f"details.{key}.denominator")) for d in tiles)
    return Side(x / n if n else None, days, (x, n), None if n else "nothing to count")


def _window_days(docs: Sequence[DatedDoc], key: str) -> str:
    for _, doc in docs:
        span = window_of(doc, key)
        if span is not None:
            return f"{(span[1] - span[0]).days + 1}-day window"
    return "window"


def _month_last(first: date) -> date:
    return (first.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)


def measure_effect(
    metric_path: str,
    *,
    starts_on: date | None,
    window_days: int,
    expected_direction: str,
    expected_change: float,
    today: date,
    docs: Sequence[DatedDoc],
    churn_history: Sequence[Doc] = (),
) -> Effect:
    """The effect on `metric_path` of something started on `starts_on`, as of `today` (the
    shop's current day: a period ending today is not over). `docs` are daily snapshots (the
    parts `snapshot_paths` names); `churn_history` the newest `churn.history`."""
    metric = TARGET_METRICS[metric_path]
    if expected_direction not in (UP, DOWN):
        raise ValueError(f"unknown direction {expected_direction!r}")

    def result(
        verdict: Verdict,
        reason: str | None,
        before: Side | None = None,
        after: Side | None = None,
        z: float | None = None,
        p_value: float | None = None,
        as_expected: bool | None = None,
        spans: tuple[tuple[date, date], tuple[date, date]] | None = None,
    ) -> Effect:
        b = before.value if before else None
        a = after.value if after else None
        return Effect(
            metric=metric.path,
            method=metric.method,
            before_period=spans[0] if spans else None,
            after_period=spans[1] if spans else None,
            before=b,
            after=a,
            change=a - b if a is not None and b is not None else None,
            days_before=before.days if before else 0,
            days_after=after.days if after else 0,
            z=z,
            p_value=p_value,
            verdict=verdict,
            reason=reason,
            as_expected=as_expected,
        )

    if starts_on is None or starts_on > today:
        return result("not_started", "the initiative has not started")
    spans = periods(starts_on, window_days)
    before = _side(metric, docs, churn_history, spans[0])
    after = _side(metric, docs, churn_history, spans[1])
    if spans[1][1] >= today:
        reason = f"the {window_days} days after the start end on {spans[1][1].isoformat()}"
        return result("measuring", reason, before, after, spans=spans)
    for side, name in ((before, "before"), (after, "after")):
        if side.value is None:
            return result(
                "not_enough_data", f"{name} the start: {side.reason}", before, after, spans=spans
            )
    assert before.value is not None and after.value is not None
    change = after.value - before.value
    moved = change > 0 if expected_direction == UP else change < 0
    big_enough = moved and abs(change) >= expected_change

    if metric.method in ("level", "mean"):
        return result(
            "untested",
            "no significance test for this metric: judge the direction and size",
            before,
            after,
            as_expected=big_enough,
            spans=spans,
        )
    if metric.method == "nps":
        assert before.counts is not None and after.counts is not None
        comparison = compare_nps(nps_from_counts(*before.counts), nps_from_counts(*after.counts))
        enough = comparison.z is not None and "not enough" not in (comparison.reason or "")
        if not enough:
            return result(
                "not_enough_data",
                comparison.reason,
                before,
                after,
                comparison.z,
                comparison.p_value,
                spans=spans,
            )
        real, z, p, why = (
            comparison.real_change,
            comparison.z,
            comparison.p_value,
            comparison.reason,
        )
    else:
        assert before.counts is not None and after.counts is not None
        (xb, nb), (xa, na) = before.counts, after.counts
        test = compare_proportions(xb, nb, xa, na)
        if test.z is None or min(xb, nb - xb, xa, na - xa) < MIN_CELL:
            return result(
                "not_enough_data", test.reason, before, after, test.z, test.p_value, spans=spans
            )
        real, z, p, why = test.real_change, test.z, test.p_value, test.reason
    return result(
        "real_change" if real else "no_real_change",
        why,
        before,
        after,
        z,
        p,
        as_expected=big_enough and real,
        spans=spans,
    )


# ---- loading ---------------------------------------------------------------------------------


def snapshot_paths(metric: TargetMetric) -> list[tuple[str, ...]]:
    """The parts of a daily snapshot the metric's measurement reads."""
    if metric.method == "level":
        return [tuple(metric.path.split("."))]
    if metric.method == "monthly":
        return []
    assert metric.window is not None
    parts: list[tuple[str, ...]] = [(metric.window,)]
    if metric.method == "nps":
        parts.append(("nps",))
    else:
        parts += [tuple(metric.path.split(".")), ("details", metric.counts or "")]
    return parts


def _assemble(paths: Sequence[tuple[str, ...]], values: Sequence[Any]) -> dict[str, Any]:
    doc: dict[str, Any] = {}
    for path, value in zip(paths, values, strict=True):
        node = doc
        for part in path[:-1]:
            node = node.setdefault(part, {})
        node[path[-1]] = value
    return doc


async def load_effect_inputs(
    session: AsyncSession, shop_id: int, initiative: Initiative, today: date
) -> tuple[list[DatedDoc], list[Doc]]:
    """The daily snapshot parts and churn history `measure_effect` needs for one initiative."""
    metric = TARGET_METRICS[initiative.target_metric]
    if initiative.starts_on is None:
        return [], []
    (first, _), (_, last) = periods(initiative.starts_on, initiative.window_days)
    snap = MetricSnapshot.__table__
    docs: list[DatedDoc] = []
    paths = snapshot_paths(metric)
    if paths:
        rows = await session.execute(
            select(snap.c.period_start, *(snap.c.metrics[p] for p in paths))
            .where(
                snap.c.shop_id == shop_id,
                snap.c.period == DAY,
                snap.c.period_start >= first,
                snap.c.period_start <= min(last, today),
            )
            .order_by(snap.c.period_start)
        )
        docs = [(row[0], _assemble(paths, row[1:])) for row in rows]
    history: list[Doc] = []
    if metric.method == "monthly":
        raw = await session.scalar(
            select(snap.c.metrics[("churn", "history")])
            .where(snap.c.shop_id == shop_id, snap.c.period == DAY, snap.c.period_start <= today)
            .order_by(snap.c.period_start.desc())
            .limit(1)
        )
        history = [m for m in raw or [] if isinstance(m, Mapping)]
    return docs, history


async def initiative_effect(
    session: AsyncSession, shop_id: int, initiative: Initiative, today: date
) -> Effect:
    """Load and measure one initiative's effect as of the shop's day `today`."""
    docs, history = await load_effect_inputs(session, shop_id, initiative, today)
    return measure_effect(
        initiative.target_metric,
        starts_on=initiative.starts_on,
        window_days=initiative.window_days,
        expected_direction=initiative.expected_direction,
        expected_change=initiative.expected_change,
        today=today,
        docs=docs,
        churn_history=history,
    )
