"""Kaplan–Meier, cohort retention, retention by order number, retention shifts."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from plugin.value.survival import (
    CohortRetention,
    cohort_retention,
    kaplan_meier,
    retention_by_order,
    retention_shift,
)

# Freireich et al. (1963) 6-MP arm (remission weeks, n = 21), as analysed by Gehan (1965,
# Biometrika 52) and tabulated in Kleinbaum & Klein, "Survival Analysis: A Self-Learning
# Text" (3rd ed., ch. 2, KM table for group 1): 6,6,6,6+,7,9+,10,10+,11+,13,16,17+,19+,20+,
# 22,23,25+,32+,32+,34+,35+ (+ = censored; EVENTS False). There are 21 patients: without the
# censored 6+ the first step would be 17/20 = 0.85, not the published 18/21 = 0.857.
TIMES = np.array([6, 6, 6, 6, 7, 9, 10, 10, 11, 13, 16, 17, 19, 20, 22, 23, 25, 32, 32, 34, 35.0])
EVENTS = np.array([1, 1, 1, 0, 1, 0, 1, 0, 0, 1, 1, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0], dtype=bool)


def test_kaplan_meier_matches_textbook_6mp_example() -> None:
    km = kaplan_meier(TIMES, EVENTS)
    at = [6, 7, 10, 13, 16, 22, 23]
    published = [0.857, 0.807, 0.753, 0.690, 0.627, 0.538, 0.448]
    assert km.at(at) == pytest.approx(published, abs=5e-4)
    # Risk sets n_j from the same table: 21, 17, 15, 12, 11, 7, 6.
    idx = np.searchsorted(km.times, at)
    assert km.at_risk[idx].tolist() == [21, 17, 15, 12, 11, 7, 6]
    assert km.at([0, 5.9]) == pytest.approx([1.0, 1.0])
    assert np.isnan(km.at([36])[0])  # past the last (censored) observation


def test_kaplan_meier_validates_input() -> None:
    with pytest.raises(ValueError):
        kaplan_meier([1.0, -1.0], [True, True])
    with pytest.raises(ValueError):
        kaplan_meier([1.0], [True, False])


def test_one_cohort_hand_computed() -> None:
    # Months to churn / censoring: 0.5 (churned), 1.5 (churned), 2.5, 3.2 (active).
    t = cohort_retention(["2025-01-03"] * 4, [0.5, 1.5, 2.5, 3.2], [True, True, False, False])
    assert t.cohort.tolist() == [np.datetime64("2025-01-01")]
    assert t.size.tolist() == [4]
    s = t.survival[0]
    assert s[:4] == pytest.approx([1.0, 0.75, 0.5, 0.5])  # 1 − 1/4, then × (1 − 1/3)
    assert np.isnan(s[4])  # nobody observed past 3.2 months
    assert t.at_risk[0, :4].tolist() == [4, 3, 2, 1]


def test_all_churned_reaches_zero_and_stays_there() -> None:
    t = cohort_retention(["2025-01-01"] * 2, [0.2, 1.4], [True, True], max_age=4)
    assert t.survival[0].tolist() == [1.0, 0.5, 0.0, 0.0, 0.0]


def test_none_churned_is_flat_until_data_ends() -> None:
    t = cohort_retention(["2025-01-01"] * 3, [1.0, 2.0, 2.5], [False] * 3, max_age=3)
    assert t.survival[0, :3].tolist() == [1.0, 1.0, 1.0]
    assert np.isnan(t.survival[0, 3])


def test_no_subscribers() -> None:
    t = cohort_retention([], [], [])
    assert t.cohort.size == 0 and t.survival.shape[0] == 0


def test_recent_cohort_is_censored_not_counted_as_surviving() -> None:
    # A cohort a week old: one churned after 3 days, two still active after a week.
    t = cohort_retention(["2025-06-20"] * 3, [0.1, 0.25, 0.25], [True, False, False])
    assert t.survival[0, 0] == 1.0
    assert t.survival.shape[1] == 2 and np.isnan(t.survival[0, 1])


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 3), st.integers(0, 40), st.booleans()), min_size=1, max_size=60
    )
)
def test_grouped_cohorts_equal_one_kaplan_meier_per_cohort(rows) -> None:
    months = np.array([f"2025-0{g + 1}-15" for g, _, _ in rows], dtype="datetime64[D]")
    tenure = np.array([t / 4.0 for _, t, _ in rows])
    dead = np.array([e for _, _, e in rows])
    table = cohort_retention(months, tenure, dead, max_age=11)
    for i, cohort in enumerate(table.cohort):
        mask = months.astype("datetime64[M]") == cohort.astype("datetime64[M]")
        expected = kaplan_meier(tenure[mask], dead[mask]).at(np.arange(12.0))
        np.testing.assert_allclose(table.survival[i], expected, equal_nan=True)


def test_retention_by_order_hand_computed() -> None:
    # (orders, churned): (1, T) (1, F) (2, T) (3, F) (3, T). An active subscriber with k
    # orders is known to have N > k − 1 only.
    r = retention_by_order([1, 1, 2, 3, 3], [True, False, True, False, True])
    assert r.orders.tolist() == [0, 1, 2, 3]
    # k=1: risk set {1T, 2T, 3F(→2), 3T} = 4, one stop → 0.75; k=2: {2T, 3F, 3T} = 3 → 0.5;
    # k=3: {3T} → 0.
    assert r.survival == pytest.approx([1.0, 0.75, 0.5, 0.0])
    assert r.churn_after_order() == pytest.approx([0.25, 1 / 3, 1.0])
    assert r.at_risk.tolist() == [5, 4, 3, 1]


def test_retention_by_order_refuses_zero_orders() -> None:
    with pytest.raises(ValueError):
        retention_by_order([0], [True])


def _table(rows: list[list[float]]) -> CohortRetention:
    s = np.array(rows, dtype=float)
    months = np.array(["2025-01-01", "2025-02-01", "2025-03-01"][: len(rows)], "datetime64[D]")
    return CohortRetention(months, np.ones(len(rows), np.int64), s, np.ones_like(s, np.int64))


def test_retention_shift_recent_vs_mean_of_earlier() -> None:
    table = _table([[1, 0.8, 0.6], [1, 0.7, 0.5], [1, 0.9, np.nan]])
    one = retention_shift(table, 1)
    assert one is not None
    assert one.cohort == np.datetime64("2025-03-01")
    assert (one.recent, one.baseline, one.n_earlier) == (0.9, pytest.approx(0.75), 2)
    assert one.shift == pytest.approx(0.15)
    two = retention_shift(table, 2)  # the March cohort is not 2 months old yet
    assert two is not None and two.cohort == np.datetime64("2025-02-01")
    assert two.shift == pytest.approx(-0.1) and two.n_earlier == 1


def test_retention_shift_needs_an_earlier_cohort() -> None:
    assert retention_shift(_table([[1, 0.8, 0.6]]), 1) is None
    assert retention_shift(_table([[1, 0.8, 0.6]]), 7) is None
