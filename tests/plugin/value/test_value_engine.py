"""score_shop end to end on a hand-made shop, an empty shop and a 20k synthetic shop."""

from datetime import date

import numpy as np
import pytest

from plugin.value import (
    AnswerColumns,
    BillingAttemptColumns,
    CancellationColumns,
    ContractColumns,
    EngineSettings,
    EventColumns,
    PlanValueModel,
    RiskMethod,
    Segment,
    ShopInputs,
    SubscriberColumns,
    score_shop,
)
from plugin.value.codes import BillingInterval as I
from plugin.value.codes import ContractStatus as S
from plugin.value.codes import EndSource as E
from plugin.value.codes import EventKind

AS_OF = date(2025, 6, 30)
NAT = "NaT"


def hand_shop() -> ShopInputs:
    contracts = ContractColumns(
        subscriber=[0, 1, 2, 3, 4, 5],
        status=[S.ACTIVE, S.ACTIVE, S.PAUSED, S.CANCELLED, S.CANCELLED, S.FAILED],
        currency=["USD", "USD", "EUR", "USD", "USD", "USD"],
        amount=[30.0, 10.0, 40.0, 25.0, 20.0, 30.0],
        interval=[I.MONTH, I.WEEK, I.MONTH, I.MONTH, I.MONTH, I.MONTH],
        interval_count=[1, 2, 1, 1, 1, 1],
        started_on=[
            "2025-01-10",
            "2025-05-01",
            "2025-02-01",
            "2025-01-01",
            "2025-06-03",
            "2024-12-01",
        ],
        ended_on=[NAT, NAT, NAT, "2025-05-15", "2025-06-20", "2025-06-10"],
        end_source=[E.NONE, E.NONE, E.NONE, E.VOLUNTARY, E.VOLUNTARY, E.INVOLUNTARY],
        plan=[0, -1, -1, 0, -1, -1],
    )
    attempts = (
        [(0, f"2025-0{m}-10", True) for m in range(2, 7)]
        + [(1, d, True) for d in ("2025-05-15", "2025-05-29", "2025-06-12", "2025-06-26")]
        + [(2, f"2025-0{m}-01", True) for m in range(3, 6)]
        + [(3, f"2025-0{m}-01", True) for m in range(2, 6)]
        + [(5, f"2025-0{m}-01", True) for m in range(1, 6)]
        + [(5, "2025-06-01", False), (5, "2025-06-05", False)]
    )
    c, on, ok = zip(*attempts, strict=True)
    return ShopInputs(
        subscribers=SubscriberColumns(customer_id=[100, 101, 102, 103, 104, 105]),
        contracts=contracts,
        billing_attempts=BillingAttemptColumns(contract=c, attempted_on=on, succeeded=ok),
        answers=AnswerColumns(
            subscriber=[0, 1, 3],
            answered_on=["2025-06-15", "2025-01-01", "2025-04-01"],
            score=[9, 4, 2],
            value_for_money=[5, np.nan, 1],
        ),
        cancellations=CancellationColumns(
            contract=[3, 4, 5],
            cancelled_on=["2025-05-15", "2025-06-20", "2025-06-10"],
            reason=["too_expensive", "too_much_product", "payment_failed"],
        ),
        events=EventColumns(
            subscriber=[1], occurred_on=["2025-06-01"], kind=[EventKind.SKIP], source=[1]
        ),
        plans=(PlanValueModel("box", "USD", price=30.0, one_time_price=36.0),),
    )


