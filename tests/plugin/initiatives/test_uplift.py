"""Treatment against holdout: the split and each uplift interval against hand-computed cases."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from plugin.initiatives.uplift import (
    judge,
    mean_uplift,
    nps_uplift,
    ratio_uplift,
    retained,
    share_uplift,
    split_members,
)


def test_the_split_is_reproducible_from_members_share_and_seed() -> None:
    ids = list(range(1000, 1200))
    first = split_members(ids, 0.10, seed=42)
    again = split_members(list(reversed(ids)), 0.10, seed=42)  # load order does not matter
    assert first == again
    treatment, holdout = first
    assert len(holdout) == 20 and len(treatment) == 180
    assert split_members(ids, 0.10, seed=43) != first  # another seed, another draw


@given(
    st.sets(st.integers(min_value=1, max_value=10**12), min_size=1, max_size=300),
    st.floats(min_value=0.05, max_value=0.5),
    st.integers(min_value=0, max_value=2**62),
)
def test_every_member_is_in_exactly_one_group(ids: set[int], share: float, seed: int) -> None:
    treatment, holdout = split_members(sorted(ids), share, seed)
    assert set(treatment) | set(holdout) == ids
    assert not set(treatment) & set(holdout)
    assert len(holdout) == math.floor(len(ids) * share + 0.5)


def test_the_holdout_share_is_checked() -> None:
    with pytest.raises(ValueError):
        split_members([1, 2], 1.0, seed=1)


def test_retention_at_k_days_counts_a_churn_on_or_after_day_k_as_retained() -> None:
    days = [np.nan, 10.0, 29.9, 30.0, 45.0]
    assert retained(days, 30).tolist() == [True, False, False, True, True]


def test_a_known_retention_uplift_has_an_interval_that_excludes_zero() -> None:
    # Treatment 900/1000 = 0.90, holdout 160/200 = 0.80: difference 0.10.
    # se = sqrt(0.9·0.1/1000 + 0.8·0.2/200) = sqrt(0.00009 + 0.0008) = 0.0298329
    # half = 1.959964 × 0.0298329 = 0.0584714 → (0.0415286, 0.1584714)
    uplift = share_uplift(900, 1000, 160, 200)
    assert uplift.treatment.value == 0.9 and uplift.holdout.value == 0.8
    assert uplift.difference == pytest.approx(0.10)
    assert uplift.ci_low == pytest.approx(0.0415286, abs=1e-6)
    assert uplift.ci_high == pytest.approx(0.1584714, abs=1e-6)
    judged = judge(uplift, expected_direction="up", expected_change=0.05, over=True)
    assert judged.verdict == "real_change" and judged.as_expected is True


def test_no_effect_gives_an_interval_around_zero() -> None:
    # 850/1000 and 170/200, both 0.85: se = sqrt(0.1275/1000 + 0.1275/200) = 0.0276586,
    # half = 0.0542097: the interval (−0.0542097, 0.0542097) includes zero.
    uplift = share_uplift(850, 1000, 170, 200)
    assert uplift.difference == pytest.approx(0.0)
    assert uplift.ci_low == pytest.approx(-0.0542097, abs=1e-6)
    assert uplift.ci_high == pytest.approx(0.0542097, abs=1e-6)
    # Hoping for +10 points: ruled out, so "no effect shown".
    ruled_out = judge(uplift, expected_direction="up", expected_change=0.10, over=True)
    assert ruled_out.verdict == "no_real_change" and ruled_out.as_expected is False
    # Hoping for +3 points: the interval holds both 0 and 0.03, the data cannot tell yet.
    open_question = judge(uplift, expected_direction="up", expected_change=0.03, over=True)
    assert open_question.verdict == "inconclusive"
    assert "cannot tell yet" in (open_question.reason or "")


def test_too_few_in_a_cell_is_said_plainly_and_has_no_interval() -> None:
    uplift = share_uplift(95, 100, 9, 10)  # the holdout has 1 churned member
    assert uplift.difference == pytest.approx(0.05)
    assert uplift.ci_low is None and "too few to tell" in (uplift.reason or "")
    assert judge(uplift, expected_direction="up", expected_change=0.02, over=True).verdict == (
        "not_enough_data"
    )


def test_an_unfinished_period_is_interim() -> None:
    judged = judge(
        share_uplift(900, 1000, 160, 200), expected_direction="up", expected_change=0.05, over=False
    )
    assert judged.verdict == "measuring" and judged.as_expected is None
    assert (judged.reason or "").startswith("interim")


def test_a_change_the_wrong_way_is_real_but_not_as_expected() -> None:
    judged = judge(
        share_uplift(160, 200, 900, 1000), expected_direction="up", expected_change=0.05, over=True
    )
    assert judged.verdict == "real_change" and judged.as_expected is False


def test_billing_success_interval_counts_members_not_attempts() -> None:
    # Treatment: 10 members 2/2, 2 members 0/2 → R = 20/24 = 0.833333;
    # Σ(x − R·n)² = 10 × (1/3)² + 2 × (5/3)² = 6.666667; var = 12/11 × 6.666667 / 24² = 0.0126263
    # Holdout: 6 members 2/2, 4 members 0/2 → R = 12/20 = 0.6;
    # Σ = 6 × 0.8² + 4 × 1.2² = 9.6; var = 10/9 × 9.6 / 20² = 0.0266667
    # difference 0.233333, se = sqrt(0.0392929) = 0.198224, half = 0.388512
    uplift = ratio_uplift([2] * 10 + [0] * 2, [2] * 12, [2] * 6 + [0] * 4, [2] * 10)
    assert uplift.treatment.n == 24 and uplift.holdout.n == 20
    assert uplift.difference == pytest.approx(0.233333, abs=1e-6)
    assert uplift.ci_low == pytest.approx(0.233333 - 0.388512, abs=1e-5)
    assert uplift.ci_high == pytest.approx(0.233333 + 0.388512, abs=1e-5)
    # Members with no attempt are not in the ratio.
    same = ratio_uplift([2] * 10 + [0] * 2 + [0], [2] * 12 + [0], [2] * 6 + [0] * 4, [2] * 10)
    assert same.ci_low == pytest.approx(uplift.ci_low)


def test_nps_uplift_uses_the_adjusted_wald_variance_of_each_group() -> None:
    # Treatment 40 answers: 20 promoters, 10 passives, 10 detractors (NPS 25);
    # holdout 40: 10, 10, 20 (NPS −25). Adjusted: n = 43, p₁ = 20.75/43, d₁ = 10.75/43,
    # centre₁ = 0.232558, var₁ = (0.732558 − 0.232558²)/43 = 0.0157785; the holdout mirrors it.
    # half = 1.959964 × sqrt(2 × 0.0157785) = 0.348174 → 100 × (0.465116 ± 0.348174)
    treatment = [10] * 20 + [7] * 10 + [3] * 10
    holdout = [9] * 10 + [8] * 10 + [0] * 20
    uplift = nps_uplift(treatment, holdout)
    assert (uplift.treatment.value, uplift.holdout.value) == (25.0, -25.0)
    assert uplift.difference == pytest.approx(50.0)
    assert uplift.ci_low == pytest.approx(11.6942, abs=1e-3)
    assert uplift.ci_high == pytest.approx(81.3290, abs=1e-3)


def test_nps_needs_thirty_answers_in_each_group() -> None:
    uplift = nps_uplift([10] * 40, [0] * 29)
    assert uplift.ci_low is None and "29 answers" in (uplift.reason or "")


def test_a_mean_uses_welchs_interval() -> None:
    # Treatment 4,4,4,4,5,5,5,5,5,5: mean 4.6, s² = 2.4/9; holdout 3,4 ×5 each: mean 3.5,
    # s² = 2.5/9. se² = 0.0266667 + 0.0277778 = 0.0544444 (se 0.233333); Welch df = 17.9927,
    # t(0.975, 17.9927) = 2.10097 → half = 0.490226
    treatment = [4.0] * 4 + [5.0] * 6
    holdout = [3.0, 4.0] * 5
    uplift = mean_uplift(treatment, holdout, "answers")
    assert uplift.difference == pytest.approx(1.1)
    assert uplift.ci_low == pytest.approx(1.1 - 0.490226, abs=1e-4)
    assert uplift.ci_high == pytest.approx(1.1 + 0.490226, abs=1e-4)


def test_a_mean_with_no_answers_in_a_group_says_so() -> None:
    uplift = mean_uplift([4.0] * 12, [np.nan, np.nan], "answers")
    assert uplift.holdout.n == 0 and uplift.difference is None
    assert uplift.reason == "a group has no answers yet"
