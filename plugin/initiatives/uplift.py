"""Uplift of an initiative against a random holdout: pure functions over arrays, no I/O.

When a targeted initiative starts, its segment's members are fixed and split at random into a
treatment group (reached by the merchant's action) and a holdout (left alone). Because the
split is random, the two groups differ only by chance and by the action, so

    uplift = metric(treatment) − metric(holdout)

measures the action, season included on both sides. It is intent-to-treat: every treatment
member counts, whether or not the email or offer reached them. Each uplift comes with a 95 %
interval; the verdict says plainly when the data cannot tell yet.

Intervals (definitions in docs/metrics.md, "Initiatives against a holdout"):
- a share (retention at k days): unpooled Wald interval of the difference of two
  proportions, d ± z·sqrt(p₁(1−p₁)/n₁ + p₀(1−p₀)/n₀);
- billing success (attempts clustered in subscribers): ratio estimator per arm with a
  cluster-robust variance, m/(m−1)·Σ(xᵢ − R·nᵢ)² / (Σnᵢ)²;
- NPS: adjusted-Wald variance per arm (plugin.value.nps), difference ± z·sqrt(v₁ + v₀),
  centred on the adjusted difference;
- a mean (value for money, MRR per subscriber): Welch's t interval.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt
from scipy.stats import norm
from scipy.stats import t as student_t

from plugin.value.nps import MIN_ANSWERS, adjusted_wald, nps_counts

DEFAULT_HOLDOUT_SHARE = 0.10
MIN_HOLDOUT_SHARE = 0.05
MAX_HOLDOUT_SHARE = 0.50
CONFIDENCE = 0.95
# The normal approximation of a share is trusted only with this many in every cell
# (successes and failures of both arms), as for the before/after test (stats.MIN_CELL).
MIN_CELL = 5
# Below this many observations per arm a mean's interval says nothing useful.
MIN_PER_ARM = 10

UpliftVerdict = Literal[
    "measuring", "not_enough_data", "real_change", "no_real_change", "inconclusive"
]

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Arm:
    """One group's value on the metric. n: the units behind it (subscribers, answers or
    billing attempts, see `unit`); value None when there is nothing to measure."""

    n: int
    value: float | None
    unit: str


@dataclass(frozen=True)
class Uplift:
    """treatment − holdout with its 95 % interval (None when it cannot be computed)."""

    treatment: Arm
    holdout: Arm
    difference: float | None
    ci_low: float | None
    ci_high: float | None
    reason: str | None


@dataclass(frozen=True)
class Judgement:
    """What an uplift means for the hypothesis.

    real_change: the interval excludes zero. no_real_change: it includes zero and excludes
    the expected change (the hoped-for effect is ruled out). inconclusive: it includes both
    (the data cannot tell yet). not_enough_data: too few observations for an interval.
    measuring: the measurement period is not over (figures are interim).
    as_expected: a real change in the expected direction of at least the expected size."""

    verdict: UpliftVerdict
    reason: str | None
    as_expected: bool | None


def split_members(
    subscriber_ids: npt.ArrayLike, holdout_share: float, seed: int
) -> tuple[list[int], list[int]]:
    """(treatment, holdout) ids, each sorted: a complete random split of exactly
    round(n × share) holdout members. The ids are sorted first, so the same members, share
    and seed always give the same split, whatever order they were loaded in."""
    if not 0.0 < holdout_share < 1.0:
        raise ValueError(f"holdout share must be between 0 and 1, got {holdout_share}")
    ids = np.unique(np.asarray(subscriber_ids, dtype=np.int64))
    k = math.floor(ids.size * holdout_share + 0.5)
    order = np.random.default_rng(seed).permutation(ids.size)
    in_holdout = np.zeros(ids.size, dtype=bool)
    in_holdout[order[:k]] = True
    return [int(i) for i in ids[~in_holdout]], [int(i) for i in ids[in_holdout]]


def _z(confidence: float) -> float:
    return float(norm.ppf(0.5 + confidence / 2))


def retained(days_to_churn: npt.ArrayLike, horizon_days: int) -> npt.NDArray[np.bool_]:
    """Whether each member was still subscribed `horizon_days` after the start: NaN (never
    churned) or a churn at least that many days after the start."""
    days = np.asarray(days_to_churn, dtype=np.float64)
    return np.isnan(days) | (days >= horizon_days)


def share_uplift(
    x_treatment: int, n_treatment: int, x_holdout: int, n_holdout: int, unit: str = "subscribers"
) -> Uplift:
    """Difference of two proportions with the unpooled Wald interval."""
    for name, x, n in (("treatment", x_treatment, n_treatment), ("holdout", x_holdout, n_holdout)):
        if n < 0 or x < 0 or x > n:
            raise ValueError(f"{name}: need 0 <= x <= n, got x={x}, n={n}")
    arms = (
        Arm(n_treatment, x_treatment / n_treatment if n_treatment else None, unit),
        Arm(n_holdout, x_holdout / n_holdout if n_holdout else None, unit),
    )
    if arms[0].value is None or arms[1].value is None:
        return Uplift(*arms, None, None, None, "a group has no members to measure")
    p1, p0 = arms[0].value, arms[1].value
    difference = p1 - p0
    smallest = min(x_treatment, n_treatment - x_treatment, x_holdout, n_holdout - x_holdout)
    if smallest < MIN_CELL:
        return Uplift(
            *arms,
            difference,
            None,
            None,
            f"too few to tell: a group has only {smallest} {unit} on one side "
            f"(at least {MIN_CELL} needed)",
        )
    half = _z(CONFIDENCE) * math.sqrt(p1 * (1 - p1) / n_treatment + p0 * (1 - p0) / n_holdout)
    return Uplift(*arms, difference, difference - half, difference + half, None)


def _ratio_arm(successes: FloatArray, attempts: FloatArray) -> tuple[float | None, float, int]:
    """(ratio, cluster-robust variance, attempts) of one arm; members with no attempt are
    not in the ratio."""
    mask = attempts > 0
    x, n = successes[mask], attempts[mask]
    m, total = int(mask.sum()), float(n.sum())
    if total == 0:
        return None, math.nan, 0
    ratio = float(x.sum()) / total
    if m < 2:
        return ratio, math.nan, int(total)
    variance = m / (m - 1) * float(((x - ratio * n) ** 2).sum()) / total**2
    return ratio, variance, int(total)


def ratio_uplift(
    successes_treatment: npt.ArrayLike,
    attempts_treatment: npt.ArrayLike,
    successes_holdout: npt.ArrayLike,
    attempts_holdout: npt.ArrayLike,
) -> Uplift:
    """Billing success (successful / all attempts) per arm, from per-member counts. A
    member's attempts are not independent (one card fails every retry), so the variance is
    the cluster-robust one of a ratio estimator, with members as clusters."""
    arrays = [
        np.asarray(a, dtype=np.float64)
        for a in (successes_treatment, attempts_treatment, successes_holdout, attempts_holdout)
    ]
    rt, vt, nt = _ratio_arm(arrays[0], arrays[1])
    rh, vh, nh = _ratio_arm(arrays[2], arrays[3])
    arms = (Arm(nt, rt, "billing attempts"), Arm(nh, rh, "billing attempts"))
    if rt is None or rh is None:
        return Uplift(*arms, None, None, None, "a group has no billing attempt yet")
    difference = rt - rh
    payers = (int((arrays[1] > 0).sum()), int((arrays[3] > 0).sum()))
    if min(payers) < MIN_PER_ARM:
        return Uplift(
            *arms,
            difference,
            None,
            None,
            f"too few to tell: a group has {min(payers)} members billed "
            f"(at least {MIN_PER_ARM} needed)",
        )
    half = _z(CONFIDENCE) * math.sqrt(vt + vh)
    return Uplift(*arms, difference, difference - half, difference + half, None)


def nps_uplift(scores_treatment: npt.ArrayLike, scores_holdout: npt.ArrayLike) -> Uplift:
    """NPS (points) of the treatment's answers minus the holdout's, with the adjusted-Wald
    interval of the difference; each arm needs the usual minimum of answers."""
    n1, p1, _, d1 = nps_counts(scores_treatment)
    n0, p0, _, d0 = nps_counts(scores_holdout)
    arms = (
        Arm(n1, 100.0 * (p1 - d1) / n1 if n1 else None, "answers"),
        Arm(n0, 100.0 * (p0 - d0) / n0 if n0 else None, "answers"),
    )
    if arms[0].value is None or arms[1].value is None:
        return Uplift(*arms, None, None, None, "a group has no NPS answer yet")
    difference = arms[0].value - arms[1].value
    if min(n1, n0) < MIN_ANSWERS:
        return Uplift(
            *arms,
            difference,
            None,
            None,
            f"too few to tell: a group has {min(n1, n0)} answers (at least {MIN_ANSWERS} needed)",
        )
    c1, v1, _ = adjusted_wald(p1, d1, n1)
    c0, v0, _ = adjusted_wald(p0, d0, n0)
    half = _z(CONFIDENCE) * math.sqrt(v1 + v0)
    centre = c1 - c0
    return Uplift(*arms, difference, 100.0 * (centre - half), 100.0 * (centre + half), None)


def mean_uplift(
    values_treatment: npt.ArrayLike, values_holdout: npt.ArrayLike, unit: str
) -> Uplift:
    """Difference of means with Welch's t interval (NaN values are not observations)."""
    a = np.asarray(values_treatment, dtype=np.float64)
    b = np.asarray(values_holdout, dtype=np.float64)
    a, b = a[np.isfinite(a)], b[np.isfinite(b)]
    arms = (
        Arm(int(a.size), float(a.mean()) if a.size else None, unit),
        Arm(int(b.size), float(b.mean()) if b.size else None, unit),
    )
    if arms[0].value is None or arms[1].value is None:
        return Uplift(*arms, None, None, None, f"a group has no {unit} yet")
    difference = arms[0].value - arms[1].value
    if min(a.size, b.size) < MIN_PER_ARM:
        return Uplift(
            *arms,
            difference,
            None,
            None,
            f"too few to tell: a group has {min(a.size, b.size)} {unit} "
            f"(at least {MIN_PER_ARM} needed)",
        )
    va, vb = float(a.var(ddof=1)) / a.size, float(b.var(ddof=1)) / b.size
    se = math.sqrt(va + vb)
    if se == 0.0:
        return Uplift(*arms, difference, difference, difference, None)
    df = (va + vb) ** 2 / (va**2 / (a.size - 1) + vb**2 / (b.size - 1))
    half = float(student_t.ppf(0.5 + CONFIDENCE / 2, df)) * se
    return Uplift(*arms, difference, difference - half, difference + half, None)


