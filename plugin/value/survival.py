"""Kaplan–Meier retention: a general estimator, monthly cohort curves, retention by order
number and cohort retention shifts (docs/metrics.md "Cohort retention").

Kaplan & Meier (1958), "Nonparametric Estimation from Incomplete Observations", JASA 53:
S(t) = Π_{t_i ≤ t} (1 − d_i / n_i), with n_i the subjects still at risk just before t_i.
Subjects censored at t_i count as at risk at t_i (the usual convention).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt


@dataclass(frozen=True)
class KaplanMeier:
    """A Kaplan–Meier curve.

    times: distinct observed times, ascending.
    at_risk: n_i, subjects with time ≥ times[i].
    deaths: d_i, events at times[i].
    survival: S(times[i]) = P(T > times[i]).
    """

    times: npt.NDArray[np.float64]
    at_risk: npt.NDArray[np.int64]
    deaths: npt.NDArray[np.int64]
    survival: npt.NDArray[np.float64]

    def at(self, t: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """S(t) as a step function: 1 before the first time; NaN after the last observed
        time (the data say nothing there) unless the curve already reached 0."""
        t = np.asarray(t, dtype=np.float64)
        idx = np.searchsorted(self.times, t, side="right") - 1
        out = np.where(idx >= 0, self.survival[np.maximum(idx, 0)], 1.0)
        if self.times.size == 0:
            return np.full(t.shape, np.nan)
        beyond = t > self.times[-1]
        out = np.where(beyond & (self.survival[-1] > 0), np.nan, out)
        return out


def kaplan_meier(durations: npt.ArrayLike, events: npt.ArrayLike) -> KaplanMeier:
    """Kaplan–Meier estimate from durations and event flags (True = event, False = censored)."""
    d = np.asarray(durations, dtype=np.float64)
    e = np.asarray(events, dtype=bool)
    if d.shape != e.shape:
        raise ValueError("durations and events must have the same shape")
    if np.any(~np.isfinite(d)) or np.any(d < 0):
        raise ValueError("durations must be finite and non-negative")
    times, inverse = np.unique(d, return_inverse=True)
    inverse = inverse.ravel()
    exits = np.bincount(inverse, minlength=times.size)
    deaths = np.bincount(inverse, weights=e.astype(np.float64), minlength=times.size)
    at_risk = np.cumsum(exits[::-1])[::-1]
    survival = np.asarray(np.cumprod(1.0 - deaths / np.maximum(at_risk, 1)), dtype=np.float64)
    return KaplanMeier(times, at_risk.astype(np.int64), deaths.astype(np.int64), survival)


def _grouped_km(
    group: npt.NDArray[np.int64],
    time: npt.NDArray[np.float64],
    event: npt.NDArray[np.bool_],
    n_groups: int,
    ages: npt.NDArray[np.float64],
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.int64]]:
    """Exact Kaplan–Meier for many groups at once, evaluated at `ages`.

    Returns (survival[g, a], at_risk[g, a]). One sort and a few cumulative sums handle all
    groups; no Python loop over groups or subjects. survival is NaN past a group's last
    observed time (the data say nothing there) unless the group already reached 0.
    """
    n_ages = ages.size
    if time.size == 0:
        return np.full((n_groups, n_ages), np.nan), np.zeros((n_groups, n_ages), np.int64)
    order = np.lexsort((time, group))
    g, t, e = group[order], time[order], event[order]
    new = np.r_[True, (g[1:] != g[:-1]) | (t[1:] != t[:-1])]
    pair = np.cumsum(new) - 1
    first_row = np.flatnonzero(new)
    pg, pt = g[first_row], t[first_row]
    exits = np.bincount(pair).astype(np.float64)
    deaths = np.bincount(pair, weights=e.astype(np.float64))
    size = np.bincount(group, minlength=n_groups).astype(np.float64)

    group_start = np.r_[True, pg[1:] != pg[:-1]]
    first_pair = np.zeros(n_groups, dtype=np.int64)
    first_pair[pg[group_start]] = np.flatnonzero(group_start)

    def within_group_cumsum(x: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        c = np.cumsum(x)
        return c - (c - x)[first_pair[pg]]

    at_risk = size[pg] - (within_group_cumsum(exits) - exits)
    factor = 1.0 - deaths / at_risk
    zero = factor <= 0.0
    # Products as sums of logs; a factor of 0 is tracked separately so log(0) never appears.
    log_s = within_group_cumsum(np.log(np.where(zero, 1.0, factor)))
    zeros_so_far = within_group_cumsum(zero.astype(np.float64))
    s_pair = np.where(zeros_so_far > 0, 0.0, np.exp(log_s))

    width = float(max(pt.max(), ages.max())) + 1.0
    keys = pg * width + pt
    gi = np.repeat(np.arange(n_groups), n_ages)
    ai = np.tile(ages, n_groups)
    query = gi * width + ai
    idx = np.searchsorted(keys, query, side="right") - 1
    hit = (idx >= 0) & (pg[np.maximum(idx, 0)] == gi)
    surv = np.where(hit, s_pair[np.maximum(idx, 0)], 1.0)
    group_end = np.r_[pg[1:] != pg[:-1], True]
    last_pair = np.zeros(n_groups, dtype=np.int64)
    last_pair[pg[group_end]] = np.flatnonzero(group_end)
    has_data = size > 0
    last_time = np.where(has_data, pt[np.maximum(last_pair, 0)], -np.inf)
    last_s = np.where(has_data, s_pair[np.maximum(last_pair, 0)], np.nan)
    beyond = ai > last_time[gi]
    surv = np.where(beyond & ~(last_s[gi] == 0.0), np.nan, surv)
    # Subjects with time ≥ age: everyone in the group minus exits strictly before the age.
    idx_left = np.searchsorted(keys, query, side="left") - 1
    hit_left = (idx_left >= 0) & (pg[np.maximum(idx_left, 0)] == gi)
    exits_before = np.where(hit_left, within_group_cumsum(exits)[np.maximum(idx_left, 0)], 0.0)
    risk = size[gi] - exits_before
    return surv.reshape(n_groups, n_ages), risk.reshape(n_groups, n_ages).astype(np.int64)


@dataclass(frozen=True)
class CohortRetention:
    """Monthly cohort retention curves.

    cohort: first day of each cohort month (datetime64[D]), ascending.
    size: subscribers in each cohort.
    survival: [cohort, age in months 0..max_age] Kaplan–Meier share still subscribed;
        NaN where the cohort is not yet observed at that age.
    at_risk: [cohort, age] subscribers observed at least that long.
    """

    cohort: npt.NDArray[np.datetime64]
    size: npt.NDArray[np.int64]
    survival: npt.NDArray[np.float64]
    at_risk: npt.NDArray[np.int64]


def cohort_retention(
    first_start: npt.ArrayLike,
    tenure_months: npt.ArrayLike,
    churned: npt.ArrayLike,
    max_age: int | None = None,
) -> CohortRetention:
    """Kaplan–Meier retention by monthly cohort (docs/metrics.md "Cohort retention").

    cohort = month of the subscriber's first contract. tenure_months = months (fractional:
    days / 30.4375) from that start to churn (churned) or to today (still active,
    censored). survival[c, k] = P(still subscribed after k months); exact event and
    censoring times are kept, so a subscriber who joined last week is censored after a week
    instead of being counted as surviving (or missing) a whole month.
    """
    start = np.asarray(first_start, dtype="datetime64[D]")
    tenure = np.asarray(tenure_months, dtype=np.float64)
    dead = np.asarray(churned, dtype=bool)
    if np.any(~np.isfinite(tenure)) or np.any(tenure < 0):
        raise ValueError("tenure_months must be finite and non-negative")
    if start.size == 0:
        return CohortRetention(
            np.array([], dtype="datetime64[D]"),
            np.array([], np.int64),
            np.zeros((0, 1)),
            np.zeros((0, 1), np.int64),
        )
    months, group = np.unique(start.astype("datetime64[M]"), return_inverse=True)
    group = group.ravel().astype(np.int64)
    top = int(np.ceil(tenure.max())) if max_age is None else int(max_age)
    ages = np.arange(top + 1, dtype=np.float64)
    survival, at_risk = _grouped_km(group, tenure, dead, months.size, ages)
    size = np.bincount(group, minlength=months.size).astype(np.int64)
    return CohortRetention(months.astype("datetime64[D]"), size, survival, at_risk)


@dataclass(frozen=True)
class OrderRetention:
    """Retention by order number.

    orders: 0..max_orders.
    survival: P(a subscriber places more than k orders), Kaplan–Meier; survival[0] = 1.
        Churn after order k is 1 − survival[k] / survival[k − 1].
    at_risk: subscribers still observed at k (churned with ≥ k orders, active with > k).
    """

    orders: npt.NDArray[np.int64]
    survival: npt.NDArray[np.float64]
    at_risk: npt.NDArray[np.int64]

    def churn_after_order(self) -> npt.NDArray[np.float64]:
        """Share churning right after order k, for k = 1..max_orders."""
        prev = self.survival[:-1]
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(prev > 0, 1.0 - self.survival[1:] / prev, np.nan)


def retention_by_order(
    orders: npt.ArrayLike, churned: npt.ArrayLike, max_orders: int | None = None
) -> OrderRetention:
    """Kaplan–Meier over order number (docs/metrics.md: churn after order 1, 2, 3 …).

    orders: orders placed so far (first order + renewals), ≥ 1.
    churned: the subscriber left after their last order: an event at N = orders.
    Still active with k orders we only know N > k − 1 (order k + 1 is not decided yet), so
    they are censored at k − 1, not counted as surviving order k.
    """
    n_orders = np.asarray(orders, dtype=np.int64)
    dead = np.asarray(churned, dtype=bool)
    if n_orders.size and n_orders.min() < 1:
        raise ValueError("every subscriber has at least one order")
    top = int(n_orders.max()) if max_orders is None and n_orders.size else int(max_orders or 1)
    time = np.where(dead, n_orders, n_orders - 1).astype(np.float64)
    ages = np.arange(top + 1, dtype=np.float64)
    survival, at_risk = _grouped_km(np.zeros(n_orders.size, np.int64), time, dead, 1, ages)
    return OrderRetention(np.arange(top + 1), survival[0], at_risk[0])


@dataclass(frozen=True)
class RetentionShift:
    """A recent cohort's retention at age k against the mean of earlier cohorts at age k.

    shift = recent − baseline (retention points as a fraction; +0.03 = 3 points better).
    baseline is the unweighted mean over earlier cohorts observed at that age.
    """

    cohort: np.datetime64
    age: int
    recent: float
    baseline: float
    shift: float
    n_earlier: int


def retention_shift(
    table: CohortRetention, age: int, cohort_index: int | None = None
) -> RetentionShift | None:
    """Cohort retention shift (docs/metrics.md) at `age` months.

    By default the recent cohort is the latest one already observed at that age. Returns
    None when that cohort or any earlier one lacks data at that age.
    """
    if age < 0 or age >= table.survival.shape[1] or table.cohort.size == 0:
        return None
    column = table.survival[:, age]
    observed = np.flatnonzero(~np.isnan(column))
    if cohort_index is None:
        if observed.size == 0:
            return None
        cohort_index = int(observed[-1])
    if np.isnan(column[cohort_index]):
        return None
    earlier = observed[observed < cohort_index]
    if earlier.size == 0:
        return None
    baseline = float(column[earlier].mean())
    recent = float(column[cohort_index])
    return RetentionShift(
        cohort=table.cohort[cohort_index],
        age=age,
        recent=recent,
        baseline=baseline,
        shift=recent - baseline,
        n_earlier=int(earlier.size),
    )
