"""Churn risk: sBG baseline, fixed odds multipliers, per-shop logistic model, no leakage."""

import numpy as np
import pytest

from plugin.value.behaviour import (
    BehaviourLog,
    LabelledWindow,
    LeakageError,
    RiskFeatures,
    features_as_of,
)
from plugin.value.codes import EventKind, RiskMethod
from plugin.value.risk import (
    baseline_risk,
    churn_risk,
    fixed_multiplier_risk,
    top_decile_lift,
    train_logistic_risk,
)

CUT = np.datetime64("2025-06-01", "D")


def feats(n: int = 1, cutoff=CUT, observed_until=None, **cols) -> RiskFeatures:
    base = {
        "subscriber": np.arange(n),
        "renewals": np.zeros(n, np.int64),
        "baseline": np.full(n, 0.1),
        "failed_payments": np.zeros(n, np.int64),
        "skips": np.zeros(n, np.int64),
        "paused": np.zeros(n, bool),
        "detractor": np.zeros(n, bool),
        "cancel_attempts": np.zeros(n, np.int64),
        "cadence_complaint": np.zeros(n, bool),
    }
    base.update({k: np.asarray(v) for k, v in cols.items()})
    seen = observed_until if observed_until is not None else cutoff - np.timedelta64(1, "D")
    return RiskFeatures(cutoff=cutoff, observed_until=seen, **base)


def test_baseline_is_one_minus_next_renewal_probability() -> None:
    # After r renewals: 1 − (β + r)/(α + β + r) = α/(α + β + r).
    a, b = 0.704, 1.182
    assert baseline_risk([0, 5], a, b) == pytest.approx([a / (a + b), a / (a + b + 5)])


def test_fixed_multipliers_hand_computed() -> None:
    f = feats(
        5,
        baseline=[0.1, 0.1, 0.1, 1.0, 0.0],
        failed_payments=[1, 5, 0, 2, 3],
        detractor=[True, False, False, True, True],
    )
    risk = fixed_multiplier_risk(f)
    # 0: odds 1/9 × 2.0 × 1.5 = 1/3 → 0.25.
    # 1: five failures count as three: 1/9 × 2³ = 8/9 → 8/17.
    # 2: no behaviour → the baseline. 3: certain stays certain. 4: zero stays zero.
    assert risk == pytest.approx([0.25, 8 / 17, 0.1, 1.0, 0.0])


def test_fixed_multipliers_for_survey_signals_hand_computed() -> None:
    f = feats(
        4,
        cancel_attempts=[1, 3, 0, 1],
        cadence_complaint=[False, False, True, True],
    )
    risk = fixed_multiplier_risk(f)
    # Baseline odds 1/9. 0: one cancel attempt × 2.0 → 2/9 → 2/11. 1: three attempts count
    # as two: × 4 → 4/9 → 4/13. 2: a cadence complaint × 1.2 → 0.4/3 → 2/17.
    # 3: × 2.0 × 1.2 → 2.4/9 → 2.4/11.4.
    assert risk == pytest.approx([2 / 11, 4 / 13, 2 / 17, 2.4 / 11.4])


def test_fixed_multipliers_each_signal_raises_risk_and_output_is_a_probability() -> None:
    f = feats(
        7,
        skips=[0, 1, 0, 0, 0, 0, 9],
        paused=[0, 0, 1, 0, 0, 0, 1],
        cancel_attempts=[0, 0, 0, 1, 0, 0, 9],
        detractor=[0, 0, 0, 0, 1, 0, 1],
        cadence_complaint=[0, 0, 0, 0, 0, 1, 1],
    )
    risk = fixed_multiplier_risk(f)
    assert np.all(risk[1:6] > risk[0])
    assert np.all((risk >= 0) & (risk <= 1))


def test_features_that_read_past_the_cutoff_cannot_exist() -> None:
    with pytest.raises(LeakageError):
        feats(observed_until=CUT)
    with pytest.raises(LeakageError):
        feats(observed_until=CUT + np.timedelta64(3, "D"))


def test_labels_must_start_at_or_after_the_feature_cutoff() -> None:
    with pytest.raises(LeakageError):
        LabelledWindow(feats(), np.array([False]), CUT - np.timedelta64(1, "D"), CUT)
    LabelledWindow(feats(), np.array([False]), CUT, CUT + np.timedelta64(30, "D"))


