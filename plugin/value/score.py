"""Value score (0–100), value × risk segments (docs/metrics.md "Value score", "Segments").

The score blends three components, each in [0, 1]:
  economic  = percentile rank of expected residual value among scored subscribers of the
              same currency (money in different currencies is never compared);
  perceived = mean of (latest NPS / 10) and ((value for money − 1) / 4), whichever exist;
  health    = 1 − churn risk.
score = 100 × Σ wᵢ·xᵢ / Σ wᵢ over the components present. Default weights: economic 0.4,
perceived 0.3, health 0.3: what the subscriber is worth leads, and what they feel and how
likely they are to stay weigh equally. The perceived weight decays with the answer's age,
w = 0.3 × 0.5^(age / half-life): an old answer still says what it said, it just counts for
less. A missing component is reported missing (NaN + mask) and the others are renormalised;
nothing is imputed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy.stats import rankdata

from plugin.value.codes import Segment

ECONOMIC, PERCEIVED, HEALTH = 0, 1, 2
COMPONENT_NAMES: tuple[str, ...] = ("economic", "perceived", "health")


@dataclass(frozen=True)
class ScoreWeights:
    """Blend weights and the perceived-value half-life (days)."""

    economic: float = 0.4
    perceived: float = 0.3
    health: float = 0.3
    perceived_half_life_days: float = 180.0


@dataclass(frozen=True)
class SegmentThresholds:
    """Where the segment grid is cut.

    high_risk 0.15: about twice a typical subscription's monthly churn (5–10 %), and what one
        strong signal does to a typical baseline: failed payment or cancel attempt double
        the odds (`FIXED_ODDS_MULTIPLIERS`), taking an 8–10 % baseline to 15–18 %. A cut at
        0.25 needed two such signals at once and left the at-risk list empty in shops
        with ordinary churn (the demo: 1 subscriber of 1,550, though 7 % leave each month).
    low_risk 0.10: champions must be clearly safe, not just below the action line.
    high_value 0.5 / top_value 0.75 / low_value 0.25: economic percentile cuts (median,
        top quartile, bottom quartile of expected residual value).
    """

    high_risk: float = 0.15
    low_risk: float = 0.10
    high_value: float = 0.5
    top_value: float = 0.75
    low_value: float = 0.25


def risk_band(churn_risk: float | None, cuts: SegmentThresholds = SegmentThresholds()) -> str:
    """ "high" from the high-risk cut, "medium" from the low-risk cut, else "low"; "unknown"
    when not scored. The band the segment grid uses, in a word merchants can filter on."""
    if churn_risk is None or churn_risk != churn_risk:  # None or NaN
        return "unknown"
    if churn_risk >= cuts.high_risk:
        return "high"
    return "medium" if churn_risk >= cuts.low_risk else "low"


@dataclass(frozen=True)
class ValueScores:
    """Per-subscriber value score and its parts.

    score: 0–100, NaN when no component is present.
    components: [n, 3] economic, perceived, health in [0, 1]; NaN where missing.
    present: [n, 3] component present.
    weights: [n, 3] weights actually used before renormalisation (perceived decayed).
    """

    score: npt.NDArray[np.float64]
    components: npt.NDArray[np.float64]
    present: npt.NDArray[np.bool_]
    weights: npt.NDArray[np.float64]


def percentile_within(values: npt.ArrayLike, groups: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """Percentile rank in [0, 1] within each group: (rank − 1)/(n − 1), ties averaged.

    A group of one gets 0.5 (no evidence it is high or low); NaN values stay NaN.
    """
    v = np.asarray(values, dtype=np.float64)
    g = np.asarray(groups)
    out = np.full(v.shape, np.nan)
    ok = np.isfinite(v)
    if not ok.any():
        return out
    codes, inverse = np.unique(g[ok], return_inverse=True)
    inverse = inverse.ravel()
    idx = np.flatnonzero(ok)
    for k in range(codes.size):  # one pass per currency: a handful at most
        members = idx[inverse == k]
        n = members.size
        if n == 1:
            out[members] = 0.5
        else:
            out[members] = (rankdata(v[members], method="average") - 1.0) / (n - 1.0)
    return out


def perceived_value(
    nps_score: npt.ArrayLike, value_for_money: npt.ArrayLike
) -> npt.NDArray[np.float64]:
    """Mean of NPS/10 and (value for money − 1)/4 over whichever was answered; NaN if neither."""
    nps = np.asarray(nps_score, dtype=np.float64) / 10.0
    vfm = (np.asarray(value_for_money, dtype=np.float64) - 1.0) / 4.0
    stacked = np.stack([nps, vfm])
    count = np.isfinite(stacked).sum(axis=0)
    total = np.nansum(stacked, axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def value_score(
    economic: npt.ArrayLike,
    perceived: npt.ArrayLike,
    perceived_age_days: npt.ArrayLike,
    churn_risk: npt.ArrayLike,
    weights: ScoreWeights | None = None,
) -> ValueScores:
    """Blend the three components into a 0–100 score (module docstring for the definition)."""
    w = weights or ScoreWeights()
    econ = np.asarray(economic, dtype=np.float64)
    perc = np.asarray(perceived, dtype=np.float64)
    age = np.asarray(perceived_age_days, dtype=np.float64)
    health = 1.0 - np.asarray(churn_risk, dtype=np.float64)
    comps = np.column_stack([econ, perc, health])
    present = np.isfinite(comps)
    decay = np.power(0.5, np.maximum(np.nan_to_num(age, nan=0.0), 0.0) / w.perceived_half_life_days)
    wts = np.column_stack(
        [np.full(econ.shape, w.economic), w.perceived * decay, np.full(econ.shape, w.health)]
    )
    wts = np.where(present, wts, 0.0)
    total_w = wts.sum(axis=1)
    blended = (np.where(present, comps, 0.0) * wts).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        score = np.where(total_w > 0, 100.0 * blended / np.maximum(total_w, 1e-300), np.nan)
    return ValueScores(
        score=score, components=np.where(present, comps, np.nan), present=present, weights=wts
    )


def segment(
    economic: npt.ArrayLike,
    churn_risk: npt.ArrayLike,
    thresholds: SegmentThresholds | None = None,
) -> npt.NDArray[np.int8]:
    """Cross value (economic percentile) with churn risk (thresholds in `SegmentThresholds`).

    risk ≥ high_risk: at_risk_high_value if economic ≥ high_value, else needs_attention.
    risk < high_risk: champions if economic ≥ top_value and risk < low_risk;
                      low_value if economic < low_value; loyal otherwise.
    Missing value or risk: unscored. (Value, not the value score, is crossed with risk:
    the score already contains health, so crossing it with risk would count risk twice.)
    """
    t = thresholds or SegmentThresholds()
    econ = np.asarray(economic, dtype=np.float64)
    risk = np.asarray(churn_risk, dtype=np.float64)
    out = np.full(econ.shape, Segment.UNSCORED, dtype=np.int8)
    ok = np.isfinite(econ) & np.isfinite(risk)
    high_risk = ok & (risk >= t.high_risk)
    out[high_risk & (econ >= t.high_value)] = Segment.AT_RISK_HIGH_VALUE
    out[high_risk & (econ < t.high_value)] = Segment.NEEDS_ATTENTION
    calm = ok & ~high_risk
    out[calm] = Segment.LOYAL
    out[calm & (econ < t.low_value)] = Segment.LOW_VALUE
    out[calm & (econ >= t.top_value) & (risk < t.low_risk)] = Segment.CHAMPIONS
    return out


def high_risk(
    churn_risk: npt.ArrayLike, thresholds: SegmentThresholds | None = None
) -> npt.NDArray[np.bool_]:
    """Subscribers counted in revenue at risk: churn risk ≥ the high-risk threshold."""
    t = thresholds or SegmentThresholds()
    risk = np.asarray(churn_risk, dtype=np.float64)
    return np.isfinite(risk) & (risk >= t.high_risk)