def test_hand_made_shop() -> None:
    r = score_shop(hand_shop(), AS_OF)
    m, s = r.metrics, r.subscribers
    assert (m.active_subscribers, m.paused_subscribers) == (2, 1)
    # $30 monthly + $10 every 2 weeks (10 × 30.4375 / 14); the paused EUR contract is $0.
    assert m.mrr == {"USD": pytest.approx(30 + 10 * 30.4375 / 14), "EUR": 0.0}
    assert m.arpu["USD"] == pytest.approx((30 + 10 * 30.4375 / 14) / 2)
    assert m.arpu["EUR"] is None  # nobody active in EUR
    assert m.main_currency == "USD"
    # Last complete month is May: live on May 1 were 0, 2, 3, 5 (1 joined May 1st); 3 left.
    assert m.churn.month[-1] == np.datetime64("2025-05-01")
    assert (m.monthly_churn_rate.numerator, m.monthly_churn_rate.denominator) == (1, 4)
    # June attempts: 3 successes (Jun 10, 12, 26) and 2 failures.
    assert (m.billing_success.numerator, m.billing_success.denominator) == (3, 5)
    assert m.nps.n == 1 and m.nps.score is None and not m.nps_change.real_change
    assert m.cancel_reasons.capture.value == 0.5  # too_much_product of 2 June cancellations
    assert m.cadence_fit.value == 0.5  # subscriber 1 skipped in June
    assert m.self_serve.value == 1.0
    assert m.risk_model.method == RiskMethod.FIXED_MULTIPLIERS and m.risk_model.reason
    assert m.retention_model.source in {"sbg", "pooled_rate"}
    assert m.plan_values == {"box": 6.0}

    live = np.array([True, True, True, False, False, False])
    assert s.customer_id.tolist() == [100, 101, 102, 103, 104, 105]
    assert s.is_paused.tolist() == [False, False, True, False, False, False]
    assert s.currency.tolist() == ["USD", "USD", "EUR", "USD", "USD", "USD"]
    assert s.mrr[:3] == pytest.approx([30.0, 10 * 30.4375 / 14, 0.0])
    assert s.renewals.tolist() == [5, 4, 3, 4, 0, 5]
    assert np.isfinite(s.churn_risk[live]).all() and np.isnan(s.churn_risk[~live]).all()
    assert s.risk_method.tolist() == [RiskMethod.FIXED_MULTIPLIERS] * 3 + [RiskMethod.NONE] * 3
    assert (s.expected_residual_value[live] > 0).all()  # the paused one too: still a customer
    assert np.isnan(s.expected_residual_value[~live]).all()
    assert s.segment[3:].tolist() == [Segment.CHURNED] * 3
    # Economic percentile is ranked within currency: the lone EUR subscriber sits at 0.5.
    assert s.value_components[2, 0] == 0.5
    assert sorted(s.value_components[:2, 0].tolist()) == [0.0, 1.0]
    assert s.value_present[0].tolist() == [True, True, True]  # answered NPS 9 / value 5
    assert s.value_present[2].tolist() == [True, False, True]  # never answered: missing
    assert s.nps_last[[0, 1]].tolist() == [9.0, 4.0] and np.isnan(s.nps_last[2])
    assert s.customer_value_per_cycle[0] == 6.0 and np.isnan(s.customer_value_per_cycle[1])
    assert s.customer_value_cumulative[0] == 6.0 * 6  # first order + 5 renewals


def test_settings_change_the_numbers() -> None:
    base = score_shop(hand_shop(), AS_OF)
    half = score_shop(hand_shop(), AS_OF, EngineSettings(margin=0.5))
    np.testing.assert_allclose(
        half.subscribers.expected_residual_value, 0.5 * base.subscribers.expected_residual_value
    )


def test_empty_shop() -> None:
    shop = ShopInputs(subscribers=SubscriberColumns.empty(), contracts=ContractColumns.empty())
    r = score_shop(shop, AS_OF)
    assert r.metrics.active_subscribers == 0 and r.metrics.mrr == {}
    assert r.metrics.nps.reason == "no answers"
    assert not r.metrics.retention_model.fit.converged
    assert r.subscribers.value_score.size == 0


def test_inputs_are_validated() -> None:
    shop = hand_shop()
    bad = ContractColumns(**{**shop.contracts.__dict__, "ended_on": [NAT] * 6})
    with pytest.raises(ValueError, match="ended_on"):
        ShopInputs(subscribers=shop.subscribers, contracts=bad, plans=shop.plans)
    with pytest.raises(ValueError, match="does not exist"):
        ShopInputs(
            subscribers=SubscriberColumns(customer_id=[1]),
            contracts=shop.contracts,
            plans=shop.plans,
        )
    with pytest.raises(ValueError, match="lengths"):
        AnswerColumns(subscriber=[0], answered_on=[], score=[], value_for_money=[])


def test_synthetic_20k_shop(synthetic_shop_20k: ShopInputs) -> None:
    # Speed is checked by running this on 100k by hand (< 3 s); here only correctness.
    r = score_shop(synthetic_shop_20k, date(2025, 6, 30))
    m, s = r.metrics, r.subscribers
    live = s.is_active | s.is_paused
    assert m.retention_model.source == "sbg" and m.retention_model.fit.converged
    # The generator draws θ ~ Beta(0.8, 4); the fit should land near it.
    assert m.retention_model.fit.alpha == pytest.approx(0.8, rel=0.3)
    assert m.retention_model.fit.beta == pytest.approx(4.0, rel=0.3)
    assert m.risk_model.method == RiskMethod.LOGISTIC
    assert m.risk_model.holdout_auc is not None and m.risk_model.holdout_auc > 0.6
    assert (s.risk_method[live] == m.risk_model.method).all()
    assert (s.risk_method[~live] == RiskMethod.NONE).all()
    assert np.all((s.churn_risk[live] >= 0) & (s.churn_risk[live] <= 1))
    assert np.all((s.value_score[live] >= 0) & (s.value_score[live] <= 100))
    assert np.isnan(s.value_score[~live]).all()
    assert sum(m.segment_counts.values()) == live.sum()
    assert set(m.mrr) == {"USD", "EUR"}
    for cur, amount in m.revenue_at_risk.items():
        assert 0 <= amount <= m.mrr[cur]
    assert m.nps.enough_answers and m.nps.ci_low <= m.nps.score <= m.nps.ci_high
    assert m.cohorts.survival.shape[0] >= 24  # one row per monthly cohort over two years
    assert all(0 < v <= 1 for v in m.retention_by_order.survival[:6])


