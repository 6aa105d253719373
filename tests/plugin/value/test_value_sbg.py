"""Shifted-beta-geometric model, DEL and DERL.

Sources:
- Fader & Hardie (2007), "How to Project Customer Retention", Journal of Interactive
  Marketing 21(1), 76–90: survivor data of two segments (1000 customers each, years 0–7) and
  the published maximum-likelihood fits, Regular α = 0.704, β = 1.182, LL = −1680.3 and
  High End α = 0.668, β = 3.806, LL = −1611.2. (LL = −2115.5 is the High End
  log-likelihood at the spreadsheet's starting point α = β = 1, not the Regular fit.)
- Fader & Hardie (2010), "Customer-Base Valuation in a Contractual Setting: The Perils of
  Ignoring Heterogeneity", Marketing Science 29(1), 85–93, eq. (6) for DERL and DEL. The
  paper's own numeric example was not available to us, so DERL/DEL are checked against the
  defining sums (truncated far out) and against an independent open-source implementation
  (jdmaturen/shifted_beta_geometric_py, README: DERL = 7.530 for the High End fit, d = 0.10,
  7 renewals made).
"""

import numpy as np
import pytest
from scipy.special import betaln

from plugin.value.sbg import (
    derl,
    discounted_expected_lifetime,
    fit_sbg,
    geometric_del,
    geometric_derl,
    next_renewal_probability,
    per_period_discount_rate,
    pooled_churn_rate,
    renewal_counts,
    sbg_churn_probability,
    sbg_log_likelihood,
    sbg_survival,
)

REGULAR = [1000, 631, 468, 382, 326, 289, 262, 241]
HIGH_END = [1000, 869, 743, 653, 593, 551, 517, 491]


