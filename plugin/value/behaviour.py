"""Behaviour features for churn risk, measured strictly before a cutoff, and churn labels
measured strictly after it (docs/metrics.md "Churn risk": no leakage).

The guard is structural: `features_as_of` only reads rows dated before the cutoff, every
`RiskFeatures` carries the latest date it read (`observed_until`) and refuses to exist if
that date is not before its cutoff, and a `LabelledWindow` refuses labels that start before
its features' cutoff.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from plugin.value.codes import EventKind
from plugin.value.dates import day
from plugin.value.spans import ActivitySpans, live_at

FEATURE_WINDOW_DAYS = 90
NPS_LOOKBACK_DAYS = 365
DETRACTOR_MAX = 6


class LeakageError(ValueError):
    """A feature or label crosses the cutoff between what is known and what is predicted."""


@dataclass(frozen=True)
class BehaviourLog:
    """The dated rows behaviour features are computed from (column arrays, one row each).

    contract_subscriber: subscriber row index of each contract.
    attempt_contract / attempt_on / attempt_succeeded: billing attempts.
    event_subscriber / event_on / event_kind: `EventKind` events (skips, pauses, cancel
        attempts, …).
    answer_subscriber / answer_on / answer_score: NPS answers (0–10).
    """

    n_subscribers: int
    contract_subscriber: npt.NDArray[np.int64]
    attempt_contract: npt.NDArray[np.int64]
    attempt_on: npt.NDArray[np.datetime64]
    attempt_succeeded: npt.NDArray[np.bool_]
    event_subscriber: npt.NDArray[np.int64]
    event_on: npt.NDArray[np.datetime64]
    event_kind: npt.NDArray[np.int8]
    answer_subscriber: npt.NDArray[np.int64]
    answer_on: npt.NDArray[np.datetime64]
    answer_score: npt.NDArray[np.float64]
    # Answers sorted by (subscriber, date) once, so "latest answer before c" is a mask and a
    # boundary test per cutoff instead of a sort per cutoff.
    _answer_order: npt.NDArray[np.int64] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        order = np.lexsort((self.answer_on, self.answer_subscriber))
        object.__setattr__(self, "_answer_order", order)


@dataclass(frozen=True)
class RiskFeatures:
    """Per-subscriber behaviour known before `cutoff` (the first day not read).

    subscriber: subscriber row indices described by the rows.
    renewals: successful billing attempts so far (max over the subscriber's contracts).
    baseline: sBG churn probability for the next renewal, from a fit on data before cutoff.
    failed_payments, skips, cancel_attempts: counts in the 90 days before the cutoff.
    paused: a pause in the 90 days before the cutoff.
    cadence_complaint: a cadence reason ("too much product", "deliveries too often") given by
        a subscriber who stayed, in the 90 days before the cutoff.
    detractor: latest NPS answer in the year before the cutoff was 0–6.
    observed_until: latest date read to build these rows (NaT if none); must be < cutoff.
    """

    cutoff: np.datetime64
    subscriber: npt.NDArray[np.int64]
    renewals: npt.NDArray[np.int64]
    baseline: npt.NDArray[np.float64]
    failed_payments: npt.NDArray[np.int64]
    skips: npt.NDArray[np.int64]
    paused: npt.NDArray[np.bool_]
    detractor: npt.NDArray[np.bool_]
    cancel_attempts: npt.NDArray[np.int64]
    cadence_complaint: npt.NDArray[np.bool_]
    observed_until: np.datetime64

    def __post_init__(self) -> None:
        cutoff = day(self.cutoff)
        seen = day(self.observed_until)
        if not np.isnat(seen) and seen >= cutoff:
            raise LeakageError(f"features read data from {seen}, on or after their cutoff {cutoff}")
        n = self.subscriber.size
        for name in (
            "renewals",
            "baseline",
            "failed_payments",
            "skips",
            "paused",
            "detractor",
            "cancel_attempts",
            "cadence_complaint",
        ):
            if np.asarray(getattr(self, name)).shape != (n,):
                raise ValueError(f"feature {name} has the wrong length")

    def __len__(self) -> int:
        return int(self.subscriber.size)

    def take(self, rows: npt.NDArray[np.int64]) -> RiskFeatures:
        """A subset of the rows (same cutoff)."""
        return RiskFeatures(
            cutoff=self.cutoff,
            subscriber=self.subscriber[rows],
            renewals=self.renewals[rows],
            baseline=self.baseline[rows],
            failed_payments=self.failed_payments[rows],
            skips=self.skips[rows],
            paused=self.paused[rows],
            detractor=self.detractor[rows],
            cancel_attempts=self.cancel_attempts[rows],
            cadence_complaint=self.cadence_complaint[rows],
            observed_until=self.observed_until,
        )


@dataclass(frozen=True)
class LabelledWindow:
    """Features as of `features.cutoff` and churn labels from [label_start, label_end).

    churned[i]: subscriber features.subscriber[i] left during the label window.
    """

    features: RiskFeatures
    churned: npt.NDArray[np.bool_]
    label_start: np.datetime64
    label_end: np.datetime64

    def __post_init__(self) -> None:
        if day(self.label_start) < day(self.features.cutoff):
            raise LeakageError("labels start before the features' cutoff")
        if day(self.label_end) <= day(self.label_start):
            raise ValueError("empty label window")
        if self.churned.shape != (len(self.features),):
            raise ValueError("one label per feature row")


def _latest(dates: npt.NDArray[np.datetime64], mask: npt.NDArray[np.bool_]) -> np.datetime64:
    picked = dates[mask]
    if picked.size == 0:
        return np.datetime64("NaT", "D")
    return day(picked.max())


def features_as_of(
    log: BehaviourLog,
    cutoff: np.datetime64,
    subscribers: npt.NDArray[np.int64],
    baseline_for_renewals: npt.NDArray[np.float64] | None = None,
    window_days: int = FEATURE_WINDOW_DAYS,
    nps_lookback_days: int = NPS_LOOKBACK_DAYS,
) -> RiskFeatures:
    """Behaviour of `subscribers` from rows dated strictly before `cutoff`.

    baseline_for_renewals: churn baseline indexed by renewal count (from an sBG fit on data
    before the cutoff); renewal counts beyond its end use its last entry. None gives NaN.
    """
    c = day(cutoff)
    start = c - np.timedelta64(window_days, "D")
    n = log.n_subscribers

    before = log.attempt_on < c
    ok = before & log.attempt_succeeded
    per_contract = np.bincount(log.attempt_contract[ok], minlength=log.contract_subscriber.size)
    renewals_all = np.zeros(n, dtype=np.int64)
    np.maximum.at(renewals_all, log.contract_subscriber, per_contract)
    failed_mask = before & ~log.attempt_succeeded & (log.attempt_on >= start)
    failed_all = np.bincount(
        log.contract_subscriber[log.attempt_contract[failed_mask]], minlength=n
    )

    ev_recent = (log.event_on < c) & (log.event_on >= start)

    def count(kind: EventKind) -> npt.NDArray[np.int64]:
        m = ev_recent & (log.event_kind == kind)
        return np.bincount(log.event_subscriber[m], minlength=n)

    skips_all = count(EventKind.SKIP)
    paused_all = count(EventKind.PAUSE) > 0
    cancel_all = count(EventKind.CANCEL_ATTEMPT)
    cadence_all = count(EventKind.CADENCE_REASON) > 0

    order = log._answer_order
    a_sub = log.answer_subscriber[order]
    a_on = log.answer_on[order]
    a_ok = (a_on < c) & (a_on >= c - np.timedelta64(nps_lookback_days, "D"))
    sub_kept = a_sub[a_ok]
    score_kept = log.answer_score[order][a_ok]
    last = np.r_[sub_kept[1:] != sub_kept[:-1], True] if sub_kept.size else np.array([], bool)
    detractor_all = np.zeros(n, dtype=bool)
    detractor_all[sub_kept[last]] = score_kept[last] <= DETRACTOR_MAX

    observed = [
        _latest(log.attempt_on, before),
        _latest(log.event_on, ev_recent),
        _latest(a_on, a_ok),
    ]
    real = [d for d in observed if not np.isnat(d)]
    observed_until = max(real) if real else np.datetime64("NaT", "D")

    subs = np.asarray(subscribers, dtype=np.int64)
    renewals = renewals_all[subs]
    if baseline_for_renewals is None or baseline_for_renewals.size == 0:
        baseline = np.full(subs.size, np.nan)
    else:
        baseline = baseline_for_renewals[np.minimum(renewals, baseline_for_renewals.size - 1)]
    return RiskFeatures(
        cutoff=c,
        subscriber=subs,
        renewals=renewals,
        baseline=baseline,
        failed_payments=failed_all[subs],
        skips=skips_all[subs],
        paused=paused_all[subs],
        detractor=detractor_all[subs],
        cancel_attempts=cancel_all[subs],
        cadence_complaint=cadence_all[subs],
        observed_until=observed_until,
    )


def renewals_before(log: BehaviourLog, cutoff: np.datetime64) -> npt.NDArray[np.int64]:
    """Renewals each subscriber made before `cutoff` (max over their contracts).

    Parallel contracts do not add up: tenure is how long the relationship has lasted.
    """
    c = day(cutoff)
    ok = (log.attempt_on < c) & log.attempt_succeeded
    per_contract = np.bincount(log.attempt_contract[ok], minlength=log.contract_subscriber.size)
    out = np.zeros(log.n_subscribers, dtype=np.int64)
    np.maximum.at(out, log.contract_subscriber, per_contract)
    return out


def churn_labels(
    spans: ActivitySpans, cutoff: np.datetime64, window_days: int
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.bool_], np.datetime64]:
    """(subscribers live at cutoff, churned in [cutoff, cutoff + window), window end)."""
    c = day(cutoff)
    end = c + np.timedelta64(window_days, "D")
    live = live_at(spans, c)
    churned = live & ~spans.is_open & (spans.end < end)
    return spans.subscriber[live], churned[live], end
