"""The pack's short "what changed" list, computed from its rows.

What makes the list, strongest first:
1. changes a test calls real (NPS z test; two-proportion z test for rates and for each cancel
   reason's share of the reasons given), by |z|;
2. cohort retention shifts of at least `MATERIAL_SHARE_POINTS` against earlier cohorts, for
   cohorts of at least `MIN_COHORT_SIZE` subscribers (a handful of people swing a curve);
3. figures measured on everyone rather than sampled (money, counts, days, the 1–5 score) that
   moved by at least `MATERIAL_RELATIVE_CHANGE`;
4. initiatives whose measured effect has a verdict: a real change, or none yet.
A tested change the test does not call real is left out on purpose: it is noise until shown
otherwise. At most `MAX_ITEMS` sentences.
"""

from __future__ import annotations

from plugin.review.format import fmt, fmt_change, fmt_p
from plugin.review.pack import ReviewPack, Row

MATERIAL_SHARE_POINTS = 0.05
MATERIAL_RELATIVE_CHANGE = 0.05
MIN_COHORT_SIZE = 30
MAX_ITEMS = 10
_UNTESTED_UNITS = ("money", "count", "days", "score")
# Cancellations without a customer reason move with the capture rate, which is tested.
_COVERED_ELSEWHERE = ("cancellations.system_reasons.",)


def _moved(row: Row) -> str:
    assert row.change is not None
    return "rose" if row.change > 0 else "fell"


def _tested(row: Row) -> str:
    assert row.test is not None
    p = fmt_p(row.test.p_value)
    before = fmt(row.previous, row.unit, row.currency)
    after = fmt(row.value, row.unit, row.currency)
    if row.metric.startswith("cancel_reasons."):
        return (
            f"Cancellations giving “{row.label}” {_moved(row)} from {before} to {after} of the "
            f"reasons given: a real change ({p})."
        )
    return f"{row.label} {_moved(row)} from {before} to {after}: a real change ({p})."


def what_changed(pack: ReviewPack) -> tuple[str, ...]:
    ranked: list[tuple[int, float, str]] = []
    for section in pack.sections:
        for row in section.rows:
            change = row.change
            if change is None or change == 0 or row.metric.startswith(_COVERED_ELSEWHERE):
                continue
            if row.test is not None:
                if row.test.real:
                    ranked.append((0, -abs(row.test.z or 0.0), _tested(row)))
            elif row.metric.startswith("retention.shifts."):
                if abs(change) >= MATERIAL_SHARE_POINTS and (row.n or 0) >= MIN_COHORT_SIZE:
                    side = "more" if change > 0 else "fewer"
                    ranked.append(
                        (
                            1,
                            -abs(change),
                            f"{row.label}: {fmt(row.value, 'share')}, "
                            f"{100 * abs(change):.1f} points {side} than earlier cohorts.",
                        )
                    )
            elif row.unit in _UNTESTED_UNITS and row.previous:
                relative = change / abs(row.previous)
                if abs(relative) >= MATERIAL_RELATIVE_CHANGE:
                    ranked.append(
                        (
                            2,
                            -abs(relative),
                            f"{row.label} {_moved(row)} {abs(relative):.0%}, from "
                            f"{fmt(row.previous, row.unit, row.currency)} to "
                            f"{fmt(row.value, row.unit, row.currency)}.",
                        )
                    )
    for item in pack.initiatives:
        if item.verdict == "real_change":
            ranked.append(
                (
                    3,
                    -(abs(item.effect_change or 0.0)),
                    f"Initiative “{item.title}” moved {item.target_label} from "
                    f"{fmt(item.before, item.unit)} to {fmt(item.after, item.unit)} "
                    f"({fmt_change(item.effect_change, item.unit)}): a real change "
                    f"({fmt_p(item.p_value)}).",
                )
            )
        elif item.verdict == "no_real_change":
            ranked.append(
                (
                    4,
                    0.0,
                    f"Initiative “{item.title}”: no real change in {item.target_label} yet "
                    f"({fmt(item.before, item.unit)} before, {fmt(item.after, item.unit)} after).",
                )
            )
    ranked.sort(key=lambda r: (r[0], r[1]))
    return tuple(text for _, _, text in ranked[:MAX_ITEMS])
