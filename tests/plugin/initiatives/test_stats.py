"""The pooled two-proportion z test against hand-computed values (Agresti, "An Introduction to
Categorical Data Analysis", 3rd ed., §2.1; NIST/SEMATECH e-Handbook §7.3.3)."""

from __future__ import annotations

import pytest

from plugin.initiatives.stats import compare_proportions


def test_hand_computed_z_and_p() -> None:
    # 360/400 = 0.90 before, 380/400 = 0.95 after; pooled p = 740/800 = 0.925.
    # se = sqrt(0.925 × 0.075 × (1/400 + 1/400)) = sqrt(0.000346875) = 0.0186246
    # z = 0.05 / 0.0186246 = 2.68462; two-sided p = 2 × (1 − Φ(2.68462)) = 0.00726
    result = compare_proportions(360, 400, 380, 400)
    assert result.before == 0.9 and result.after == 0.95
    assert result.difference == pytest.approx(0.05)
    assert result.z == pytest.approx(2.68462, abs=1e-5)
    assert result.p_value == pytest.approx(0.007261, abs=1e-6)
    assert result.real_change and result.reason is None


def test_half_the_sample_is_not_significant() -> None:
    # Same rates on 200 each: se = sqrt(0.925 × 0.075 × 0.01) = 0.0263391, z = 1.89832,
    # p = 0.05765 ≥ 0.05.
    result = compare_proportions(180, 200, 190, 200)
    assert result.z == pytest.approx(1.89832, abs=1e-5)
    assert result.p_value == pytest.approx(0.05765, abs=1e-5)
    assert not result.real_change
    assert result.reason is not None and "not significant" in result.reason


def test_a_fall_gives_a_negative_z() -> None:
    result = compare_proportions(380, 400, 360, 400)
    assert result.z == pytest.approx(-2.68462, abs=1e-5)
    assert result.real_change


def test_small_cells_are_never_called_real() -> None:
    # 1/100 → 12/100 is "significant" by the formula, but a cell of 1 breaks the approximation.
    result = compare_proportions(1, 100, 12, 100)
    assert result.p_value is not None and result.p_value < 0.05
    assert not result.real_change
    assert result.reason is not None and "too few" in result.reason


def test_empty_and_constant_samples() -> None:
    empty = compare_proportions(0, 0, 5, 10)
    assert empty.difference is None and empty.z is None and not empty.real_change
    constant = compare_proportions(50, 50, 80, 80)
    assert constant.difference == 0.0 and constant.z is None and not constant.real_change


@pytest.mark.parametrize(("x", "n"), [(-1, 10), (11, 10), (1, -1)])
def test_impossible_counts_are_refused(x: int, n: int) -> None:
    with pytest.raises(ValueError):
        compare_proportions(x, n, 1, 10)
