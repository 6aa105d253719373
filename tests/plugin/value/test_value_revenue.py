"""MRR, ARPU, revenue at risk (docs/metrics.md "MRR", "ARPU", "revenue at risk")."""

import numpy as np
import pytest

from plugin.value.codes import BillingInterval as I
from plugin.value.codes import ContractStatus as S
from plugin.value.money import (
    billing_period_days,
    count_by_currency,
    monthly_factor,
    sum_by_currency,
)
from plugin.value.revenue import (
    active_subscribers_by_currency,
    arpu_by_currency,
    contract_mrr,
    mrr_by_currency,
    revenue_at_risk,
)


def test_interval_days_follow_the_definition() -> None:
    days = billing_period_days([I.DAY, I.WEEK, I.MONTH, I.YEAR, I.WEEK], [1, 1, 1, 1, 2])
    assert days.tolist() == [1.0, 7.0, 30.4375, 365.25, 14.0]


def test_monthly_factor_is_30_4375_over_period_days() -> None:
    # 30.4375 / (interval_count × days): monthly 1, two-weekly 30.4375/14, yearly 1/12.
    f = monthly_factor([I.MONTH, I.WEEK, I.YEAR, I.DAY], [1, 2, 1, 3])
    assert f == pytest.approx([1.0, 30.4375 / 14, 30.4375 / 365.25, 30.4375 / 3])


def test_invalid_interval_is_refused() -> None:
    with pytest.raises(ValueError):
        billing_period_days([9], [1])
    with pytest.raises(ValueError):
        billing_period_days([I.MONTH], [0])


def test_contract_mrr_hand_computed() -> None:
    # $30 monthly → 30; $10 every 2 weeks → 10 × 30.4375 / 14 = 21.7410714…;
    # $365.25 yearly → 30.4375; paused $50 monthly → 0; cancelled → 0.
    mrr = contract_mrr(
        amount=[30.0, 10.0, 365.25, 50.0, 40.0],
        interval=[I.MONTH, I.WEEK, I.YEAR, I.MONTH, I.MONTH],
        interval_count=[1, 2, 1, 1, 1],
        status=[S.ACTIVE, S.ACTIVE, S.ACTIVE, S.PAUSED, S.CANCELLED],
    )
    assert mrr == pytest.approx([30.0, 21.741071428571, 30.4375, 0.0, 0.0])


def test_mrr_is_per_currency_and_never_mixed() -> None:
    mrr = mrr_by_currency(
        amount=[30.0, 20.0, 100.0],
        currency=["USD", "USD", "EUR"],
        interval=[I.MONTH] * 3,
        interval_count=[1, 1, 1],
        status=[S.ACTIVE] * 3,
    )
    assert mrr == {"USD": pytest.approx(50.0), "EUR": pytest.approx(100.0)}


def test_zero_mrr_when_only_paused_or_nothing_active() -> None:
    # Paused revenue shows as 0 in its currency; cancelled revenue is not shown at all.
    assert mrr_by_currency([30.0], ["USD"], [I.MONTH], [1], [S.PAUSED]) == {"USD": 0.0}
    assert mrr_by_currency([30.0], ["USD"], [I.MONTH], [1], [S.CANCELLED]) == {}
    assert mrr_by_currency([], [], [], [], []) == {}
    # An active contract with a zero amount is MRR 0, reported, not missing.
    assert mrr_by_currency([0.0], ["USD"], [I.MONTH], [1], [S.ACTIVE]) == {"USD": 0.0}


def test_arpu_per_currency_counts_distinct_active_subscribers() -> None:
    # Subscriber 0 has two USD contracts (counts once), 1 has USD, 2 has EUR, 3 is paused.
    subs = [0, 0, 1, 2, 3]
    currency = ["USD", "USD", "USD", "EUR", "USD"]
    status = [S.ACTIVE, S.ACTIVE, S.ACTIVE, S.ACTIVE, S.PAUSED]
    amount = [10.0, 20.0, 30.0, 40.0, 99.0]
    mrr = mrr_by_currency(amount, currency, [I.MONTH] * 5, [1] * 5, status)
    active = active_subscribers_by_currency(subs, currency, status)
    assert active == {"USD": 2, "EUR": 1}
    arpu = arpu_by_currency(mrr, active)
    assert arpu == {"USD": pytest.approx(30.0), "EUR": pytest.approx(40.0)}


def test_arpu_without_active_subscribers_is_none_not_zero() -> None:
    assert arpu_by_currency({}, {}) == {}
    assert arpu_by_currency({"USD": 0.0}, {"USD": 0}) == {"USD": None}


def test_revenue_at_risk_is_mrr_of_high_risk_subscribers_per_currency() -> None:
    monthly = np.array([30.0, 10.0, 50.0, 0.0])
    currency = ["USD", "USD", "EUR", "USD"]
    subscriber = [0, 1, 2, 3]
    high = np.array([True, False, True, True])  # subscriber 3 is paused: $0 MRR
    assert revenue_at_risk(monthly, currency, subscriber, high) == {"USD": 30.0, "EUR": 50.0}
    nobody = revenue_at_risk(monthly, currency, subscriber, np.zeros(4, bool))
    assert nobody == {"USD": 0.0, "EUR": 0.0}


def test_sum_and_count_by_currency() -> None:
    assert sum_by_currency([1.0, 2.0, 4.0], ["A", "B", "A"], [True, True, False]) == {
        "A": 1.0,
        "B": 2.0,
    }
    assert count_by_currency(["A", "B", "A"]) == {"A": 2, "B": 1}
    assert count_by_currency([]) == {}
