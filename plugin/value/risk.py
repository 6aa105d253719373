"""Churn risk: the probability a subscriber cancels before their next renewal
(docs/metrics.md "Churn risk").

Baseline: the sBG churn probability for the subscriber's tenure, 1 − (β + r)/(α + β + r)
after r renewals (Fader & Hardie 2007). Behaviour then moves it, by one of two methods,
and the method is always returned with the numbers:

(a) fixed multipliers on the odds (`FIXED_ODDS_MULTIPLIERS`) while the shop lacks history;
(b) a per-shop logistic regression once its training windows hold ≥ 200 churns, trained
    on earlier windows and judged on the latest one (time-based holdout: AUC, top-decile
    lift). If the holdout cannot be judged or the model does not beat `min_auc`, the shop
    falls back to (a) and the report says why.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

from plugin.value.behaviour import LabelledWindow, RiskFeatures
from plugin.value.codes import RiskMethod
from plugin.value.dates import day
from plugin.value.sbg import next_renewal_probability

MIN_CHURN_EXAMPLES = 200
MIN_HOLDOUT_AUC = 0.55

# Fixed odds multipliers, used until a shop has enough churns to learn its own.
# They are judgement priors, not estimates: deliberately moderate so an unproven signal can
# raise a subscriber's risk but not dominate the tenure baseline, and each is capped by a
# count limit so repeated events cannot push the odds without bound.
#   failed_payment 2.0 per failed billing attempt in the last 90 days (max 3 counted): a
#       failed renewal charge is the direct route to involuntary churn, the strongest signal.
#   cancel_attempt 2.0 per started-but-abandoned cancellation in 90 days (max 2): the
#       subscriber has already said they want to leave.
#   paused 1.5 if paused in the last 90 days: pausing often precedes cancelling, but many
#       pauses are holidays, so weaker than the two above.
#   detractor 1.5 if the latest NPS answer (within a year) was 0–6: stated dissatisfaction.
#   skip 1.2 per skipped delivery in 90 days (max 3): a mild cadence-misfit signal.
#   cadence_complaint 1.2 if the subscriber gave a cadence reason ("too much product",
#       "deliveries too often") in the last 90 days and stayed: the same misfit as a skip,
#       said in words. Mild on purpose: such an answer nearly always comes with a cancel
#       attempt, which already carries the larger multiplier.
FIXED_ODDS_MULTIPLIERS: dict[str, float] = {
    "failed_payment": 2.0,
    "cancel_attempt": 2.0,
    "paused": 1.5,
    "detractor": 1.5,
    "skip": 1.2,
    "cadence_complaint": 1.2,
}
FIXED_COUNT_CAPS: dict[str, int] = {"failed_payment": 3, "cancel_attempt": 2, "skip": 3}

FEATURE_NAMES: tuple[str, ...] = (
    "baseline_logit",
    "log1p_failed_payments",
    "log1p_skips",
    "paused",
    "detractor",
    "log1p_cancel_attempts",
    "cadence_complaint",
)


def baseline_risk(renewals: npt.ArrayLike, alpha: float, beta: float) -> npt.NDArray[np.float64]:
    """sBG probability of leaving before the next renewal after r renewals: α / (α + β + r)."""
    return 1.0 - next_renewal_probability(renewals, alpha, beta)


def fixed_multiplier_risk(features: RiskFeatures) -> npt.NDArray[np.float64]:
    """Baseline odds × the documented `FIXED_ODDS_MULTIPLIERS`, back to a probability in [0, 1]."""
    p0 = np.clip(np.asarray(features.baseline, dtype=np.float64), 0.0, 1.0)
    m = FIXED_ODDS_MULTIPLIERS
    caps = FIXED_COUNT_CAPS
    log_mult = (
        np.minimum(features.failed_payments, caps["failed_payment"]) * np.log(m["failed_payment"])
        + np.minimum(features.cancel_attempts, caps["cancel_attempt"]) * np.log(m["cancel_attempt"])
        + np.minimum(features.skips, caps["skip"]) * np.log(m["skip"])
        + features.paused * np.log(m["paused"])
        + features.detractor * np.log(m["detractor"])
        + features.cadence_complaint * np.log(m["cadence_complaint"])
    )
    mult = np.exp(log_mult)
    with np.errstate(divide="ignore", invalid="ignore"):
        odds = p0 / (1.0 - p0) * mult
        risk = np.where(p0 >= 1.0, 1.0, odds / (1.0 + odds))
    return np.clip(risk, 0.0, 1.0)


def design_matrix(features: RiskFeatures) -> npt.NDArray[np.float64]:
    """Model inputs, in `FEATURE_NAMES` order; counts are log1p'd so one outlier cannot
    dominate a linear term."""
    p0 = np.clip(np.nan_to_num(features.baseline, nan=0.5), 1e-6, 1.0 - 1e-6)
    return np.column_stack(
        [
            np.log(p0 / (1.0 - p0)),
            np.log1p(features.failed_payments),
            np.log1p(features.skips),
            features.paused.astype(np.float64),
            features.detractor.astype(np.float64),
            np.log1p(features.cancel_attempts),
            features.cadence_complaint.astype(np.float64),
        ]
    )


@dataclass(frozen=True)
class RiskModelReport:
    """Which risk method a shop uses and why, with the holdout evidence when there is one.

    n_train_churn counts churns in the training windows (the ≥ 200 rule). holdout_auc and
    top_decile_lift are measured on the most recent window, which the model never saw.
    top_decile_lift = churn rate among the 10 % highest-risk / overall churn rate.
    """

    method: RiskMethod
    reason: str
    n_train: int = 0
    n_train_churn: int = 0
    n_holdout: int = 0
    n_holdout_churn: int = 0
    holdout_auc: float | None = None
    top_decile_lift: float | None = None
    coefficients: dict[str, float] | None = None


@dataclass(frozen=True)
class RiskResult:
    """Churn risk per row of the scored features, the method used and its report."""

    risk: npt.NDArray[np.float64]
    method: RiskMethod
    report: RiskModelReport


def top_decile_lift(scores: npt.ArrayLike, churned: npt.ArrayLike) -> float | None:
    """Churn rate among the top 10 % of scores / overall churn rate (None if nobody churned)."""
    s = np.asarray(scores, dtype=np.float64)
    y = np.asarray(churned, dtype=bool)
    if y.size == 0 or not y.any():
        return None
    k = max(1, int(np.ceil(0.1 * y.size)))
    top = np.argsort(-s, kind="stable")[:k]
    return float(y[top].mean() / y.mean())


def train_logistic_risk(
    train: Sequence[LabelledWindow],
    holdout: LabelledWindow,
    min_churn_examples: int = MIN_CHURN_EXAMPLES,
    min_auc: float = MIN_HOLDOUT_AUC,
) -> tuple[Pipeline | None, RiskModelReport]:
    """Train the per-shop logistic model on `train`, judge it on the later `holdout`.

    Time-based split: every training label window must end by the holdout's feature
    cutoff, so nothing the model learns from happened after the holdout's "now".
    Returns (model, report); model is None when the report's method is FIXED_MULTIPLIERS.
    """
    cutoff = day(holdout.features.cutoff)
    for window in train:
        if day(window.label_end) > cutoff:
            raise ValueError("training labels overlap the holdout period (not a time split)")
    n_train = sum(len(w.features) for w in train)
    n_churn = int(sum(int(w.churned.sum()) for w in train))
    n_hold = len(holdout.features)
    n_hold_churn = int(holdout.churned.sum())
    if n_churn < min_churn_examples:
        return None, RiskModelReport(
            RiskMethod.FIXED_MULTIPLIERS,
            f"{n_churn} churns in the training windows, fewer than {min_churn_examples}",
            n_train,
            n_churn,
            n_hold,
            n_hold_churn,
        )
    if n_hold_churn == 0 or n_hold_churn == n_hold:
        return None, RiskModelReport(
            RiskMethod.FIXED_MULTIPLIERS,
            "the holdout window has only one outcome, so the model cannot be judged",
            n_train,
            n_churn,
            n_hold,
            n_hold_churn,
        )
    x = np.vstack([design_matrix(w.features) for w in train])
    y = np.concatenate([w.churned for w in train])
    # Unweighted classes: the output must stay a calibrated probability, not a ranking.
    model = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=500))
    model.fit(x, y)
    scores = model.predict_proba(design_matrix(holdout.features))[:, 1]
    auc = float(roc_auc_score(holdout.churned, scores))
    lift = top_decile_lift(scores, holdout.churned)
    logistic: LogisticRegression = model[-1]
    coefs = {name: float(c) for name, c in zip(FEATURE_NAMES, logistic.coef_[0], strict=True)}
    coefs["intercept"] = float(logistic.intercept_[0])
    if auc < min_auc:
        kept, method = None, RiskMethod.FIXED_MULTIPLIERS
        reason = f"logistic model holdout AUC {auc:.3f} below {min_auc}"
    else:
        kept, method = model, RiskMethod.LOGISTIC
        reason = f"logistic model trained on {n_churn} churns; holdout AUC {auc:.3f}"
    report = RiskModelReport(
        method, reason, n_train, n_churn, n_hold, n_hold_churn, auc, lift, coefs
    )
    return kept, report


def churn_risk(
    current: RiskFeatures,
    train: Sequence[LabelledWindow],
    holdout: LabelledWindow | None,
    min_churn_examples: int = MIN_CHURN_EXAMPLES,
    min_auc: float = MIN_HOLDOUT_AUC,
) -> RiskResult:
    """Churn risk for the `current` rows, choosing the method per docs/metrics.md."""
    if holdout is None or not train:
        report = RiskModelReport(
            RiskMethod.FIXED_MULTIPLIERS, "not enough history for a time-based holdout"
        )
        model = None
    else:
        model, report = train_logistic_risk(train, holdout, min_churn_examples, min_auc)
    if model is None:
        return RiskResult(fixed_multiplier_risk(current), RiskMethod.FIXED_MULTIPLIERS, report)
    if len(current) == 0:
        return RiskResult(np.zeros(0), RiskMethod.LOGISTIC, report)
    risk = model.predict_proba(design_matrix(current))[:, 1]
    return RiskResult(np.clip(risk, 0.0, 1.0), RiskMethod.LOGISTIC, report)
