"""Build the monthly value review pack from the month's stored snapshot and the month before.

    pack = await build_review(session, shop_id, "2026-10")

Source: the month's `MetricSnapshot` (period "month", its first day), which holds the month's
figures as of its last day once it is over (until then, as of today), and the previous
month's for comparison. A change is called real only by a test on counts that do not overlap:
the NPS z test of the engine, the two-proportion z test for rates. Windowed figures of two
months overlap when a window is longer than a month (the 90-day value-driver window; the
30-day window in February): such changes are shown but not tested, or, for NPS, tested against
the window before (the engine's own comparison stored in the snapshot).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from plugin.initiatives.effect import Effect, initiative_effect, window_of
from plugin.initiatives.holdout import HoldoutEffect, get_audience, holdout_effect
from plugin.initiatives.metrics import MEMBER_METRICS, TARGET_METRICS
from plugin.initiatives.stats import compare_proportions
from plugin.models import MetricSnapshot, Shop
from plugin.models.initiatives import Initiative
from plugin.review.changes import what_changed
from plugin.review.pack import (
    ChangeTest,
    InitiativeItem,
    ReviewError,
    ReviewNotAvailable,
    ReviewPack,
    Row,
    Section,
    Unit,
)
from plugin.scoring.localtime import local_today, shop_zone
from plugin.scoring.metrics_doc import metric_value
from plugin.scoring.reads import snapshot
from plugin.scoring.store import MONTH
from plugin.value.nps import NpsResult, compare_nps, nps_from_counts

Doc = Mapping[str, Any]
# Orders after which the pack reports churn (the first orders are where subscriptions break).
CHURN_AFTER_ORDERS = (1, 2, 3)
CHURN_SOURCES = (
    ("voluntary", "Voluntary churn (customer)"),
    ("involuntary", "Involuntary churn (billing failure)"),
    ("merchant", "Churn by merchant"),
    ("expired", "Expired (last cycle reached)"),
    ("unknown", "Churn, source unknown"),
)


def parse_month(text: str) -> date:
    """`YYYY-MM` → the month's first day; ReviewError naming the month otherwise."""
    year, sep, month = text.partition("-")
    if not (
        sep
        and len(year) == 4
        and len(month) == 2
        and (year + month).isascii()
        and (year + month).isdigit()
    ):
        raise ReviewError(f"month must be YYYY-MM, got {text!r}")
    if int(year) < 1:
        raise ReviewError(f"there is no year {year} in {text!r}")
    if not 1 <= int(month) <= 12:
        raise ReviewError(f"there is no month {month} in {text!r}")
    return date(int(year), int(month), 1)


def previous_month(first: date) -> date:
    return (first - timedelta(days=1)).replace(day=1)


def month_last_day(first: date) -> date:
    return (first.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)


# ---- rows ------------------------------------------------------------------------------------


