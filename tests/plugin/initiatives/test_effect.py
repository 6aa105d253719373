"""Measured effect of an initiative on hand-built daily snapshots, with hand-computed tests."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest

from plugin.initiatives.effect import measure_effect, periods, tile

START = date(2026, 3, 1)


def day(offset: int) -> date:
    return START + timedelta(days=offset)


def snap(
    on: date,
    *,
    window_days: int = 30,
    driver_window_days: int = 90,
    billing: tuple[int, int] | None = None,
    cadence: tuple[int, int] | None = None,
    nps: tuple[int, int, int] | None = None,
    mrr: float | None = None,
    vfm: tuple[float, int] | None = None,
) -> tuple[date, dict[str, Any]]:
    """A daily snapshot (only the keys the effect reads) whose windows end on `on`."""
    doc: dict[str, Any] = {
        "window": {
            "start": (on - timedelta(days=window_days - 1)).isoformat(),
            "end": on.isoformat(),
        },
        "driver_window": {
            "start": (on - timedelta(days=driver_window_days - 1)).isoformat(),
            "end": on.isoformat(),
        },
        "details": {},
    }
    if billing:
        doc["billing_success_rate"] = billing[0] / billing[1]
        doc["details"]["billing_success_rate"] = {
            "numerator": billing[0],
            "denominator": billing[1],
        }
    if cadence:
        doc["drivers"] = {"cadence_fit": cadence[0] / cadence[1]}
        doc["details"]["cadence_fit"] = {"numerator": cadence[0], "denominator": cadence[1]}
    if nps:
        doc["nps"] = dict(zip(("promoters", "passives", "detractors"), nps, strict=True))
    if mrr is not None:
        doc["mrr"] = {"amount": mrr, "currency": "USD"}
    if vfm:
        doc["value_perception"] = vfm[0]
        doc["details"]["value_perception"] = {"answers": vfm[1]}
    return on, doc


def measure(metric: str, docs: list[Any], **kwargs: Any) -> Any:
    args: dict[str, Any] = {
        "starts_on": START,
        "window_days": 30,
        "expected_direction": "up",
        "expected_change": 0.02,
        "today": day(60),
        "docs": docs,
    }
    return measure_effect(metric, **{**args, **kwargs})


def test_periods_are_n_days_each_side_of_the_start() -> None:
    before, after = periods(START, 30)
    assert before == (date(2026, 1, 30), date(2026, 2, 28))
    assert after == (date(2026, 3, 1), date(2026, 3, 30))


def test_tiling_takes_non_overlapping_windows_inside_the_period() -> None:
    docs = [snap(day(d)) for d in (-1, -10, -31, -45, -61)]
    chosen = tile(docs, "window", day(-60), day(-1))
    # S−1 covers S−30..S−1, then S−31 covers S−60..S−31; S−10 and S−45 overlap a chosen
    # window and S−61's window starts before the period.
    assert [d["window"]["end"] for d in chosen] == [day(-1).isoformat(), day(-31).isoformat()]


def test_billing_success_over_two_windows_each_side() -> None:
    docs = [
        snap(day(-1), billing=(180, 200)),
        snap(day(-31), billing=(180, 200)),
        snap(day(-20), billing=(1, 1000)),  # overlaps S−1's window: must be ignored
        snap(day(29), billing=(190, 200)),
        snap(day(59), billing=(190, 200)),
        snap(day(45), billing=(1000, 1000)),  # overlaps S+59's window: ignored
    ]
    effect = measure("billing_success_rate", docs, window_days=60, today=day(61))
    # 360/400 against 380/400: z = 2.68462, p = 0.00726 (see test_stats).
    assert effect.before == pytest.approx(0.90) and effect.after == pytest.approx(0.95)
    assert effect.change == pytest.approx(0.05)
    assert (effect.days_before, effect.days_after) == (60, 60)
    assert effect.z == pytest.approx(2.68462, abs=1e-5)
    assert effect.p_value == pytest.approx(0.007261, abs=1e-6)
    assert effect.verdict == "real_change"
    assert effect.as_expected is True
    assert effect.before_period == (day(-60), day(-1))
    assert effect.after_period == (day(0), day(59))


def test_nps_uses_the_engines_two_sample_test() -> None:
    docs = [snap(day(-1), nps=(40, 30, 30)), snap(day(29), nps=(55, 25, 20))]
    effect = measure("nps.score", docs, expected_change=10.0, today=day(30))
    # Adjusted Wald (n+3, +3/4): before p = 40.75/103, d = 30.75/103, NPS_adj = 0.0970874,
    # var = (p + d − NPS_adj²)/103 = 0.00664805; after p = 55.75/103, d = 20.75/103,
    # NPS_adj = 0.3398058, var = 0.00608981; z = 0.2427184 / sqrt(0.01273786) = 2.15058,
    # two-sided p = 0.03151.
    assert effect.before == pytest.approx(10.0) and effect.after == pytest.approx(35.0)
    assert effect.change == pytest.approx(25.0)
    assert effect.z == pytest.approx(2.15058, abs=1e-5)
    assert effect.p_value == pytest.approx(0.03151, abs=1e-5)
    assert effect.verdict == "real_change"
    assert effect.as_expected is True
    # Expecting NPS to fall makes the same real change "not as expected".
    down = measure(
        "nps.score", docs, expected_direction="down", expected_change=10.0, today=day(30)
    )
    assert down.verdict == "real_change" and down.as_expected is False


def test_nps_below_thirty_answers_cannot_be_judged() -> None:
    docs = [snap(day(-1), nps=(10, 5, 5)), snap(day(29), nps=(15, 5, 2))]
    effect = measure("nps.score", docs, today=day(30))
    assert effect.verdict == "not_enough_data"
    assert effect.before == pytest.approx(25.0)
    assert effect.as_expected is None


def test_the_after_period_must_be_over() -> None:
    docs = [snap(day(-1), billing=(180, 200)), snap(day(29), billing=(190, 200))]
    running = measure("billing_success_rate", docs, today=day(29))
    assert running.verdict == "measuring"
    assert running.reason is not None and "2026-03-30" in running.reason
    assert running.z is None and running.as_expected is None
    done = measure("billing_success_rate", docs, today=day(30))
    assert done.verdict == "no_real_change"  # 180/200 → 190/200: p = 0.0577


def test_not_started() -> None:
    assert measure("billing_success_rate", [], starts_on=None).verdict == "not_started"
    assert measure("billing_success_rate", [], today=day(-1)).verdict == "not_started"


def test_a_period_shorter_than_the_metrics_window_is_not_enough_data() -> None:
    # Cadence fit is counted over 90-day windows: 30 days each side cannot hold one.
    docs = [snap(day(d), cadence=(700, 1000)) for d in range(-40, 40)]
    effect = measure("drivers.cadence_fit", docs, today=day(40))
    assert effect.verdict == "not_enough_data"
    assert effect.reason is not None and "90-day window" in effect.reason
    assert effect.before is None


def test_small_counts_are_not_enough_data() -> None:
    docs = [snap(day(-1), billing=(3, 4)), snap(day(29), billing=(4, 4))]
    effect = measure("billing_success_rate", docs, today=day(30))
    assert effect.verdict == "not_enough_data"
    assert effect.before == 0.75 and effect.after == 1.0


def test_level_metric_is_the_mean_of_daily_values_without_a_test() -> None:
    docs = [snap(day(d), mrr=1000.0) for d in range(-30, 0)]
    docs += [snap(day(d), mrr=1100.0 + (10.0 if d % 2 else -10.0)) for d in range(0, 30)]
    effect = measure("mrr.amount", docs, expected_change=50.0)
    assert effect.before == pytest.approx(1000.0)
    assert effect.after == pytest.approx(1100.0)
    assert (effect.days_before, effect.days_after) == (30, 30)
    assert effect.verdict == "untested" and effect.z is None
    assert effect.as_expected is True
    assert measure("mrr.amount", docs, expected_change=150.0).as_expected is False


def test_weighted_mean_of_value_for_money() -> None:
    docs = [snap(day(-1), vfm=(3.0, 10)), snap(day(-31), vfm=(4.0, 30))]
    docs += [snap(day(29), vfm=(4.5, 20)), snap(day(59), vfm=(3.5, 20))]
    effect = measure("value_perception", docs, window_days=60, today=day(60), expected_change=0.1)
    assert effect.before == pytest.approx((3.0 * 10 + 4.0 * 30) / 40)  # 3.75
    assert effect.after == pytest.approx(4.0)
    assert effect.verdict == "untested"
    assert effect.as_expected is True


def test_monthly_churn_compares_whole_months() -> None:
    history = [
        {"month": "2025-12", "churned": 99, "active_at_start": 100},  # not whole in the period
        {"month": "2026-01", "churned": 30, "active_at_start": 600},
        {"month": "2026-02", "churned": 24, "active_at_start": 600},
        {"month": "2026-03", "churned": 15, "active_at_start": 620},
        {"month": "2026-04", "churned": 15, "active_at_start": 630},
    ]
    effect = measure_effect(
        "churn.monthly_rate",
        starts_on=START,
        window_days=61,
        expected_direction="down",
        expected_change=0.01,
        today=date(2026, 5, 2),
        docs=[],
        churn_history=history,
    )
    # Before: Jan + Feb = 54/1200 = 0.045; after: Mar + Apr = 30/1250 = 0.024.
    # pooled = 84/2450; se = sqrt(p(1 − p)(1/1200 + 1/1250)); z = −2.85562, p = 0.004295.
    assert effect.before == pytest.approx(0.045) and effect.after == pytest.approx(0.024)
    assert (effect.days_before, effect.days_after) == (31 + 28, 31 + 30)
    assert effect.z == pytest.approx(-2.85562, abs=1e-5)
    assert effect.p_value == pytest.approx(0.004295, abs=1e-6)
    assert effect.verdict == "real_change"
    assert effect.as_expected is True


def test_unknown_direction_is_refused() -> None:
    with pytest.raises(ValueError):
        measure("mrr.amount", [], expected_direction="sideways")
