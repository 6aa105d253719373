"""Net Promoter Score with an adjusted-Wald interval, a two-period test, value perception and
response rate (docs/metrics.md "NPS", "Value perception", "Response rate").

Interval: the adjusted-Wald NPS interval of Rocks (2016), "Interval Estimation for the 'Net
Promoter Score'", The American Statistician 70(4) (arXiv:1601.07235), in the simplified form
Sauro & Lewis use at MeasuringU ("Confidence Intervals for Net Promoter Scores"): add 3 to n
and 3/4 to promoters and to detractors, then NPS_adj = p − d with
var = [p + d − (p − d)²] / n_adj. The two-period test is Lewis & Sauro's "How to
Statistically Compare Two Net Promoter Scores": z = (NPS_adj,2 − NPS_adj,1) / sqrt(var1 + var2).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy.stats import norm

from plugin.value.summaries import MeanResult, Ratio, mean_of

MIN_ANSWERS = 30
PROMOTER_MIN = 9
DETRACTOR_MAX = 6


@dataclass(frozen=True)
class NpsResult:
    """NPS of one period.

    n: answers with a score (skipped or dismissed surveys are not answers).
    promoters / passives / detractors: counts (9–10 / 7–8 / 0–6).
    score: 100 × (promoters − detractors) / n, or None below `min_answers`.
    ci_low, ci_high: 95 % adjusted-Wald interval in NPS points, clipped to [−100, 100];
        None when `score` is None.
    enough_answers: n ≥ min_answers; when False, `reason` says why the score is withheld.
    """

    n: int
    promoters: int
    passives: int
    detractors: int
    score: float | None
    ci_low: float | None
    ci_high: float | None
    enough_answers: bool
    reason: str | None


@dataclass(frozen=True)
class NpsComparison:
    """Change between two periods (later − earlier).

    difference: later.score − earlier.score in NPS points, on raw scores; None when
        either period lacks answers.
    z, p_value: two-sided adjusted-Wald z test; None when either period has no answer.
    real_change: p < alpha and both periods have enough answers. Only then may the UI
        call the change real.
    """

    difference: float | None
    z: float | None
    p_value: float | None
    real_change: bool
    reason: str | None


def category(score: int | None) -> str:
    """promoter (9–10), passive (7–8), detractor (0–6), or "none" without an answer."""
    if score is None:
        return "none"
    if score >= PROMOTER_MIN:
        return "promoter"
    return "detractor" if score <= DETRACTOR_MAX else "passive"


def nps_counts(scores: npt.ArrayLike) -> tuple[int, int, int, int]:
    """(n, promoters, passives, detractors) from 0–10 scores; NaN marks a non-answer."""
    arr = np.asarray(scores, dtype=np.float64)
    arr = arr[~np.isnan(arr)]
    if arr.size and (arr.min() < 0 or arr.max() > 10 or np.any(arr != np.round(arr))):
        raise ValueError("NPS scores must be integers 0..10")
    promoters = int((arr >= PROMOTER_MIN).sum())
    detractors = int((arr <= DETRACTOR_MAX).sum())
    return int(arr.size), promoters, int(arr.size) - promoters - detractors, detractors


def adjusted_wald(promoters: int, detractors: int, n: int) -> tuple[float, float, int]:
    """(NPS_adj as a proportion in [−1, 1], its variance, n_adj) per the adjusted-Wald method.

    n_adj = n + 3; p = (promoters + 3/4) / n_adj; d = (detractors + 3/4) / n_adj;
    NPS_adj = p − d; variance = [p + d − (p − d)²] / n_adj.
    """
    n_adj = n + 3
    p = (promoters + 0.75) / n_adj
    d = (detractors + 0.75) / n_adj
    nps_adj = p - d
    return nps_adj, (p + d - nps_adj**2) / n_adj, n_adj


def nps_from_counts(
    promoters: int,
    passives: int,
    detractors: int,
    min_answers: int = MIN_ANSWERS,
    confidence: float = 0.95,
) -> NpsResult:
    """NPS with n and adjusted-Wald interval from category counts (docs/metrics.md)."""
    n = promoters + passives + detractors
    if n < min_answers:
        reason = "no answers" if n == 0 else f"not enough answers ({n} < {min_answers})"
        return NpsResult(n, promoters, passives, detractors, None, None, None, False, reason)
    z = float(norm.ppf(0.5 + confidence / 2))
    centre, var, _ = adjusted_wald(promoters, detractors, n)
    half = z * math.sqrt(var)
    return NpsResult(
        n=n,
        promoters=promoters,
        passives=passives,
        detractors=detractors,
        score=100.0 * (promoters - detractors) / n,
        ci_low=max(-100.0, 100.0 * (centre - half)),
        ci_high=min(100.0, 100.0 * (centre + half)),
        enough_answers=True,
        reason=None,
    )


def nps(
    scores: npt.ArrayLike, min_answers: int = MIN_ANSWERS, confidence: float = 0.95
) -> NpsResult:
    """NPS from raw 0–10 scores (NaN = skipped, not counted)."""
    _, promoters, passives, detractors = nps_counts(scores)
    return nps_from_counts(promoters, passives, detractors, min_answers, confidence)


def compare_nps(earlier: NpsResult, later: NpsResult, alpha: float = 0.05) -> NpsComparison:
    """Two-sample adjusted-Wald z test of NPS between two periods (docs/metrics.md).

    The change is "real" only if p < alpha and both periods have enough answers to show a
    score at all; below that the test still runs but cannot make the change real.
    """
    if earlier.n == 0 or later.n == 0:
        return NpsComparison(None, None, None, False, "a period has no answers")
    e_centre, e_var, _ = adjusted_wald(earlier.promoters, earlier.detractors, earlier.n)
    l_centre, l_var, _ = adjusted_wald(later.promoters, later.detractors, later.n)
    z = (l_centre - e_centre) / math.sqrt(e_var + l_var)
    p_value = float(2.0 * norm.sf(abs(z)))
    difference = None
    if earlier.score is not None and later.score is not None:
        difference = later.score - earlier.score
    if not (earlier.enough_answers and later.enough_answers):
        return NpsComparison(
            difference, z, p_value, False, "not enough answers in a period to call a change"
        )
    real = p_value < alpha
    reason = None if real else f"not significant (p = {p_value:.3f} ≥ {alpha})"
    return NpsComparison(difference, z, p_value, real, reason)


def value_perception(value_for_money: npt.ArrayLike) -> MeanResult:
    """Mean of the optional "value for money" answer, 1–5 (NaN = not answered)."""
    arr = np.asarray(value_for_money, dtype=np.float64)
    given = arr[~np.isnan(arr)]
    if given.size and (given.min() < 1 or given.max() > 5):
        raise ValueError("value for money answers must be in 1..5")
    return mean_of(arr)


def response_rate(answered: npt.ArrayLike) -> Ratio:
    """Response rate = answered / invited, one boolean per invitation (docs/metrics.md)."""
    arr = np.asarray(answered, dtype=bool)
    return Ratio(numerator=int(arr.sum()), denominator=int(arr.size))