def _num(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _overlap(cur: Doc, prev: Doc, key: str) -> bool:
    a, b = window_of(cur, key), window_of(prev, key)
    return a is None or b is None or not (b[1] < a[0] or a[1] < b[0])


def _proportion_test(before: tuple[int, int] | None, after: tuple[int, int] | None) -> ChangeTest:
    if before is None or after is None:
        return ChangeTest("proportion", None, None, False, "counts missing")
    t = compare_proportions(before[0], before[1], after[0], after[1])
    return ChangeTest("proportion", t.z, t.p_value, t.real_change, t.reason)


def _counts(doc: Doc | None, key: str) -> tuple[int, int] | None:
    if doc is None:
        return None
    x = _int(metric_value(doc, f"details.{key}.numerator"))
    n = _int(metric_value(doc, f"details.{key}.denominator"))
    return None if x is None or n is None else (x, n)


def _rate_row(
    path: str, label: str, cur: Doc, prev: Doc | None, counts_key: str, window_key: str
) -> Row:
    now = _counts(cur, counts_key)
    before = _counts(prev, counts_key)
    note = f"{now[0]:,} of {now[1]:,}" if now else None
    test = None
    if prev is not None:
        if _overlap(cur, prev, window_key):
            span = window_of(cur, window_key)
            days = (span[1] - span[0]).days + 1 if span else None
            why = f"the two months' {days}-day windows overlap: not tested"
            note = f"{note}; {why}" if note else why
        else:
            test = _proportion_test(before, now)
    return Row(
        path,
        label,
        "share",
        _num(metric_value(cur, path)),
        _num(metric_value(prev, path)) if prev is not None else None,
        note,
        test,
        n=now[1] if now else None,
    )


def _plain_row(
    path: str, label: str, unit: Unit, cur: Doc, prev: Doc | None, note: str | None = None
) -> Row:
    previous = _num(metric_value(prev, path)) if prev is not None else None
    return Row(path, label, unit, _num(metric_value(cur, path)), previous, note)


def _money_row(path: str, label: str, cur: Doc, prev: Doc | None) -> Row:
    base = path.rsplit(".", 1)[0]
    currency = metric_value(cur, f"{base}.currency")
    previous = None
    note = None
    if prev is not None:
        prev_currency = metric_value(prev, f"{base}.currency")
        if prev_currency == currency:
            previous = _num(metric_value(prev, path))
        elif prev_currency:
            note = f"previous month reported in {prev_currency}: not compared"
    return Row(
        path,
        label,
        "money",
        _num(metric_value(cur, path)),
        previous,
        note,
        currency=currency if isinstance(currency, str) else None,
    )


def _nps_result(nps: Mapping[str, Any]) -> NpsResult:
    counts = (_int(nps.get(k)) or 0 for k in ("promoters", "passives", "detractors"))
    return nps_from_counts(*counts)


def _perception(cur: Doc, prev: Doc | None) -> Section:
    nps = cur.get("nps", {})
    responses = _int(nps.get("responses")) or 0
    score = _num(nps.get("score"))
    low, high = _num(nps.get("ci_low")), _num(nps.get("ci_high"))
    if score is None:
        note = nps.get("reason") or f"not enough answers (n = {responses})"
    elif low is None or high is None:
        note = f"n = {responses}"
    else:
        note = f"95% CI {low:.1f} to {high:.1f}, n = {responses}"
    previous: float | None = None
    test: ChangeTest | None = None
    if prev is not None and not _overlap(cur, prev, "window"):
        p = prev.get("nps", {})
        previous = _num(p.get("score"))
        c = compare_nps(_nps_result(p), _nps_result(nps))
        test = ChangeTest("nps", c.z, c.p_value, c.real_change, c.reason)
    elif prev is not None and isinstance(nps.get("change"), Mapping):
        # Overlapping windows: the engine's comparison with the window before this one.
        c = nps["change"]
        previous = _num(c.get("previous_score"))
        test = ChangeTest(
            "nps", _num(c.get("z")), _num(c.get("p_value")), bool(c.get("real")), c.get("reason")
        )
        note += "; compared with the 30 days before the window"
    rows = [
        Row("nps.score", "NPS", "points", score, previous, note, test, n=responses),
        _plain_row("nps.responses", "NPS answers", "count", cur, prev),
        _plain_row(
            "value_perception",
            "Value for money (1–5)",
            "score",
            cur,
            prev,
            f"{_int(metric_value(cur, 'details.value_perception.answers')) or 0:,} answers",
        ),
        _rate_row("response_rate", "Survey response rate", cur, prev, "response_rate", "window"),
    ]
    return Section("perception", "Perception", tuple(rows))


def _cancellations(cur: Doc, prev: Doc | None) -> Section:
    rows = [
        _plain_row("cancellations.total", "Cancellations", "count", cur, prev),
        _rate_row(
            "capture_rate", "Capture rate (reason given)", cur, prev, "capture_rate", "window"
        ),
    ]
    now = {r["code"]: r for r in cur.get("cancel_reasons", []) if isinstance(r, Mapping)}
    before = (
        {r["code"]: r for r in prev.get("cancel_reasons", []) if isinstance(r, Mapping)}
        if prev is not None
        else {}
    )
    given = sum(_int(r.get("count")) or 0 for r in now.values())
    given_before = sum(_int(r.get("count")) or 0 for r in before.values())
    # Each reason's share is a proportion of the reasons given: tested like any rate when the
    # two months' windows are apart.
    testable = prev is not None and not _overlap(cur, prev, "window")
    # A reason nobody gave this month has a true share of 0 when others were given.
    codes = sorted(set(now) | set(before), key=lambda c: -(now.get(c) or before[c])["count"])
    for code in codes:
        r = now.get(code) or before[code]
        count = (_int(now[code]["count"]) or 0) if code in now else 0
        count_before = (_int(before[code]["count"]) or 0) if code in before else 0
        value = count / given if given else None
        previous = count_before / given_before if prev is not None and given_before else None
        test = None
        if testable and given and given_before:
            test = _proportion_test((count_before, given_before), (count, given))
        rows.append(
            Row(
                f"cancel_reasons.{code}.share",
                str(r.get("label") or code),
                "share",
                value,
                previous,
                f"{count:,} of {given:,} reasons given",
                test,
                n=given,
            )
        )
    system = metric_value(cur, "cancellations.system_reasons") or {}
    prev_system = (metric_value(prev, "cancellations.system_reasons") or {}) if prev else {}
    for code in sorted(set(system) | set(prev_system)):
        rows.append(
            Row(
                f"cancellations.system_reasons.{code}",
                f"No reason given: {code.replace('_', ' ')}",
                "count",
                float(system.get(code, 0)),
                float(prev_system.get(code, 0)) if prev is not None else None,
            )
        )
    return Section("cancellations", "Cancel reasons", tuple(rows))


def _retention(cur: Doc, prev: Doc | None) -> Section:
    rows: list[Row] = []
    sizes = {
        c.get("cohort"): _int(c.get("size"))
        for c in metric_value(cur, "retention.cohorts") or []
        if isinstance(c, Mapping)
    }
    for s in metric_value(cur, "retention.shifts") or []:
        size = sizes.get(s["cohort"])
        rows.append(
            Row(
                f"retention.shifts.{s['cohort']}.age{s['age']}",
                f"Cohort {s['cohort']} still subscribed at month {s['age']}",
                "share",
                _num(s.get("recent")),
                _num(s.get("baseline")),
                (f"{size:,} subscribers; " if size is not None else "")
                + f"previous = average of {s.get('n_earlier')} earlier cohorts at month "
                f"{s['age']}",
                n=size,
            )
        )
    before = {
        o.get("orders"): o for o in (metric_value(prev, "retention.by_order") or [] if prev else [])
    }
    for o in metric_value(cur, "retention.by_order") or []:
        k = o.get("orders")
        if k not in CHURN_AFTER_ORDERS:
            continue
        rows.append(
            Row(
                f"retention.by_order.{k}.churn_after",
                f"Churn after order {k}",
                "share",
                _num(o.get("churn_after")),
                _num(before[k].get("churn_after")) if k in before else None,
                f"{o.get('at_risk', 0):,} subscribers reached order {k}",
            )
        )
    return Section("retention", "Cohort retention", tuple(rows))


def _churn(cur: Doc, month: str) -> tuple[Section, str | None]:
    """Churn of the review month from the churn history (its whole months do not overlap)."""
    history = [m for m in metric_value(cur, "churn.history") or [] if isinstance(m, Mapping)]
    by_month = {m.get("month"): m for m in history}
    note = None
    entry = by_month.get(month)
    if entry is None and history:
        entry = history[-1]
        note = f"churn of {entry['month']}, the last complete month"
    if entry is None:
        return Section("churn", "Churn", ()), "no complete month of churn history yet"
    first = date.fromisoformat(f"{entry['month']}-01")
    prev_entry = by_month.get(previous_month(first).strftime("%Y-%m"))
    base = _int(entry.get("active_at_start")) or 0
    prev_base = _int(prev_entry.get("active_at_start")) if prev_entry else None

    def row(field: str, metric: str, label: str) -> Row:
        x = _int(entry.get(field)) or 0
        value = x / base if base else None
        previous = None
        test = None
        if prev_entry is not None and prev_base:
            px = _int(prev_entry.get(field)) or 0
            previous = px / prev_base
            if base:
                test = _proportion_test((px, prev_base), (x, base))
        return Row(
            metric, label, "share", value, previous, f"{x:,} of {base:,} ({entry['month']})", test
        )

    rows = [row("churned", "churn.monthly_rate", "Monthly churn")]
    rows += [row(field, f"churn.{field}", label) for field, label in CHURN_SOURCES]
    return Section("churn", "Churn by source", tuple(rows)), note


def _revenue(cur: Doc, prev: Doc | None) -> Section:
    return Section(
        "revenue",
        "Subscribers and revenue",
        (
            _plain_row("subscribers.active", "Active subscribers", "count", cur, prev),
            _plain_row(
                "subscribers.paused", "Paused subscribers (not churn, no MRR)", "count", cur, prev
            ),
            _money_row("mrr.amount", "MRR", cur, prev),
            _money_row("arpu.amount", "ARPU", cur, prev),
            _money_row("revenue_at_risk.amount", "Revenue at risk (MRR)", cur, prev),
            _money_row("predicted_ltv.amount", "Predicted LTV of a new subscriber", cur, prev),
        ),
    )


def _drivers(cur: Doc, prev: Doc | None) -> Section:
    deliveries = _int(metric_value(cur, "details.delivery_days_median.deliveries")) or 0
    return Section(
        "drivers",
        "Value drivers",
        (
            _rate_row(
                "billing_success_rate",
                "Billing success rate",
                cur,
                prev,
                "billing_success_rate",
                "window",
            ),
            _rate_row(
                "drivers.cadence_fit", "Cadence fit", cur, prev, "cadence_fit", "driver_window"
            ),
            _rate_row(
                "drivers.self_serve", "Self-serve rate", cur, prev, "self_serve", "driver_window"
            ),
            _plain_row(
                "drivers.delivery_days_median",
                "Delivery time, median",
                "days",
                cur,
                prev,
                f"{deliveries:,} deliveries",
            ),
        ),
    )


def _described(initiative: Initiative, label: str, unit: Unit) -> dict[str, Any]:
    """The fields of an InitiativeItem that describe the initiative, not its effect."""
    return {
        "id": initiative.id,
        "title": initiative.title,
        "hypothesis": initiative.hypothesis,
        "driver": initiative.driver,
        "owner": initiative.owner,
        "status": initiative.status,
        "target_metric": initiative.target_metric,
        "target_label": label,
        "unit": unit,
        "expected_direction": initiative.expected_direction,
        "expected_change": initiative.expected_change,
        "starts_on": initiative.starts_on,
        "ends_on": initiative.ends_on,
        "window_days": initiative.window_days,
    }


def initiative_item(initiative: Initiative, effect: Effect) -> InitiativeItem:
    metric = TARGET_METRICS[initiative.target_metric]
    return InitiativeItem(
        **_described(initiative, metric.label, metric.unit),
        before=effect.before,
        after=effect.after,
        effect_change=effect.change,
        verdict=effect.verdict,
        verdict_reason=effect.reason,
        p_value=effect.p_value,
        as_expected=effect.as_expected,
    )


def holdout_item(initiative: Initiative, effect: HoldoutEffect) -> InitiativeItem:
    """A targeted initiative: `before` is the holdout's value, `after` the treatment's, and
    the change their difference (the review's columns read "without" and "with" it)."""
    metric = MEMBER_METRICS[initiative.target_metric]
    uplift = effect.uplift
    interval = ""
    if uplift is not None and uplift.ci_low is not None and uplift.ci_high is not None:
        interval = (
            f"treatment − holdout, 95 % interval {uplift.ci_low:+.4g} to {uplift.ci_high:+.4g}"
        )
    reason = "; ".join(part for part in (interval, effect.judgement.reason) if part) or None
    return InitiativeItem(
        **_described(initiative, metric.label, metric.unit),
        before=uplift.holdout.value if uplift else None,
        after=uplift.treatment.value if uplift else None,
        effect_change=uplift.difference if uplift else None,
        verdict=effect.judgement.verdict,
        verdict_reason=reason,
        p_value=None,
        as_expected=effect.judgement.as_expected,
    )


def assemble(
    month: str,
    current: Doc,
    previous: Doc | None,
    initiatives: Sequence[InitiativeItem] = (),
) -> ReviewPack:
    """The pack from the month's metrics document and the previous month's (pure)."""
    churn, churn_note = _churn(current, month)
    sections = (
        _perception(current, previous),
        _cancellations(current, previous),
        _retention(current, previous),
        churn,
        _revenue(current, previous),
        _drivers(current, previous),
    )
    as_of = current.get("as_of")
    as_of_day = date.fromisoformat(as_of) if isinstance(as_of, str) else None
    notes: list[str] = []
    first = parse_month(month)
    if as_of_day is not None and as_of_day < month_last_day(first):
        notes.append(f"{month} is not over: figures as of {as_of_day.isoformat()}")
    if previous is None:
        notes.append(f"no snapshot of {previous_month(first).strftime('%Y-%m')} to compare with")
    if churn_note:
        notes.append(churn_note)
    missing = current.get("missing")
    if isinstance(missing, Mapping):
        notes += [f"{key}: {reason}" for key, reason in sorted(missing.items())]
    pack = ReviewPack(
        shop=str(current.get("shop", "")),
        month=month,
        as_of=as_of_day,
        previous_month=previous_month(first).strftime("%Y-%m") if previous is not None else None,
        window=window_of(current, "window"),
        currency=metric_value(current, "mrr.currency"),
        sections=sections,
        initiatives=tuple(initiatives),
        notes=tuple(notes),
    )
    return ReviewPack(**{**pack.__dict__, "changes": what_changed(pack)})


def _relevant(initiative: Initiative, first: date, last: date) -> bool:
    """Listed in a month's review: not closed before the month began, not started after it
    ended. The backlog (ideas, plans without a start) is always listed."""
    if initiative.ends_on is not None and initiative.ends_on < first:
        return False
    return not (initiative.starts_on is not None and initiative.starts_on > last)


async def build_review(
    session: AsyncSession, shop_id: int, month: str, *, now: datetime | None = None
) -> ReviewPack:
    """The review pack of `month` (YYYY-MM) for one shop. Raises ReviewError (bad month) and
    ReviewNotAvailable (no snapshot of that month)."""
    first = parse_month(month)
    shop = await session.scalar(select(Shop).where(Shop.id == shop_id))
    if shop is None:
        raise ReviewNotAvailable(f"no shop with id {shop_id}")
    current = await snapshot(session, shop_id, "month", first)
    if current is None:
        raise ReviewNotAvailable(
            f"no figures for {month}: {shop.domain} was not scored in that month "
            "(months are kept from the first recompute on, up to 12 months back)"
        )
    previous = await snapshot(session, shop_id, "month", previous_month(first))

    zone = shop_zone(shop.timezone)
    today = local_today(zone, now or datetime.now(zone))
    last = month_last_day(first)
    # Effects as of the month's end (a period ending on its last day is over), or today.
    as_of = min(today, last + timedelta(days=1))
    rows = await session.scalars(
        select(Initiative)
        .where(Initiative.shop_id == shop_id)
        .order_by(Initiative.created_at, Initiative.id)
    )
    items = []
    for initiative in rows:
        if not _relevant(initiative, first, last):
            continue
        audience = await get_audience(session, shop_id, initiative.id)
        if audience is not None:
            held = await holdout_effect(session, initiative, audience, as_of)
            items.append(holdout_item(initiative, held))
        else:
            effect = await initiative_effect(session, shop_id, initiative, as_of)
            items.append(initiative_item(initiative, effect))
    return assemble(month, current, previous, items)


async def available_months(session: AsyncSession, shop_id: int) -> list[str]:
    """Months (YYYY-MM, newest first) that have a snapshot, so a review can be built."""
    snap = MetricSnapshot.__table__
    rows = await session.scalars(
        select(snap.c.period_start)
        .where(snap.c.shop_id == shop_id, snap.c.period == MONTH)
        .order_by(snap.c.period_start.desc())
    )
    return [first.strftime("%Y-%m") for first in rows]
