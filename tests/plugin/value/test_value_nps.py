"""NPS, adjusted-Wald interval, two-period test, value perception, response rate.

Formulas: Rocks (2016), "Interval Estimation for the 'Net Promoter Score'", The American
Statistician 70(4), arXiv:1601.07235, in the simplified adjusted-Wald form of Sauro & Lewis
(MeasuringU, "Confidence Intervals for Net Promoter Scores" and "How to Statistically Compare
Two Net Promoter Scores"): n_adj = n + 3, p = (P + 3/4)/n_adj, d = (D + 3/4)/n_adj,
var = [p + d − (p − d)²]/n_adj, z = (NPS₂ − NPS₁)/√(var₁ + var₂). Expected values below are
worked by hand from those formulas.
"""

import math

import numpy as np
import pytest

from plugin.value.nps import (
    adjusted_wald,
    compare_nps,
    nps,
    nps_counts,
    nps_from_counts,
    response_rate,
    value_perception,
)

Z = 1.959964


def test_counts_and_skipped_answers_not_in_denominator() -> None:
    scores = [10, 9, 8, 7, 6, 0, np.nan, 3]
    assert nps_counts(scores) == (7, 2, 2, 3)


def test_adjusted_wald_hand_computed() -> None:
    # n = 100, 50 promoters, 20 detractors:
    # n_adj = 103, p = 50.75/103 = 0.4927184, d = 20.75/103 = 0.2014563,
    # NPS_adj = 0.2912621, var = (0.6941748 − 0.0848337)/103 = 0.0059159.
    centre, var, n_adj = adjusted_wald(50, 20, 100)
    assert n_adj == 103
    assert centre == pytest.approx(0.2912621, abs=1e-7)
    assert var == pytest.approx(0.0059159, abs=1e-7)


def test_nps_score_and_interval_hand_computed() -> None:
    r = nps_from_counts(promoters=50, passives=30, detractors=20)
    assert (r.n, r.promoters, r.passives, r.detractors) == (100, 50, 30, 20)
    assert r.score == pytest.approx(30.0)  # 100 × (50 − 20) / 100
    # 29.12621 ± 1.959964 × √0.0059159 × 100 = 29.12621 ± 15.07508
    assert r.ci_low == pytest.approx(14.0511, abs=1e-3)
    assert r.ci_high == pytest.approx(44.2013, abs=1e-3)
    assert r.enough_answers and r.reason is None


def test_interval_is_clipped_to_plus_minus_100() -> None:
    # 30 promoters out of 30: centre 30.75/33 − 0.75/33 = 0.909091,
    # var = (0.954545 − 0.826446)/33 = 0.0038818, upper = 90.91 + 12.21 > 100 → 100.
    r = nps([10] * 30)
    assert r.score == 100.0
    assert r.ci_high == 100.0
    assert r.ci_low == pytest.approx(100 * (0.909091 - Z * math.sqrt(0.0038818)), abs=1e-2)


def test_below_30_answers_the_score_is_withheld_but_counts_are_reported() -> None:
    r = nps([10, 10, 3] + [8] * 26)  # 29 answers
    assert r.score is None and r.ci_low is None and r.ci_high is None
    assert not r.enough_answers
    assert r.reason == "not enough answers (29 < 30)"
    assert (r.n, r.promoters, r.passives, r.detractors) == (29, 2, 26, 1)


def test_no_answers() -> None:
    r = nps([])
    assert r.n == 0 and r.score is None and r.reason == "no answers"
    skipped_only = nps([np.nan, np.nan])
    assert skipped_only.n == 0


def test_invalid_scores_are_refused() -> None:
    with pytest.raises(ValueError):
        nps([11])
    with pytest.raises(ValueError):
        nps([7.5])


def test_two_period_z_test_hand_computed_real_change() -> None:
    earlier = nps_from_counts(50, 30, 20)  # NPS_adj 0.2912621, var 0.0059159
    # later: n = 120, 40 promoters, 40 detractors: NPS_adj = 0, p = d = 40.75/123,
    # var = 2 × 0.3313008 / 123 = 0.0053870.
    later = nps_from_counts(40, 40, 40)
    c = compare_nps(earlier, later)
    expected_z = (0.0 - 0.2912621) / math.sqrt(0.0059159 + 0.0053870)
    assert c.z == pytest.approx(expected_z, abs=1e-4)  # −2.7396
    assert c.p_value == pytest.approx(0.00615, abs=1e-4)
    assert c.real_change and c.reason is None
    assert c.difference == pytest.approx(0.0 - 30.0)


def test_two_period_z_test_not_significant() -> None:
    earlier = nps_from_counts(50, 30, 20)
    later = nps_from_counts(60, 30, 10)  # NPS_adj 0.4854369, var 0.0044517
    c = compare_nps(earlier, later)
    assert c.z == pytest.approx(
        (0.4854369 - 0.2912621) / math.sqrt(0.0059159 + 0.0044517), abs=1e-4
    )  # 1.907
    assert c.p_value == pytest.approx(0.0565, abs=1e-3)
    assert not c.real_change
    assert "not significant" in (c.reason or "")


def test_change_is_never_real_without_enough_answers() -> None:
    small = nps_from_counts(20, 0, 0)  # 20 answers
    big = nps_from_counts(0, 0, 200)
    c = compare_nps(small, big)
    assert c.p_value is not None and c.p_value < 0.05
    assert not c.real_change
    assert c.difference is None
    none = compare_nps(nps([]), big)
    assert none.z is None and not none.real_change


def test_value_perception_mean_of_answered() -> None:
    r = value_perception([5, 4, np.nan, 1])
    assert r.n == 3 and r.mean == pytest.approx(10 / 3)
    assert value_perception([]).mean is None
    with pytest.raises(ValueError):
        value_perception([6])


def test_response_rate() -> None:
    r = response_rate([True, False, False, True])
    assert r.value == 0.5
    assert response_rate([]).value is None