def per_subscriber(survivors: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """Turn a survivor curve into per-subscriber (renewals, churned) rows."""
    alive = np.asarray(survivors)
    lost = -np.diff(alive)
    renewals = np.r_[np.repeat(np.arange(lost.size), lost), np.full(alive[-1], lost.size)]
    churned = np.r_[np.ones(lost.sum(), bool), np.zeros(alive[-1], bool)]
    return renewals, churned


@pytest.mark.parametrize(
    ("survivors", "alpha", "beta", "loglik"),
    [(REGULAR, 0.704, 1.182, -1680.3), (HIGH_END, 0.668, 3.806, -1611.2)],
)
def test_reproduces_fader_hardie_2007_published_fits(survivors, alpha, beta, loglik) -> None:
    renewals, churned = per_subscriber(survivors)
    fit = fit_sbg(renewals, churned)
    assert fit.converged and fit.reason is None
    assert fit.alpha == pytest.approx(alpha, abs=5e-4)
    assert fit.beta == pytest.approx(beta, abs=5e-4)
    assert fit.loglik == pytest.approx(loglik, abs=0.05)
    assert fit.n_subscribers == 1000
    assert fit.n_churned == 1000 - survivors[-1]


def test_high_end_loglik_at_starting_values() -> None:
    renewals, churned = per_subscriber(HIGH_END)
    assert sbg_log_likelihood(1.0, 1.0, renewals, churned) == pytest.approx(-2115.5, abs=0.05)


def test_fitted_curve_tracks_published_survivors() -> None:
    renewals, churned = per_subscriber(REGULAR)
    fit = fit_sbg(renewals, churned)
    projected = 1000 * sbg_survival(np.arange(8), fit.alpha, fit.beta)
    assert projected == pytest.approx(REGULAR, abs=15)


def test_counts_aggregate_subscribers() -> None:
    churn_at, censored_at = renewal_counts([0, 0, 2, 3, 3], [True, False, True, False, False])
    assert churn_at.tolist() == [0, 1, 0, 1, 0]  # churned in periods 1 and 3
    assert censored_at.tolist() == [1, 0, 0, 2, 0]


def test_survival_and_churn_probability_identities() -> None:
    a, b = 0.704, 1.182
    t = np.arange(1, 30)
    s = sbg_survival(np.arange(30), a, b)
    assert s[0] == pytest.approx(1.0)
    assert sbg_churn_probability(t, a, b) == pytest.approx(s[:-1] - s[1:])
    assert sbg_churn_probability(1, a, b) == pytest.approx(a / (a + b))
    # Retention after r renewals: S(r+1)/S(r) = (β + r)/(α + β + r).
    r = np.arange(29)
    assert next_renewal_probability(r, a, b) == pytest.approx(s[1:] / s[:-1])
    assert next_renewal_probability(0, a, b) == pytest.approx(b / (a + b))


def derl_by_sum(a: float, b: float, renewals: int, d: float, terms: int = 200_000) -> float:
    """Σ_{t ≥ n} S(t)/S(n−1) / (1+d)^(t−n), n = renewals + 1 (Fader & Hardie 2010, eq. 6)."""
    n = renewals + 1
    t = np.arange(n, n + terms, dtype=float)
    log_ratio = betaln(a, b + t) - betaln(a, b + n - 1)
    return float(np.exp(log_ratio - (t - n) * np.log1p(d)).sum())


@pytest.mark.parametrize(
    ("a", "b", "renewals", "d"),
    [
        (0.704, 1.182, 0, 0.1),
        (0.668, 3.806, 7, 0.1),
        (0.704, 1.182, 4, 0.008),
        (0.3, 50.0, 99, 0.0008),
        (5.0, 0.5, 0, 0.008),
    ],
)
def test_derl_closed_form_equals_defining_sum(a, b, renewals, d) -> None:
    assert derl(renewals, a, b, d) == pytest.approx(derl_by_sum(a, b, renewals, d), rel=1e-9)


def test_derl_matches_independent_implementation_value() -> None:
    renewals, churned = per_subscriber(HIGH_END)
    fit = fit_sbg(renewals, churned)
    assert derl(7, fit.alpha, fit.beta, 0.10) == pytest.approx(7.530, abs=5e-4)


def test_derl_is_vectorised_and_increases_with_tenure() -> None:
    values = derl(np.array([0, 1, 2, 10, 0]), 0.704, 1.182, np.array([0.1] * 4 + [0.2]))
    assert values.shape == (5,)
    assert np.all(np.diff(values[:4]) > 0)  # survivors are the better customers
    assert values[4] < values[0]  # heavier discounting, lower value


def test_del_equals_first_payment_plus_discounted_derl() -> None:
    a, b, d = 0.668, 3.806, 0.1
    total = float(discounted_expected_lifetime(a, b, d))
    assert total == pytest.approx(1.0 + derl(0, a, b, d) / (1 + d))
    t = np.arange(0, 200_000, dtype=float)
    by_sum = np.exp(betaln(a, b + t) - betaln(a, b) - t * np.log1p(d)).sum()
    assert total == pytest.approx(by_sum, rel=1e-9)


def test_discount_rate_must_be_positive() -> None:
    with pytest.raises(ValueError):
        derl(0, 1.0, 1.0, 0.0)
    with pytest.raises(ValueError):
        discounted_expected_lifetime(1.0, 1.0, 0.0)


def test_per_period_discount_rate_from_annual_ten_percent() -> None:
    # (1.10)^(k/365.25) − 1 for a month (30.4375 d), a week, a year.
    rates = per_period_discount_rate(0.10, [30.4375, 7.0, 365.25])
    assert rates == pytest.approx([1.1 ** (1 / 12) - 1, 0.0018282846, 0.10])
    assert rates[0] == pytest.approx(0.0079741404)


def test_fit_without_churn_or_data_is_flagged_not_silent() -> None:
    no_churn = fit_sbg([0, 3, 5], [False, False, False])
    assert not no_churn.converged and "no churn" in (no_churn.reason or "")
    first_only = fit_sbg([0, 0, 0], [True, True, True])
    assert not first_only.converged
    empty = fit_sbg([], [])
    assert not empty.converged and empty.n_subscribers == 0


def test_one_cohort_fit_with_few_subscribers_converges() -> None:
    fit = fit_sbg([0, 0, 1, 2, 4, 4, 6], [True, True, True, False, True, False, False])
    assert fit.converged
    assert fit.alpha > 0 and fit.beta > 0


def test_geometric_fallback_hand_computed() -> None:
    # q = 0.2, d = 0.1: DERL = 0.8 / (1 − 0.8/1.1) = 2.93333; DEL = 1 / (1 − 0.8/1.1) = 3.66667.
    assert float(geometric_derl(0.2, 0.1)) == pytest.approx(2.933333, abs=1e-6)
    assert float(geometric_del(0.2, 0.1)) == pytest.approx(3.666667, abs=1e-6)
    # (churns + ½)/(opportunities + 1): a churner with 2 renewals had 3 opportunities, an
    # active subscriber with 3 renewals had 3: (1 + ½)/(6 + 1).
    assert pooled_churn_rate([2, 3], [True, False]) == pytest.approx(1.5 / 7)