def test_training_labels_may_not_overlap_the_holdout() -> None:
    later = CUT + np.timedelta64(30, "D")
    train = LabelledWindow(feats(), np.array([True]), CUT, later + np.timedelta64(1, "D"))
    holdout = LabelledWindow(
        feats(cutoff=later), np.array([False]), later, later + np.timedelta64(30, "D")
    )
    with pytest.raises(ValueError, match="time split"):
        train_logistic_risk([train], holdout)


def _log(n, attempts=(), events=(), answers=()) -> BehaviourLog:
    """attempts: (contract, date, ok); events: (subscriber, date, kind); answers: (sub, date,
    score). Contract i belongs to subscriber i."""
    a = list(zip(*attempts, strict=True)) or [[], [], []]
    e = list(zip(*events, strict=True)) or [[], [], []]
    s = list(zip(*answers, strict=True)) or [[], [], []]
    return BehaviourLog(
        n_subscribers=n,
        contract_subscriber=np.arange(n),
        attempt_contract=np.asarray(a[0], np.int64),
        attempt_on=np.asarray(a[1], "datetime64[D]"),
        attempt_succeeded=np.asarray(a[2], bool),
        event_subscriber=np.asarray(e[0], np.int64),
        event_on=np.asarray(e[1], "datetime64[D]"),
        event_kind=np.asarray(e[2], np.int8),
        answer_subscriber=np.asarray(s[0], np.int64),
        answer_on=np.asarray(s[1], "datetime64[D]"),
        answer_score=np.asarray(s[2], np.float64),
    )


def test_features_as_of_reads_only_rows_before_the_cutoff() -> None:
    before = [(0, "2025-05-10", True), (0, "2025-05-20", False), (1, "2025-05-01", True)]
    after = [(0, "2025-06-01", True), (1, "2025-06-05", False)]
    ev_before = [
        (0, "2025-05-25", EventKind.SKIP),
        (1, "2025-03-01", EventKind.SKIP),
        (0, "2025-05-31", EventKind.CANCEL_ATTEMPT),  # the last day before the cutoff
        (0, "2025-04-01", EventKind.CANCEL_ATTEMPT),
        (0, "2025-03-02", EventKind.CANCEL_ATTEMPT),  # 91 days before: outside the window
        (1, "2025-03-03", EventKind.CADENCE_REASON),  # 90 days before: inside
    ]
    ev_after = [
        (0, "2025-06-02", EventKind.CANCEL_ATTEMPT),
        (1, "2025-06-01", EventKind.PAUSE),
        (1, "2025-06-01", EventKind.CANCEL_ATTEMPT),  # on the cutoff day: not known yet
        (0, "2025-06-01", EventKind.CADENCE_REASON),
    ]
    ans_before = [(0, "2025-01-01", 9), (0, "2025-05-01", 3)]
    ans_after = [(0, "2025-06-10", 10)]
    base = [0.5, 0.3, 0.2]
    f_past = features_as_of(
        _log(2, before, ev_before, ans_before), CUT, np.arange(2), np.array(base)
    )
    f_all = features_as_of(
        _log(2, before + after, ev_before + ev_after, ans_before + ans_after),
        CUT,
        np.arange(2),
        np.array(base),
    )
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
        assert getattr(f_all, name).tolist() == getattr(f_past, name).tolist(), name
    assert f_all.observed_until < CUT
    assert f_past.renewals.tolist() == [1, 1]
    assert f_past.baseline.tolist() == [0.3, 0.3]  # looked up by renewal count
    assert f_past.failed_payments.tolist() == [1, 0]
    assert f_past.skips.tolist() == [1, 0]  # subscriber 1's skip is older than 90 days
    assert f_past.detractor.tolist() == [True, False]  # latest answer before cutoff: 3
    assert f_past.cancel_attempts.tolist() == [2, 0]
    assert f_past.cadence_complaint.tolist() == [False, True]
    assert f_past.observed_until == np.datetime64("2025-05-31")


