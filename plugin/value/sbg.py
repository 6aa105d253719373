"""Shifted-beta-geometric (sBG) retention model, DEL and DERL (docs/metrics.md "Retention model").

Fader & Hardie (2007), "How to Project Customer Retention", Journal of Interactive
Marketing 21(1): each customer renews with a constant probability 1 − θ per period, θ ~
Beta(α, β) across customers, so the churn period T ∈ {1, 2, …} has
    P(T = t) = B(α + 1, β + t − 1) / B(α, β),   S(t) = P(T > t) = B(α, β + t) / B(α, β).
A customer who made r renewals and then left churned in period T = r + 1; one still active
after r renewals is censored: all we know is T > r, likelihood S(r).

Fader & Hardie (2010), "Customer-Base Valuation in a Contractual Setting: The Perils of
Ignoring Heterogeneity", Marketing Science 29(1), eq. (6) and DEL:
    DERL(d | α, β, n − 1 renewals) = Σ_{t ≥ n} [S(t) / S(n − 1)] / (1 + d)^{t − n}
        = (β + n − 1)/(α + β + n − 1) · 2F1(1, β + n; α + β + n; 1/(1 + d))
    DEL(d | α, β) = Σ_{t ≥ 1} S(t − 1) / (1 + d)^{t − 1} = 2F1(1, β; α + β; 1/(1 + d))
with d the discount rate per renewal period.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy.optimize import minimize
from scipy.special import betaln, digamma, hyp2f1

# Bounds on α and β keep the optimiser finite when the data cannot identify them (no churn
# at all, or everybody gone at the first renewal); hitting one marks the fit unconverged.
_LOG_BOUND = (np.log(1e-4), np.log(1e4))


@dataclass(frozen=True)
class SbgFit:
    """Maximum-likelihood sBG fit with shared (α, β) over all cohorts.

    loglik: maximised log-likelihood (natural log).
    converged: the optimiser succeeded and neither parameter sits at a bound; when False,
        `reason` says why and the parameters must not be presented as estimates.
    n_subscribers / n_churned: the data behind the fit.
    """

    alpha: float
    beta: float
    loglik: float
    converged: bool
    n_subscribers: int
    n_churned: int
    reason: str | None = None


def renewal_counts(
    renewals: npt.ArrayLike, churned: npt.ArrayLike
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Aggregate subscribers into (churn_at[t], censored_at[r]) counts.

    churn_at[t]: subscribers who churned in period t (t = renewals + 1; index 0 unused).
    censored_at[r]: subscribers still active after r renewals.
    Fitting on counts makes the likelihood cost depend on the longest tenure, not on the
    number of subscribers.
    """
    r = np.asarray(renewals, dtype=np.int64)
    dead = np.asarray(churned, dtype=bool)
    if r.size and r.min() < 0:
        raise ValueError("renewals must be non-negative")
    top = int(r.max()) + 2 if r.size else 2
    churn_at = np.bincount(r[dead] + 1, minlength=top).astype(np.float64)
    censored_at = np.bincount(r[~dead], minlength=top).astype(np.float64)
    return churn_at, censored_at


def _neg_loglik_and_grad(
    log_params: npt.NDArray[np.float64],
    churn_at: npt.NDArray[np.float64],
    censored_at: npt.NDArray[np.float64],
) -> tuple[float, npt.NDArray[np.float64]]:
    a, b = np.exp(log_params)
    t = np.arange(churn_at.size, dtype=np.float64)
    churn_t = t[1:]
    churn_n = churn_at[1:]
    cens_n = censored_at
    total = churn_n.sum() + cens_n.sum()
    base = betaln(a, b)
    ll = churn_n @ (betaln(a + 1.0, b + churn_t - 1.0)) + cens_n @ betaln(a, b + t) - total * base
    # Analytic gradient (d/dx ln B(x, y) = ψ(x) − ψ(x + y)) makes L-BFGS-B fast and exact.
    d_base_a = digamma(a) - digamma(a + b)
    d_base_b = digamma(b) - digamma(a + b)
    ga = (
        churn_n @ (digamma(a + 1.0) - digamma(a + b + churn_t))
        + cens_n @ (digamma(a) - digamma(a + b + t))
        - total * d_base_a
    )
    gb = (
        churn_n @ (digamma(b + churn_t - 1.0) - digamma(a + b + churn_t))
        + cens_n @ (digamma(b + t) - digamma(a + b + t))
        - total * d_base_b
    )
    return -float(ll), -np.array([ga * a, gb * b])


