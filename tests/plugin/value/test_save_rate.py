"""True save rate of save offers (docs/metrics.md, "Save offers"): hand-computed and published
values."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from plugin.value.save_rate import FlowOutcome, newcombe_difference, save_report, wilson


def flow(holdout: bool, ended: float | None, *, accepted: bool = False, age: float = 100):
    return FlowOutcome("too_expensive", "discount", holdout, accepted, age, ended)


# Offered: 10 flows, 6 accepted, contracts ended after 10, 40 and 75 days (one of them had
# accepted); holdout: 6 flows, one only 45 days old, ended after 5, 20 and 50 days.
TABLE = [
    flow(False, 10, accepted=True),
    flow(False, 40),
    flow(False, 75),
    *[flow(False, None, accepted=True) for _ in range(5)],
    flow(False, None),
    flow(False, None),
    flow(True, 5),
    flow(True, 20),
    flow(True, 50),
    flow(True, None),
    flow(True, None),
    flow(True, None, age=45),
]


def test_the_true_save_rate_is_kept_offered_minus_kept_holdout_not_the_acceptance_rate() -> None:
    [row] = save_report(TABLE)
    assert (row.offered, row.accepted, row.holdout) == (10, 6, 6)
    assert row.acceptance_rate == pytest.approx(0.6)
    by_days = {h.days: h for h in row.horizons}
    # Day 30: offered 9/10 kept; holdout 4/6 (the 45-day-old flow counts, ended 5 and 20 did not)
    h30 = by_days[30]
    assert (h30.offered_kept, h30.offered_n, h30.holdout_kept, h30.holdout_n) == (9, 10, 4, 6)
    assert h30.save_rate == pytest.approx(0.9 - 4 / 6)
    # Day 60: offered 8/10; holdout 2/5 (the young flow is not 60 days old)
    h60 = by_days[60]
    assert (h60.offered_kept, h60.offered_n, h60.holdout_kept, h60.holdout_n) == (8, 10, 2, 5)
    assert h60.save_rate == pytest.approx(0.4)
    # Day 90: offered 7/10; holdout 2/5
    assert by_days[90].save_rate == pytest.approx(0.3)
    assert by_days[90].save_rate != row.acceptance_rate


def test_a_contract_that_ended_on_the_horizon_day_is_not_kept() -> None:
    [row] = save_report([flow(False, 30), flow(True, 31)], horizons=(30,))
    assert row.horizons[0].kept_offered == 0.0
    assert row.horizons[0].kept_holdout == 1.0


def test_without_mature_flows_in_an_arm_there_is_no_figure_and_a_reason() -> None:
    [row] = save_report([flow(False, None), flow(True, None, age=10)], horizons=(30,))
    result = row.horizons[0]
    assert result.save_rate is None and result.interval is None
    assert result.note == "no flow is 30 days old yet in the holdout"


def test_newcombe_interval_reproduces_the_published_examples() -> None:
    # Newcombe (1998), Table II, method 10: 56/70 − 48/80 and 9/10 − 3/10.
    a = newcombe_difference(56, 70, 48, 80)
    assert (round(a.low, 4), round(a.high, 4)) == (0.0524, 0.3339)
    b = newcombe_difference(9, 10, 3, 10)
    assert (round(b.low, 4), round(b.high, 4)) == (0.1705, 0.8090)


def test_wilson_interval_of_a_hand_computed_case() -> None:
    # 8/10, z = 1.96: (0.8 + 0.19208 ± 1.96·sqrt(0.016 + 0.009604)) / 1.38416
    interval = wilson(8, 10, z=1.96)
    assert interval.low == pytest.approx((0.99208 - 1.96 * 0.16001249951) / 1.38416, abs=1e-9)
    assert interval.high == pytest.approx((0.99208 + 1.96 * 0.16001249951) / 1.38416, abs=1e-9)


@given(
    st.integers(1, 200).flatmap(lambda n1: st.tuples(st.integers(0, n1), st.just(n1))),
    st.integers(1, 200).flatmap(lambda n2: st.tuples(st.integers(0, n2), st.just(n2))),
)
def test_the_interval_holds_the_difference_and_stays_within_minus_one_and_one(
    a: tuple[int, int], b: tuple[int, int]
) -> None:
    (x1, n1), (x2, n2) = a, b
    interval = newcombe_difference(x1, n1, x2, n2)
    d = x1 / n1 - x2 / n2
    assert -1 - 1e-9 <= interval.low <= d + 1e-9 <= interval.high + 2e-9 <= 1 + 3e-9