def judge(
    uplift: Uplift, *, expected_direction: str, expected_change: float, over: bool
) -> Judgement:
    """Verdict on an uplift; `over` says whether the measurement period has ended."""
    if uplift.ci_low is None or uplift.ci_high is None or uplift.difference is None:
        verdict: UpliftVerdict = "measuring" if not over else "not_enough_data"
        return Judgement(verdict, uplift.reason, None)
    sign = 1.0 if expected_direction == "up" else -1.0
    hoped = sign * expected_change
    if uplift.ci_low > 0 or uplift.ci_high < 0:
        verdict, reason = (
            "real_change",
            (f"the 95 % interval ({uplift.ci_low:+.4g} to {uplift.ci_high:+.4g}) excludes zero"),
        )
        moved = sign * uplift.difference >= expected_change
        as_expected: bool | None = moved
    elif uplift.ci_low <= hoped <= uplift.ci_high:
        verdict, reason = (
            "inconclusive",
            (
                f"the data cannot tell yet: the 95 % interval ({uplift.ci_low:+.4g} to "
                f"{uplift.ci_high:+.4g}) includes both zero and the expected change"
            ),
        )
        as_expected = None
    else:
        verdict, reason = (
            "no_real_change",
            (
                f"no effect shown: the 95 % interval ({uplift.ci_low:+.4g} to "
                f"{uplift.ci_high:+.4g}) includes zero and rules out the expected change"
            ),
        )
        as_expected = False
    if not over:
        return Judgement("measuring", f"interim, the period is not over: {reason}", None)
    return Judgement(verdict, reason, as_expected)
