"""Expected residual value, predicted LTV, customer value model (docs/metrics.md)."""

import numpy as np
import pytest

from plugin.value.value import (
    PlanValueModel,
    customer_value,
    expected_residual_value,
    predicted_ltv,
)


def test_expected_residual_value_is_amount_times_margin_times_derl() -> None:
    erv = expected_residual_value([30.0, 0.0, 20.0], 0.6, [10.0, 10.0, 2.5])
    assert erv == pytest.approx([180.0, 0.0, 30.0])


def test_predicted_ltv_is_amount_times_margin_times_del() -> None:
    assert predicted_ltv(25.0, 1.0, 12.0) == pytest.approx(300.0)


def test_margin_must_be_a_share() -> None:
    with pytest.raises(ValueError):
        expected_residual_value([1.0], 1.5, [1.0])
    with pytest.raises(ValueError):
        predicted_ltv(1.0, -0.1, 1.0)


def test_plan_value_is_benefits_minus_price() -> None:
    # One-time price 34 + shipping 5 + perks 1 = benefits 40; price 29 → value 11 per cycle
    # (= saving 5 vs one-time price + shipping 5 + perks 1).
    plan = PlanValueModel(
        "coffee", "USD", price=29.0, one_time_price=34.0, shipping_included=5.0, perks=1.0
    )
    assert plan.benefits == 40.0
    assert plan.value_per_cycle == 11.0


def test_customer_value_per_cycle_and_cumulated() -> None:
    plans = (
        PlanValueModel("a", "USD", price=29.0, one_time_price=34.0, shipping_included=5.0),
        PlanValueModel("b", "USD", price=50.0, one_time_price=45.0),  # negative value
    )
    per_cycle, cumulative = customer_value([0, 1, -1, 0], [3, 2, 5, 0], plans)
    assert per_cycle[[0, 1, 3]].tolist() == [10.0, -5.0, 10.0]
    assert np.isnan(per_cycle[2])  # no model: not the same as zero value
    assert cumulative[[0, 1, 3]].tolist() == [30.0, -10.0, 0.0]
    with pytest.raises(ValueError):
        customer_value([2], [1], plans)


def test_customer_value_without_plans() -> None:
    per_cycle, cumulative = customer_value([-1, -1], [1, 2], ())
    assert np.isnan(per_cycle).all() and np.isnan(cumulative).all()