def _windows(signal_days: int, seed: int = 3, kind: EventKind = EventKind.CANCEL_ATTEMPT):
    """Four 30-day windows of 2000 subscribers each (10 % churn). Churners get a `kind` event
    (a cancel attempt) `signal_days` from their window's cutoff: negative = known before the
    cutoff, positive = only known after it (inside the label window)."""
    rng = np.random.default_rng(seed)
    per, k = 2000, 4
    n = per * k
    cutoffs = [CUT + np.timedelta64(30 * w, "D") for w in range(k)]
    churned = rng.random(n) < 0.1
    window_of = np.repeat(np.arange(k), per)
    cut_of = np.array(cutoffs)[window_of]
    noise_sub = rng.integers(0, n, n // 2)
    noise_on = cut_of[noise_sub] - rng.integers(1, 80, noise_sub.size).astype("timedelta64[D]")
    sig_sub = np.flatnonzero(churned)
    sig_on = cut_of[sig_sub] + np.timedelta64(signal_days, "D")
    log = BehaviourLog(
        n_subscribers=n,
        contract_subscriber=np.arange(n),
        attempt_contract=np.zeros(0, np.int64),
        attempt_on=np.zeros(0, "datetime64[D]"),
        attempt_succeeded=np.zeros(0, bool),
        event_subscriber=np.r_[noise_sub, sig_sub],
        event_on=np.r_[noise_on, sig_on],
        event_kind=np.r_[
            np.full(noise_sub.size, EventKind.SKIP), np.full(sig_sub.size, kind)
        ].astype(np.int8),
        answer_subscriber=np.zeros(0, np.int64),
        answer_on=np.zeros(0, "datetime64[D]"),
        answer_score=np.zeros(0),
    )
    windows = []
    for w, c in enumerate(cutoffs):
        rows = np.flatnonzero(window_of == w)
        f = features_as_of(log, c, rows, np.array([0.1]))
        windows.append(LabelledWindow(f, churned[rows], c, c + np.timedelta64(30, "D")))
    return windows


SURVEY_SIGNALS = [EventKind.CANCEL_ATTEMPT, EventKind.CADENCE_REASON]


@pytest.mark.parametrize("kind", SURVEY_SIGNALS)
def test_a_signal_known_before_the_cutoff_is_learned(kind: EventKind) -> None:
    windows = _windows(signal_days=-5, kind=kind)
    model, report = train_logistic_risk(windows[:-1], windows[-1])
    assert model is not None and report.method == RiskMethod.LOGISTIC
    assert report.holdout_auc is not None and report.holdout_auc > 0.9
    assert report.top_decile_lift is not None and report.top_decile_lift > 5
    assert report.n_train_churn >= 200


@pytest.mark.parametrize("kind", SURVEY_SIGNALS)
def test_a_signal_only_known_after_the_cutoff_does_not_raise_auc(kind: EventKind) -> None:
    # Same data, but every churner's cancel attempt (or cadence complaint) happens after
    # their window's cutoff. If anything leaked across the cutoff, the holdout AUC would be
    # near 1.
    windows = _windows(signal_days=+5, kind=kind)
    assert all(w.features.cancel_attempts.sum() == 0 for w in windows)
    assert all(w.features.cadence_complaint.sum() == 0 for w in windows)
    model, report = train_logistic_risk(windows[:-1], windows[-1])
    assert report.holdout_auc is not None and abs(report.holdout_auc - 0.5) < 0.06
    assert model is None and report.method == RiskMethod.FIXED_MULTIPLIERS
    assert "AUC" in report.reason


def test_too_few_churns_uses_fixed_multipliers_and_says_why() -> None:
    windows = _windows(signal_days=-5)
    model, report = train_logistic_risk(windows[:-1], windows[-1], min_churn_examples=10_000)
    assert model is None and report.method == RiskMethod.FIXED_MULTIPLIERS
    assert "fewer than 10000" in report.reason


def test_churn_risk_reports_its_method() -> None:
    windows = _windows(signal_days=-5)
    current = windows[-1].features
    learned = churn_risk(current, windows[:-1], windows[-1])
    assert learned.method == RiskMethod.LOGISTIC
    assert learned.risk.shape == (len(current),)
    assert np.all((learned.risk >= 0) & (learned.risk <= 1))
    fallback = churn_risk(current, [], None)
    assert fallback.method == RiskMethod.FIXED_MULTIPLIERS
    assert "history" in fallback.report.reason
    assert fallback.risk == pytest.approx(fixed_multiplier_risk(current))


def test_top_decile_lift_hand_computed() -> None:
    scores = np.linspace(1.0, 0.1, 10)
    churned = np.array([1, 0, 0, 0, 0, 0, 0, 0, 0, 1], bool)
    # Top 10 % = the first row, churn rate 1.0; overall 0.2 → lift 5.
    assert top_decile_lift(scores, churned) == pytest.approx(5.0)
    assert top_decile_lift(scores, np.zeros(10, bool)) is None