def _simple_shop(ended: bool) -> ShopInputs:
    n = 4
    return ShopInputs(
        subscribers=SubscriberColumns(customer_id=range(n)),
        contracts=ContractColumns(
            subscriber=range(n),
            status=[S.CANCELLED if ended else S.ACTIVE] * n,
            currency=["USD"] * n,
            amount=[20.0] * n,
            interval=[I.MONTH] * n,
            interval_count=[1] * n,
            started_on=["2025-01-05"] * n,
            ended_on=["2025-04-20" if ended else NAT] * n,
            end_source=[E.VOLUNTARY if ended else E.NONE] * n,
            plan=[-1] * n,
        ),
        billing_attempts=BillingAttemptColumns(
            contract=[0, 1, 2, 3], attempted_on=["2025-02-05"] * 4, succeeded=[True] * 4
        ),
    )


def test_all_churned_shop() -> None:
    r = score_shop(_simple_shop(ended=True), AS_OF)
    m, s = r.metrics, r.subscribers
    assert m.active_subscribers == 0 and m.mrr == {}
    april = int(np.flatnonzero(m.churn.month == np.datetime64("2025-04-01"))[0])
    assert m.churn.rate[april] == 1.0
    assert (s.segment == Segment.CHURNED).all()
    assert np.isnan(s.churn_risk).all() and (s.risk_method == RiskMethod.NONE).all()
    assert m.cohorts.survival[0, 4] == 0.0  # everyone gone after 3.5 months
    assert m.revenue_at_risk == {}


def test_none_churned_shop_reports_its_fallback() -> None:
    r = score_shop(_simple_shop(ended=False), AS_OF)
    m, s = r.metrics, r.subscribers
    assert m.active_subscribers == 4 and m.mrr == {"USD": pytest.approx(80.0)}
    assert np.nanmax(m.churn.rate) == 0.0
    assert not m.retention_model.fit.converged
    assert m.retention_model.source == "pooled_rate"
    assert "no churn" in (m.retention_model.fit.reason or "")
    # Jeffreys-smoothed rate: (0 + ½)/(4 renewal opportunities + 1) = 0.1.
    assert m.retention_model.pooled_rate == pytest.approx(0.1)
    assert s.churn_risk == pytest.approx([0.1] * 4)
    assert (s.risk_method == RiskMethod.FIXED_MULTIPLIERS).all()
    assert np.isfinite(s.expected_residual_value).all()


def test_survey_signals_move_the_fixed_multiplier_risk() -> None:
    # Same four subscribers (baseline 0.1, odds 1/9); survey answers of subscribers who
    # stayed, inside and outside the 90-day feature window before 1 July.
    shop = _simple_shop(ended=False)
    events = EventColumns(
        subscriber=[1, 2, 3, 3, 0],
        occurred_on=["2025-06-10", "2025-06-10", "2025-05-01", "2025-05-01", "2025-03-01"],
        kind=[
            EventKind.CANCEL_ATTEMPT,
            EventKind.CADENCE_REASON,
            EventKind.CANCEL_ATTEMPT,
            EventKind.CADENCE_REASON,
            EventKind.CANCEL_ATTEMPT,  # 122 days before: not a feature any more
        ],
        source=[1] * 5,
    )
    shop = ShopInputs(
        subscribers=shop.subscribers,
        contracts=shop.contracts,
        billing_attempts=shop.billing_attempts,
        events=events,
    )
    s = score_shop(shop, AS_OF).subscribers
    # 0: baseline. 1: × 2.0 → 2/11. 2: × 1.2 → 2/17. 3: × 2.4 → 2.4/11.4.
    assert s.churn_risk == pytest.approx([0.1, 2 / 11, 2 / 17, 2.4 / 11.4])
    assert (s.risk_method == RiskMethod.FIXED_MULTIPLIERS).all()
