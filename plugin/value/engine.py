"""The engine's single entry point: `score_shop(inputs, as_of, settings) -> ShopResults`.

It computes every docs/metrics.md metric for one shop from column arrays and returns shop
metrics plus per-subscriber arrays, all vectorised (no Python loop over subscribers or
rows). Workers store the results; the admin API reads what was stored.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import numpy.typing as npt

from plugin.value.behaviour import (
    BehaviourLog,
    LabelledWindow,
    RiskFeatures,
    churn_labels,
    features_as_of,
    renewals_before,
)
from plugin.value.churn import ChurnTable, billing_success_rate, monthly_churn
from plugin.value.codes import (
    CADENCE_EVENT_KINDS,
    CONTRACT_CHANGE_KINDS,
    SEGMENT_NAMES,
    ContractStatus,
    RiskMethod,
    Segment,
)
from plugin.value.dates import add_months, day, month_start
from plugin.value.drivers import cadence_fit_rate, delivery_time, self_serve_rate
from plugin.value.inputs import EngineSettings, ShopInputs
from plugin.value.money import DAYS_PER_MONTH, PerCurrency, billing_period_days
from plugin.value.nps import (
    NpsComparison,
    NpsResult,
    compare_nps,
    nps,
    response_rate,
    value_perception,
)
from plugin.value.reasons import CADENCE_REASON_CODES, ReasonMix, cancel_reason_mix
from plugin.value.revenue import (
    active_subscribers_by_currency,
    arpu_by_currency,
    contract_mrr,
    mrr_by_currency,
    revenue_at_risk,
)
from plugin.value.risk import RiskModelReport, baseline_risk, churn_risk
from plugin.value.sbg import (
    SbgFit,
    derl,
    discounted_expected_lifetime,
    fit_sbg,
    geometric_del,
    geometric_derl,
    per_period_discount_rate,
    pooled_churn_rate,
)
from plugin.value.score import high_risk, perceived_value, percentile_within, segment, value_score
from plugin.value.spans import ActivitySpans, activity_spans, live_at
from plugin.value.summaries import MeanResult, MedianResult, Ratio
from plugin.value.survival import (
    CohortRetention,
    OrderRetention,
    RetentionShift,
    cohort_retention,
    retention_by_order,
    retention_shift,
)
from plugin.value.value import customer_value

_FAR = np.iinfo(np.int64).max


@dataclass(frozen=True)
class RetentionModel:
    """The retention model in use for DERL and the risk baseline.

    fit: the sBG fit (always reported, even when not converged).
    source: "sbg" when the fit converged; "pooled_rate" when it did not and a constant
        churn rate per renewal (`pooled_rate`) stands in (reason in fit.reason).
    """

    fit: SbgFit
    source: str
    pooled_rate: float


@dataclass(frozen=True)
class ShopMetrics:
    """Shop-level figures as of `as_of` (windows are [start, end) in days).

    active_subscribers / paused_subscribers: subscribers with ≥1 active contract / with
        paused contracts only (paused is not churn and carries $0 MRR).
    mrr, arpu: per currency (docs/metrics.md); main_currency has the largest MRR.
    churn: the last `churn_months` complete months; monthly_churn_rate is the last of them.
    billing_success, nps, nps_previous, nps_change, value_perception, response_rate,
        cancel_reasons: over the metrics window (the NPS change against the window before).
    cohorts, retention_by_order, retention_shifts, retention_model: retention.
    predicted_ltv: per currency, mean over active contracts of amount × margin × DEL.
    cadence_fit, self_serve, delivery_time: value drivers over the driver window.
    revenue_at_risk: MRR of high-risk subscribers per currency.
    risk_model: which churn-risk method is used and its holdout evidence.
    segment_counts: live subscribers per segment name.
    plan_values: value to the customer per cycle, by plan id.
    """

    as_of: date
    window_start: np.datetime64
    window_end: np.datetime64
    active_subscribers: int
    paused_subscribers: int
    mrr: PerCurrency
    arpu: dict[str, float | None]
    main_currency: str | None
    churn: ChurnTable
    monthly_churn_rate: Ratio
    billing_success: Ratio
    nps: NpsResult
    nps_previous: NpsResult
    nps_change: NpsComparison
    value_perception: MeanResult
    response_rate: Ratio
    cancel_reasons: ReasonMix
    cohorts: CohortRetention
    retention_by_order: OrderRetention
    retention_shifts: tuple[RetentionShift, ...]
    retention_model: RetentionModel
    predicted_ltv: PerCurrency
    cadence_fit: Ratio
    self_serve: Ratio
    delivery_time: MedianResult
    revenue_at_risk: PerCurrency
    risk_model: RiskModelReport
    segment_counts: dict[str, int]
    plan_values: dict[str, float]


@dataclass(frozen=True)
class SubscriberResults:
    """Per-subscriber arrays, row i = `inputs.subscribers` row i.

    customer_id: passed through.
    is_active / is_paused: ≥1 active contract / paused contracts only.
    currency: currency of the primary contract (the live one with the largest amount; else
        the latest); "" for a subscriber without contracts.
    mrr: MRR of active contracts in that currency.
    renewals: renewals made so far (max over the subscriber's contracts); orders = 1 + this.
    churn_risk: P(cancel before next renewal); NaN unless live (active or paused).
    risk_method: `RiskMethod` code per subscriber (NONE when not scored).
    expected_residual_value: Σ over live contracts in `currency` of amount × margin × DERL;
        NaN unless live.
    value_score: 0–100, NaN unless live; value_components / value_present: [n, 3]
        economic, perceived, health (NaN / False when missing).
    segment: `Segment` code (CHURNED for subscribers no longer live).
    nps_last / nps_last_on: latest NPS answer up to as_of (NaN / NaT if none).
    customer_value_per_cycle / customer_value_cumulative: from the plan's value model
        (NaN when the plan has none); cumulated over cycles paid (= orders).
    """

    customer_id: npt.NDArray[np.int64]
    is_active: npt.NDArray[np.bool_]
    is_paused: npt.NDArray[np.bool_]
    currency: npt.NDArray[np.str_]
    mrr: npt.NDArray[np.float64]
    renewals: npt.NDArray[np.int64]
    churn_risk: npt.NDArray[np.float64]
    risk_method: npt.NDArray[np.int8]
    expected_residual_value: npt.NDArray[np.float64]
    value_score: npt.NDArray[np.float64]
    value_components: npt.NDArray[np.float64]
    value_present: npt.NDArray[np.bool_]
    segment: npt.NDArray[np.int8]
    nps_last: npt.NDArray[np.float64]
    nps_last_on: npt.NDArray[np.datetime64]
    customer_value_per_cycle: npt.NDArray[np.float64]
    customer_value_cumulative: npt.NDArray[np.float64]


@dataclass(frozen=True)
class ShopResults:
    """What `score_shop` returns: shop metrics and per-subscriber arrays."""

    metrics: ShopMetrics
    subscribers: SubscriberResults


def _last_per_group(group_sorted: npt.NDArray[np.int64]) -> npt.NDArray[np.bool_]:
    """Mask of the last row of each run in an array sorted by group."""
    if group_sorted.size == 0:
        return np.zeros(0, dtype=bool)
    return np.r_[group_sorted[1:] != group_sorted[:-1], True]


def _in_window(
    when: npt.NDArray[np.datetime64], start: np.datetime64, end: np.datetime64
) -> npt.NDArray[np.bool_]:
    return (when >= start) & (when < end)


def _retention_model_as_of(
    spans: ActivitySpans,
    log: BehaviourLog,
    first_start: npt.NDArray[np.int64],
    cutoff: np.datetime64,
) -> tuple[RetentionModel, npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    """sBG fitted only on what was known before `cutoff`, its renewals and baseline table."""
    n = log.n_subscribers
    c = day(cutoff)
    started = first_start < c.astype(np.int64)
    live = np.zeros(n, dtype=bool)
    live[spans.subscriber[live_at(spans, c)]] = True
    renewals = renewals_before(log, c)
    churned = started & ~live
    fit = fit_sbg(renewals[started], churned[started])
    rate = pooled_churn_rate(renewals[started], churned[started]) if started.any() else np.nan
    top = int(renewals.max()) + 1 if renewals.size else 1
    if fit.converged:
        model = RetentionModel(fit, "sbg", rate)
        table = baseline_risk(np.arange(top + 1), fit.alpha, fit.beta)
    else:
        model = RetentionModel(fit, "pooled_rate", rate)
        table = np.full(top + 1, rate)
    return model, renewals, table


def behaviour_log(inputs: ShopInputs) -> BehaviourLog:
    """The rows churn-risk features are computed from (`features_as_of`), as the engine reads
    them from its inputs."""
    return BehaviourLog(
        n_subscribers=len(inputs.subscribers),
        contract_subscriber=inputs.contracts.subscriber,
        attempt_contract=inputs.billing_attempts.contract,
        attempt_on=inputs.billing_attempts.attempted_on,
        attempt_succeeded=inputs.billing_attempts.succeeded,
        event_subscriber=inputs.events.subscriber,
        event_on=inputs.events.occurred_on,
        event_kind=inputs.events.kind,
        answer_subscriber=inputs.answers.subscriber,
        answer_on=inputs.answers.answered_on,
        answer_score=inputs.answers.score,
    )


def score_shop(
    inputs: ShopInputs, as_of: date | np.datetime64, settings: EngineSettings | None = None
) -> ShopResults:
    """Score one shop as of the end of day `as_of` (data dated after it is ignored by windows
    and risk features; contract statuses are taken as current)."""
    s = settings or EngineSettings()
    today = day(as_of)
    now = today + np.timedelta64(1, "D")  # first day not yet known: the cutoff "now"
    subs_in = inputs.subscribers
    con = inputs.contracts
    n = len(subs_in)
    n_con = len(con)

    # --- Current state per subscriber -------------------------------------------------
    c_sub = con.subscriber
    c_active = con.status == ContractStatus.ACTIVE
    c_paused = con.status == ContractStatus.PAUSED
    c_live = c_active | c_paused
    is_active = np.bincount(c_sub[c_active], minlength=n) > 0
    is_paused = ~is_active & (np.bincount(c_sub[c_paused], minlength=n) > 0)
    live = is_active | is_paused
    has_contract = np.bincount(c_sub, minlength=n) > 0

    monthly = contract_mrr(con.amount, con.interval, con.interval_count, con.status)
    currency_names, c_cur = np.unique(con.currency, return_inverse=True)
    c_cur = c_cur.ravel().astype(np.int64)

    # Primary contract: live first, then the largest amount, then the latest start.
    order = np.lexsort((con.started_on, con.amount, c_live, c_sub))
    last = _last_per_group(c_sub[order])
    primary = np.full(n, -1, dtype=np.int64)
    primary[c_sub[order][last]] = order[last]
    sub_cur = np.full(n, -1, dtype=np.int64)
    sub_cur[primary >= 0] = c_cur[primary[primary >= 0]]
    sub_currency = (
        np.where(sub_cur >= 0, currency_names[np.maximum(sub_cur, 0)], "")
        if n_con
        else np.full(n, "", dtype="<U3")
    )
    in_primary = sub_cur[c_sub] == c_cur if n_con else np.zeros(0, dtype=bool)
    sub_mrr = np.bincount(c_sub[in_primary], weights=monthly[in_primary], minlength=n).astype(
        np.float64
    )

    mrr = mrr_by_currency(con.amount, con.currency, con.interval, con.interval_count, con.status)
    arpu = arpu_by_currency(mrr, active_subscribers_by_currency(c_sub, con.currency, con.status))
    main_currency = max(mrr, key=lambda k: (mrr[k], k)) if mrr else None

    # --- Spans and churn ---------------------------------------------------------------
    ended_on = np.where(c_live, np.datetime64("NaT", "D"), con.ended_on)
    spans = activity_spans(c_sub, con.started_on, ended_on, con.end_source)
    this_month = month_start(today)
    months = [add_months(this_month, -k) for k in range(s.churn_months, 0, -1)]
    churn = monthly_churn(spans, months)
    monthly_rate = churn.month_ratio(churn.month.size - 1) if churn.month.size else Ratio(0, 0)

    # --- Window metrics ----------------------------------------------------------------
    w_start = now - np.timedelta64(s.metrics_window_days, "D")
    prev_start = w_start - np.timedelta64(s.metrics_window_days, "D")
    ba = inputs.billing_attempts
    billing = billing_success_rate(ba.attempted_on, ba.succeeded, w_start, now)
    ans = inputs.answers
    in_w = _in_window(ans.answered_on, w_start, now)
    in_prev = _in_window(ans.answered_on, prev_start, w_start)
    nps_now = nps(ans.score[in_w], s.nps_min_answers)
    nps_prev = nps(ans.score[in_prev], s.nps_min_answers)
    perception = value_perception(ans.value_for_money[in_w])
    inv = inputs.invitations
    responses = response_rate(inv.answered[_in_window(inv.invited_on, w_start, now)])
    canc = inputs.cancellations
    reasons = cancel_reason_mix(canc.reason[_in_window(canc.cancelled_on, w_start, now)], s.reasons)

    # --- Retention ---------------------------------------------------------------------
    start_days = con.started_on.astype(np.int64)
    first_start = np.full(n, _FAR, dtype=np.int64)
    np.minimum.at(first_start, c_sub, start_days)
    last_end = np.full(n, np.iinfo(np.int64).min, dtype=np.int64)
    closed = ~spans.is_open
    np.maximum.at(last_end, spans.subscriber[closed], spans.end[closed].astype(np.int64))
    cohort_rows = has_contract & (first_start <= today.astype(np.int64))
    churned_now = cohort_rows & ~live
    first_dates = first_start[cohort_rows].astype("datetime64[D]")
    end_days = np.where(churned_now, last_end, today.astype(np.int64))[cohort_rows]
    tenure = (end_days - first_start[cohort_rows]) / DAYS_PER_MONTH
    cohorts = cohort_retention(first_dates, tenure, churned_now[cohort_rows], s.max_cohort_age)

    log = behaviour_log(inputs)
    model, renewals, baseline_table = _retention_model_as_of(spans, log, first_start, now)
    by_order = retention_by_order(1 + renewals[cohort_rows], churned_now[cohort_rows])
    shifts = tuple(
        sh for age in s.retention_shift_ages if (sh := retention_shift(cohorts, age)) is not None
    )

    # --- DERL, expected residual value, predicted LTV -----------------------------------
    period_days = billing_period_days(con.interval, con.interval_count) if n_con else np.zeros(0)
    d_rate = per_period_discount_rate(s.annual_discount_rate, period_days)
    use = c_live & in_primary
    c_derl = np.zeros(n_con)
    if use.any():
        if model.source == "sbg":
            c_derl[use] = derl(renewals[c_sub[use]], model.fit.alpha, model.fit.beta, d_rate[use])
        else:
            c_derl[use] = geometric_derl(model.pooled_rate, d_rate[use])
    erv_sum = np.bincount(c_sub[use], weights=con.amount[use] * s.margin * c_derl[use], minlength=n)
    erv = np.where(live, erv_sum, np.nan)

    predicted_ltv: PerCurrency = {}
    if c_active.any():
        uniq_d, inv_d = np.unique(d_rate[c_active], return_inverse=True)
        if model.source == "sbg":
            del_u = discounted_expected_lifetime(model.fit.alpha, model.fit.beta, uniq_d)
        else:
            del_u = geometric_del(model.pooled_rate, uniq_d)
        ltv = con.amount[c_active] * s.margin * del_u[inv_d.ravel()]
        cur = c_cur[c_active]
        sums = np.bincount(cur, weights=ltv, minlength=currency_names.size)
        counts = np.bincount(cur, minlength=currency_names.size)
        predicted_ltv = {
            str(currency_names[k]): float(sums[k] / counts[k])
            for k in range(currency_names.size)
            if counts[k]
        }

    # --- Churn risk ----------------------------------------------------------------------
    live_idx = np.flatnonzero(live)
    current = features_as_of(log, now, live_idx, baseline_table, s.feature_window_days)
    horizon = np.timedelta64(s.risk_label_window_days, "D")
    holdout_cut = now - horizon
    windows: list[LabelledWindow] = []
    earliest = spans.start.min() if spans.start.size else now
    for k in range(s.risk_train_windows, -1, -1):
        cut = holdout_cut - k * horizon
        if cut <= earliest:
            continue
        rows, labels, label_end = churn_labels(spans, cut, s.risk_label_window_days)
        if rows.size == 0:
            continue
        _, _, table = _retention_model_as_of(spans, log, first_start, cut)
        feats = features_as_of(log, cut, rows, table, s.feature_window_days)
        windows.append(LabelledWindow(feats, labels, cut, label_end))
    holdout = windows[-1] if windows and windows[-1].label_start == holdout_cut else None
    train = windows[:-1] if holdout is not None else []
    risk_result = churn_risk(current, train, holdout, s.min_churn_examples, s.min_holdout_auc)
    risk = np.full(n, np.nan)
    risk[live_idx] = risk_result.risk
    risk_method = np.full(n, RiskMethod.NONE, dtype=np.int8)
    risk_method[live_idx] = risk_result.method

    # --- Perceived value, value score, segments -------------------------------------------
    nps_last = np.full(n, np.nan)
    vfm_last = np.full(n, np.nan)
    nps_last_on = np.full(n, np.datetime64("NaT"), dtype="datetime64[D]")
    known = ans.answered_on < now
    a_order = np.lexsort((ans.answered_on[known], ans.subscriber[known]))
    a_sub = ans.subscriber[known][a_order]
    pick = _last_per_group(a_sub)
    nps_last[a_sub[pick]] = ans.score[known][a_order][pick]
    vfm_last[a_sub[pick]] = ans.value_for_money[known][a_order][pick]
    nps_last_on[a_sub[pick]] = ans.answered_on[known][a_order][pick]
    age_days = (today - nps_last_on).astype("timedelta64[D]").astype(np.float64)
    age_days[np.isnat(nps_last_on)] = np.nan

    economic = np.full(n, np.nan)
    economic[live_idx] = percentile_within(erv[live_idx], sub_cur[live_idx])
    perceived = np.where(live, perceived_value(nps_last, vfm_last), np.nan)
    scores = value_score(economic, perceived, age_days, risk, s.weights)
    segments = segment(economic, risk, s.thresholds)
    segments[cohort_rows & ~live] = Segment.CHURNED
    at_risk = high_risk(risk, s.thresholds)
    rev_at_risk = revenue_at_risk(monthly, con.currency, c_sub, at_risk)
    seg_counts = np.bincount(segments[live], minlength=len(SEGMENT_NAMES))
    segment_counts = {
        name: int(seg_counts[k]) for k, name in SEGMENT_NAMES.items() if k != Segment.CHURNED
    }

    # --- Value drivers -----------------------------------------------------------------------
    ev = inputs.events
    cadence_mask = np.isin(ev.kind, np.array(CADENCE_EVENT_KINDS, dtype=np.int8))
    cadence_cancel = np.isin(canc.reason, list(CADENCE_REASON_CODES))
    signal_sub = np.concatenate([ev.subscriber[cadence_mask], c_sub[canc.contract[cadence_cancel]]])
    signal_on = np.concatenate([ev.occurred_on[cadence_mask], canc.cancelled_on[cadence_cancel]])
    cadence = cadence_fit_rate(is_active, signal_sub, signal_on, today, s.driver_window_days)
    d_start = now - np.timedelta64(s.driver_window_days, "D")
    changes = np.isin(ev.kind, np.array(CONTRACT_CHANGE_KINDS, dtype=np.int8)) & _in_window(
        ev.occurred_on, d_start, now
    )
    self_serve = self_serve_rate(ev.source[changes])
    dl = inputs.deliveries
    fulfilled_day = dl.fulfilled_at.astype("datetime64[D]")
    delivery = delivery_time(
        dl.fulfilled_at[_in_window(fulfilled_day, d_start, now)],
        dl.delivered_at[_in_window(fulfilled_day, d_start, now)],
    )

    # --- Customer value model --------------------------------------------------------------
    plan_of_sub = (
        np.where(primary >= 0, con.plan[np.maximum(primary, 0)], -1) if n_con else np.full(n, -1)
    )
    per_cycle, cumulative = customer_value(plan_of_sub, 1 + renewals, inputs.plans)

    metrics = ShopMetrics(
        as_of=today.astype(date),
        window_start=w_start,
        window_end=now,
        active_subscribers=int(is_active.sum()),
        paused_subscribers=int(is_paused.sum()),
        mrr=mrr,
        arpu=arpu,
        main_currency=main_currency,
        churn=churn,
        monthly_churn_rate=monthly_rate,
        billing_success=billing,
        nps=nps_now,
        nps_previous=nps_prev,
        nps_change=compare_nps(nps_prev, nps_now),
        value_perception=perception,
        response_rate=responses,
        cancel_reasons=reasons,
        cohorts=cohorts,
        retention_by_order=by_order,
        retention_shifts=shifts,
        retention_model=model,
        predicted_ltv=predicted_ltv,
        cadence_fit=cadence,
        self_serve=self_serve,
        delivery_time=delivery,
        revenue_at_risk=rev_at_risk,
        risk_model=risk_result.report,
        segment_counts=segment_counts,
        plan_values={p.plan_id: p.value_per_cycle for p in inputs.plans},
    )
    results = SubscriberResults(
        customer_id=subs_in.customer_id,
        is_active=is_active,
        is_paused=is_paused,
        currency=np.asarray(sub_currency, dtype=str),
        mrr=sub_mrr,
        renewals=renewals,
        churn_risk=risk,
        risk_method=risk_method,
        expected_residual_value=erv,
        value_score=scores.score,
        value_components=scores.components,
        value_present=scores.present,
        segment=segments,
        nps_last=nps_last,
        nps_last_on=nps_last_on,
        customer_value_per_cycle=per_cycle,
        customer_value_cumulative=cumulative,
    )
    return ShopResults(metrics=metrics, subscribers=results)


__all__ = [
    "RetentionModel",
    "RiskFeatures",
    "ShopMetrics",
    "ShopResults",
    "SubscriberResults",
    "behaviour_log",
    "score_shop",
]