def sbg_log_likelihood(
    alpha: float, beta: float, renewals: npt.ArrayLike, churned: npt.ArrayLike
) -> float:
    """Log-likelihood of (α, β) for per-subscriber renewal counts (Fader & Hardie 2007, B3)."""
    churn_at, censored_at = renewal_counts(renewals, churned)
    value, _ = _neg_loglik_and_grad(np.log([alpha, beta]), churn_at, censored_at)
    return -value


def fit_sbg(renewals: npt.ArrayLike, churned: npt.ArrayLike) -> SbgFit:
    """Fit the sBG by maximum likelihood on all cohorts with shared (α, β).

    renewals: renewals each subscriber made (successful billing attempts after the first
        order); churned: the subscriber left (else still active, censored at `renewals`).
    The optimiser works on (ln α, ln β) so both stay positive without constraints.
    """
    churn_at, censored_at = renewal_counts(renewals, churned)
    n = int(churn_at.sum() + censored_at.sum())
    n_churned = int(churn_at.sum())
    if n == 0:
        return SbgFit(np.nan, np.nan, np.nan, False, 0, 0, "no subscribers")
    result = minimize(
        _neg_loglik_and_grad,
        x0=np.zeros(2),
        args=(churn_at, censored_at),
        jac=True,
        method="L-BFGS-B",
        bounds=[_LOG_BOUND, _LOG_BOUND],
        options={"ftol": 1e-13, "gtol": 1e-9, "maxiter": 500},
    )
    log_a, log_b = result.x
    at_bound = any(
        min(abs(x - _LOG_BOUND[0]), abs(x - _LOG_BOUND[1])) < 1e-3 for x in (log_a, log_b)
    )
    reason = None
    if n_churned == 0:
        reason = "no churn observed: retention cannot be estimated"
    elif n_churned == n and censored_at.sum() == 0 and churn_at[2:].sum() == 0:
        reason = "everybody left at the first renewal: heterogeneity cannot be estimated"
    elif not result.success:
        reason = f"optimiser did not converge: {result.message}"
    elif at_bound:
        reason = "a parameter hit its bound: the data do not identify the model"
    return SbgFit(
        alpha=float(np.exp(log_a)),
        beta=float(np.exp(log_b)),
        loglik=-float(result.fun),
        converged=reason is None,
        n_subscribers=n,
        n_churned=n_churned,
        reason=reason,
    )


def sbg_survival(t: npt.ArrayLike, alpha: float, beta: float) -> npt.NDArray[np.float64]:
    """S(t) = B(α, β + t) / B(α, β): share still subscribed after t renewal opportunities."""
    t = np.asarray(t, dtype=np.float64)
    return np.exp(betaln(alpha, beta + t) - betaln(alpha, beta))


def sbg_churn_probability(t: npt.ArrayLike, alpha: float, beta: float) -> npt.NDArray[np.float64]:
    """P(T = t) = B(α + 1, β + t − 1) / B(α, β), t ≥ 1."""
    t = np.asarray(t, dtype=np.float64)
    return np.exp(betaln(alpha + 1.0, beta + t - 1.0) - betaln(alpha, beta))


def next_renewal_probability(
    renewals: npt.ArrayLike, alpha: float, beta: float
) -> npt.NDArray[np.float64]:
    """P(renew at the next opportunity | r = n − 1 renewals made) = (β + n − 1)/(α + β + n − 1).

    Written with r = n − 1 to avoid the off-by-one: (β + r) / (α + β + r).
    """
    r = np.asarray(renewals, dtype=np.float64)
    return (beta + r) / (alpha + beta + r)


def per_period_discount_rate(
    annual_rate: float, period_days: npt.ArrayLike
) -> npt.NDArray[np.float64]:
    """Per-period discount rate for a k-day billing period: (1 + annual)^(k/365.25) − 1."""
    k = np.asarray(period_days, dtype=np.float64)
    return np.power(1.0 + annual_rate, k / 365.25) - 1.0


def _unique_pairs(
    r: npt.NDArray[np.float64], d: npt.NDArray[np.float64]
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.int64]]:
    # As complex numbers: a 1-D unique (sorted by r, then d) is several times faster than
    # np.unique(axis=0) over row pairs. A pair holding a NaN gives NaN either way.
    pairs, inverse = np.unique(r.ravel() + 1j * d.ravel(), return_inverse=True)
    return pairs.real.copy(), pairs.imag.copy(), inverse.ravel()


def discounted_expected_residual_lifetime(
    renewals: npt.ArrayLike, alpha: float, beta: float, discount_rate: npt.ArrayLike
) -> npt.NDArray[np.float64]:
    """DERL (Fader & Hardie 2010, eq. 6) for customers who have made r = n − 1 renewals.

    The expected discounted number of future payments, counting the coming renewal
    undiscounted: (β + n − 1)/(α + β + n − 1) · 2F1(1, β + n; α + β + n; 1/(1 + d)).
    hyp2f1 runs once per distinct (renewals, d) pair, so 1M subscribers cost a few hundred
    evaluations.
    """
    r, d = np.broadcast_arrays(
        np.asarray(renewals, dtype=np.float64), np.asarray(discount_rate, dtype=np.float64)
    )
    if np.any(d <= 0):
        raise ValueError("discount rate must be positive (the undiscounted sum may diverge)")
    if r.size == 0:
        return np.zeros(r.shape)
    ur, ud, inverse = _unique_pairs(r, d)
    n = ur + 1.0
    values = (
        (beta + n - 1.0)
        / (alpha + beta + n - 1.0)
        * hyp2f1(1.0, beta + n, alpha + beta + n, 1.0 / (1.0 + ud))
    )
    return values[inverse].reshape(r.shape)


def discounted_expected_lifetime(
    alpha: float, beta: float, discount_rate: npt.ArrayLike
) -> npt.NDArray[np.float64]:
    """DEL (Fader & Hardie 2010): expected discounted payments of a new customer, the first
    (paid at acquisition) included: 2F1(1, β; α + β; 1/(1 + d))."""
    d = np.asarray(discount_rate, dtype=np.float64)
    if np.any(d <= 0):
        raise ValueError("discount rate must be positive (the undiscounted sum may diverge)")
    return np.asarray(hyp2f1(1.0, beta, alpha + beta, 1.0 / (1.0 + d)), dtype=np.float64)


# Short names matching the papers.
derl = discounted_expected_residual_lifetime
del_ = discounted_expected_lifetime


def pooled_churn_rate(renewals: npt.ArrayLike, churned: npt.ArrayLike) -> float:
    """Churns per renewal opportunity, (churns + ½) / (opportunities + 1) (Jeffreys prior).

    The fallback baseline when the sBG cannot be identified (e.g. no churn yet): a churner
    with r renewals had r + 1 opportunities, an active subscriber r. The ½ keeps the rate
    off exactly 0 when nobody has left yet, which would otherwise claim zero risk.
    """
    r = np.asarray(renewals, dtype=np.float64)
    dead = np.asarray(churned, dtype=bool)
    opportunities = float(r.sum() + dead.sum())
    return (float(dead.sum()) + 0.5) / (opportunities + 1.0)


def geometric_derl(churn_rate: float, discount_rate: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """DERL with one constant churn rate q (no heterogeneity): Σ_{k≥0} (1−q)^{k+1}/(1+d)^k.

    Only used, and reported as such, when the sBG is not identified; Fader & Hardie (2010)
    show it undervalues the base when customers differ.
    """
    d = np.asarray(discount_rate, dtype=np.float64)
    keep = 1.0 - churn_rate
    return keep / (1.0 - keep / (1.0 + d))


def geometric_del(churn_rate: float, discount_rate: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """DEL with one constant churn rate q: Σ_{k≥0} (1−q)^k/(1+d)^k."""
    d = np.asarray(discount_rate, dtype=np.float64)
    return 1.0 / (1.0 - (1.0 - churn_rate) / (1.0 + d))
