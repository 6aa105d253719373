"""The stored shop metrics document: its shape, its builder and its trend metrics (one place).

`MetricSnapshot.metrics` holds exactly the body of `GET /api/admin/overview` (docs/design.md §6)
plus the keys the review pack and the trends need. The admin API, the review pack and the
`score` command all read these keys through the TypedDicts below, never by ad-hoc strings.

Conventions:
- A metric that cannot be computed is null, never 0, and `missing["<dotted.path>"]` says why
  (e.g. "not enough answers (12 < 30)"). A true zero (no MRR at all) is 0.
- Rates are fractions in [0, 1]; NPS is in points (−100..100); money is per currency with the
  main currency (largest MRR, else the shop's) in `amount`/`currency`.
- `details` keeps the counts behind each rate, so a reader can tell 1/1 from 900/1000.
- Windows: `window` (billing, NPS, answers, cancel reasons; 30 days by default) and
  `driver_window` (value drivers; 90 days), both as inclusive local dates.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any, TypedDict

import numpy as np

from plugin.value import EndSource, ShopResults
from plugin.value.codes import RISK_METHOD_NAMES
from plugin.value.engine import ShopMetrics
from plugin.value.money import PerCurrency
from plugin.value.summaries import Ratio

STATUS_OK = "ok"
STATUS_NOT_COMPUTED = "not_computed"


class MoneyDoc(TypedDict):
    amount: float | None
    currency: str | None
    by_currency: dict[str, float]


class SubscribersDoc(TypedDict):
    active: int
    paused: int


class ChurnMonthDoc(TypedDict):
    month: str
    rate: float | None
    churned: int
    active_at_start: int
    voluntary: int
    involuntary: int
    merchant: int
    expired: int
    unknown: int


class ChurnDoc(TypedDict):
    month: str | None
    monthly_rate: float | None
    voluntary: float | None
    involuntary: float | None
    merchant: float | None
    expired: float | None
    unknown: float | None
    churned: int
    active_at_start: int
    history: list[ChurnMonthDoc]


class NpsChangeDoc(TypedDict):
    delta: float | None
    z: float | None
    p_value: float | None
    real: bool
    previous_score: float | None
    previous_responses: int
    reason: str | None


class NpsDoc(TypedDict):
    score: float | None
    responses: int
    promoters: int
    passives: int
    detractors: int
    ci_low: float | None
    ci_high: float | None
    enough_answers: bool
    reason: str | None
    change: NpsChangeDoc


class ReasonDoc(TypedDict):
    code: str
    label: str
    count: int
    share: float
    driver: str | None


class CancellationsDoc(TypedDict):
    total: int
    with_customer_reason: int
    system_reasons: dict[str, int]


class RetentionModelDoc(TypedDict):
    alpha: float | None
    beta: float | None
    loglik: float | None
    converged: bool
    source: str
    pooled_rate: float | None
    n_subscribers: int
    n_churned: int
    reason: str | None


class CohortDoc(TypedDict):
    cohort: str
    size: int
    survival: list[float | None]


class OrderRetentionDoc(TypedDict):
    orders: int
    survival: float | None
    at_risk: int
    churn_after: float | None


class ShiftDoc(TypedDict):
    cohort: str
    age: int
    recent: float
    baseline: float
    shift: float
    n_earlier: int


class RetentionDoc(TypedDict):
    model: RetentionModelDoc
    cohorts: list[CohortDoc]
    by_order: list[OrderRetentionDoc]
    shifts: list[ShiftDoc]


class DriversDoc(TypedDict):
    cadence_fit: float | None
    self_serve: float | None
    delivery_days_median: float | None


class RiskModelDoc(TypedDict):
    method: str
    reason: str
    auc: float | None
    top_decile_lift: float | None
    n_train: int
    n_train_churn: int
    n_holdout: int
    n_holdout_churn: int
    coefficients: dict[str, float] | None


class WindowDoc(TypedDict):
    start: str
    end: str


class OverviewDoc(TypedDict):
    """`GET /api/admin/overview` and `MetricSnapshot.metrics` (docs/design.md §6 and more)."""

    shop: str
    status: str
    computed_at: str | None
    as_of: str | None
    window: WindowDoc | None
    driver_window: WindowDoc | None
    subscribers: SubscribersDoc
    mrr: MoneyDoc
    arpu: MoneyDoc
    churn: ChurnDoc
    nps: NpsDoc
    cancel_reasons: list[ReasonDoc]
    cancellations: CancellationsDoc
    capture_rate: float | None
    revenue_at_risk: MoneyDoc
    billing_success_rate: float | None
    value_perception: float | None
    response_rate: float | None
    retention: RetentionDoc
    drivers: DriversDoc
    predicted_ltv: MoneyDoc
    risk_model: RiskModelDoc | None
    segments: dict[str, int]
    plan_values: dict[str, float]
    contracts_without_amount: int
    details: dict[str, dict[str, int]]
    missing: dict[str, str]


# Metrics `GET /api/admin/trends` can chart: name → dotted path into OverviewDoc.
TREND_METRICS: dict[str, str] = {
    "active_subscribers": "subscribers.active",
    "paused_subscribers": "subscribers.paused",
    "mrr": "mrr.amount",
    "arpu": "arpu.amount",
    "churn_rate": "churn.monthly_rate",
    "voluntary_churn_rate": "churn.voluntary",
    "involuntary_churn_rate": "churn.involuntary",
    "nps": "nps.score",
    "nps_responses": "nps.responses",
    "billing_success_rate": "billing_success_rate",
    "value_perception": "value_perception",
    "response_rate": "response_rate",
    "capture_rate": "capture_rate",
    "revenue_at_risk": "revenue_at_risk.amount",
    "predicted_ltv": "predicted_ltv.amount",
    "cadence_fit": "drivers.cadence_fit",
    "self_serve": "drivers.self_serve",
    "delivery_days_median": "drivers.delivery_days_median",
}


def metric_value(doc: Mapping[str, Any], path: str) -> Any:
    """The value at a dotted path of a stored document (None when absent)."""
    node: Any = doc
    for part in path.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return node


def _num(value: float | np.floating[Any] | None) -> float | None:
    """A finite float, or None for NaN/None (JSON has no NaN)."""
    if value is None:
        return None
    f = float(value)
    return f if math.isfinite(f) else None


def _money(per_currency: PerCurrency, main: str | None) -> MoneyDoc:
    by_currency = {code: round(float(v), 2) for code, v in sorted(per_currency.items())}
    amount = by_currency.get(main) if main is not None else None
    return {"amount": amount, "currency": main, "by_currency": by_currency}


def _ratio(r: Ratio) -> float | None:
    return _num(r.value)


def _count(r: Ratio) -> dict[str, int]:
    return {"numerator": r.numerator, "denominator": r.denominator}


def _day(value: Any) -> str:
    return str(np.datetime64(value, "D"))


def _month(value: Any) -> str:
    return str(np.datetime64(value, "M"))


def _no_churn() -> ChurnDoc:
    """Churn before a complete month of history: no rates, nothing counted."""
    return {
        "month": None,
        "monthly_rate": None,
        "voluntary": None,
        "involuntary": None,
        "merchant": None,
        "expired": None,
        "unknown": None,
        "churned": 0,
        "active_at_start": 0,
        "history": [],
    }


def _churn(m: ShopMetrics, missing: dict[str, str]) -> ChurnDoc:
    table = m.churn
    history: list[ChurnMonthDoc] = []
    for i in range(table.month.size):
        by = table.churned_by_source[i]
        history.append(
            {
                "month": _month(table.month[i]),
                "rate": _num(table.rate[i]),
                "churned": int(table.churned[i]),
                "active_at_start": int(table.active_at_start[i]),
                "voluntary": int(by[EndSource.VOLUNTARY]),
                "involuntary": int(by[EndSource.INVOLUNTARY]),
                "merchant": int(by[EndSource.MERCHANT]),
                "expired": int(by[EndSource.EXPIRED]),
                "unknown": int(by[EndSource.UNKNOWN]),
            }
        )
    if not history:
        missing["churn.monthly_rate"] = "no complete month of history yet"
        return _no_churn()
    last = history[-1]
    base = last["active_at_start"]

    def share(n: int) -> float | None:
        return n / base if base else None

    if not base:
        missing["churn.monthly_rate"] = f"nobody was subscribed at the start of {last['month']}"
    return {
        "month": last["month"],
        "monthly_rate": last["rate"],
        "voluntary": share(last["voluntary"]),
        "involuntary": share(last["involuntary"]),
        "merchant": share(last["merchant"]),
        "expired": share(last["expired"]),
        "unknown": share(last["unknown"]),
        "churned": last["churned"],
        "active_at_start": base,
        "history": history,
    }


def _nps(m: ShopMetrics, missing: dict[str, str]) -> NpsDoc:
    now, before, change = m.nps, m.nps_previous, m.nps_change
    if now.score is None:
        missing["nps.score"] = now.reason or "no answers"
    if not change.real_change and change.reason:
        missing["nps.change.real"] = change.reason
    return {
        "score": _num(now.score),
        "responses": now.n,
        "promoters": now.promoters,
        "passives": now.passives,
        "detractors": now.detractors,
        "ci_low": _num(now.ci_low),
        "ci_high": _num(now.ci_high),
        "enough_answers": now.enough_answers,
        "reason": now.reason,
        "change": {
            "delta": _num(change.difference),
            "z": _num(change.z),
            "p_value": _num(change.p_value),
            "real": change.real_change,
            "previous_score": _num(before.score),
            "previous_responses": before.n,
            "reason": change.reason,
        },
    }


def _retention(m: ShopMetrics, missing: dict[str, str]) -> RetentionDoc:
    model = m.retention_model
    fit = model.fit
    converged = bool(fit.converged)
    if not converged:
        missing["retention.model"] = fit.reason or "the retention model did not converge"
    cohorts: list[CohortDoc] = [
        {
            "cohort": _month(m.cohorts.cohort[i]),
            "size": int(m.cohorts.size[i]),
            "survival": [_num(v) for v in m.cohorts.survival[i]],
        }
        for i in range(m.cohorts.cohort.size)
    ]
    by_order = m.retention_by_order
    churn_after = by_order.churn_after_order()
    orders: list[OrderRetentionDoc] = [
        {
            "orders": int(k),
            "survival": _num(by_order.survival[i]),
            "at_risk": int(by_order.at_risk[i]),
            "churn_after": _num(churn_after[i - 1]) if i > 0 else None,
        }
        for i, k in enumerate(by_order.orders)
    ]
    return {
        "model": {
            "alpha": _num(fit.alpha) if converged else None,
            "beta": _num(fit.beta) if converged else None,
            "loglik": _num(fit.loglik) if converged else None,
            "converged": converged,
            "source": model.source,
            "pooled_rate": _num(model.pooled_rate),
            "n_subscribers": int(fit.n_subscribers),
            "n_churned": int(fit.n_churned),
            "reason": fit.reason,
        },
        "cohorts": cohorts,
        "by_order": orders,
        "shifts": [
            {
                "cohort": _month(s.cohort),
                "age": int(s.age),
                "recent": float(s.recent),
                "baseline": float(s.baseline),
                "shift": float(s.shift),
                "n_earlier": int(s.n_earlier),
            }
            for s in m.retention_shifts
        ],
    }


def build_overview(
    results: ShopResults,
    *,
    shop: str,
    shop_currency: str,
    computed_at: datetime,
    labels: Mapping[str, str],
    driver_window_days: int,
    contracts_without_amount: int = 0,
) -> OverviewDoc:
    """The metrics document of one engine run. `labels` maps reason codes to display labels."""
    m = results.metrics
    missing: dict[str, str] = {}
    main = m.main_currency or shop_currency
    mrr = _money(m.mrr, main)
    if mrr["amount"] is None:
        mrr["amount"] = 0.0  # nothing is active: the true MRR is zero, not unknown
    if contracts_without_amount:
        missing["mrr.contracts_without_amount"] = (
            f"{contracts_without_amount} active contracts have no recurring amount yet "
            "(details not fetched from Shopify); they count as 0 until backfilled"
        )
    arpu = _money({k: v for k, v in m.arpu.items() if v is not None}, main)
    if arpu["amount"] is None:
        missing["arpu.amount"] = "no active subscribers"

    mix = m.cancel_reasons
    reasons: list[ReasonDoc] = [
        {
            "code": r.code,
            "label": labels.get(r.code, r.code),
            "count": r.count,
            "share": r.share,
            "driver": r.driver,
        }
        for r in mix.reasons
    ]
    capture = _ratio(mix.capture)
    if capture is None:
        missing["capture_rate"] = "no cancellations in the window"
    billing = _ratio(m.billing_success)
    if billing is None:
        missing["billing_success_rate"] = "no billing attempts in the window"
    perception = _num(m.value_perception.mean)
    if perception is None:
        missing["value_perception"] = "no value-for-money answers in the window"
    responses = _ratio(m.response_rate)
    if responses is None:
        missing["response_rate"] = "no survey invitations sent in the window"
    cadence = _ratio(m.cadence_fit)
    if cadence is None:
        missing["drivers.cadence_fit"] = "no active subscribers"
    self_serve = _ratio(m.self_serve)
    if self_serve is None:
        missing["drivers.self_serve"] = "no contract changes with a known source in the window"
    delivery = _num(m.delivery_time.median)
    if delivery is None:
        missing["drivers.delivery_days_median"] = "no delivered orders with a fulfilment time"
    ltv = _money(m.predicted_ltv, main)
    if ltv["amount"] is None:
        missing["predicted_ltv.amount"] = f"no active contracts in {main}"
    at_risk = _money(m.revenue_at_risk, main)
    if at_risk["amount"] is None:
        at_risk["amount"] = 0.0  # no revenue in the main currency, so none of it is at risk

    report = m.risk_model
    risk_doc: RiskModelDoc = {
        "method": RISK_METHOD_NAMES[int(report.method)],
        "reason": report.reason,
        "auc": _num(report.holdout_auc),
        "top_decile_lift": _num(report.top_decile_lift),
        "n_train": report.n_train,
        "n_train_churn": report.n_train_churn,
        "n_holdout": report.n_holdout,
        "n_holdout_churn": report.n_holdout_churn,
        "coefficients": report.coefficients,
    }
    if risk_doc["auc"] is None:
        missing["risk_model.auc"] = report.reason

    as_of = m.as_of
    last_day = np.datetime64(as_of, "D")
    driver_start = last_day - np.timedelta64(driver_window_days - 1, "D")
    return {
        "shop": shop,
        "status": STATUS_OK,
        "computed_at": computed_at.isoformat(),
        "as_of": as_of.isoformat(),
        "window": {"start": _day(m.window_start), "end": _day(last_day)},
        "driver_window": {"start": _day(driver_start), "end": _day(last_day)},
        "subscribers": {"active": m.active_subscribers, "paused": m.paused_subscribers},
        "mrr": mrr,
        "arpu": arpu,
        "churn": _churn(m, missing),
        "nps": _nps(m, missing),
        "cancel_reasons": reasons,
        "cancellations": {
            "total": mix.cancellations,
            "with_customer_reason": mix.capture.numerator,
            "system_reasons": dict(sorted(mix.system_counts.items())),
        },
        "capture_rate": capture,
        "revenue_at_risk": at_risk,
        "billing_success_rate": billing,
        "value_perception": perception,
        "response_rate": responses,
        "retention": _retention(m, missing),
        "drivers": {
            "cadence_fit": cadence,
            "self_serve": self_serve,
            "delivery_days_median": delivery,
        },
        "predicted_ltv": ltv,
        "risk_model": risk_doc,
        "segments": dict(m.segment_counts),
        "plan_values": {k: float(v) for k, v in m.plan_values.items()},
        "contracts_without_amount": contracts_without_amount,
        "details": {
            "billing_success_rate": _count(m.billing_success),
            "capture_rate": _count(mix.capture),
            "response_rate": _count(m.response_rate),
            "value_perception": {"answers": m.value_perception.n},
            "cadence_fit": _count(m.cadence_fit),
            "self_serve": _count(m.self_serve),
            "delivery_days_median": {"deliveries": m.delivery_time.n},
        },
        "missing": missing,
    }


def empty_overview(shop: str) -> OverviewDoc:
    """What the overview says before the shop's first recompute: nothing known yet."""
    reason = "not computed yet: the first recompute runs shortly after the shop's first events"
    none_money: MoneyDoc = {"amount": None, "currency": None, "by_currency": {}}
    return {
        "shop": shop,
        "status": STATUS_NOT_COMPUTED,
        "computed_at": None,
        "as_of": None,
        "window": None,
        "driver_window": None,
        "subscribers": {"active": 0, "paused": 0},
        "mrr": dict(none_money),  # type: ignore[typeddict-item]
        "arpu": dict(none_money),  # type: ignore[typeddict-item]
        "churn": _no_churn(),
        "nps": {
            "score": None,
            "responses": 0,
            "promoters": 0,
            "passives": 0,
            "detractors": 0,
            "ci_low": None,
            "ci_high": None,
            "enough_answers": False,
            "reason": reason,
            "change": {
                "delta": None,
                "z": None,
                "p_value": None,
                "real": False,
                "previous_score": None,
                "previous_responses": 0,
                "reason": reason,
            },
        },
        "cancel_reasons": [],
        "cancellations": {"total": 0, "with_customer_reason": 0, "system_reasons": {}},
        "capture_rate": None,
        "revenue_at_risk": dict(none_money),  # type: ignore[typeddict-item]
        "billing_success_rate": None,
        "value_perception": None,
        "response_rate": None,
        "retention": {
            "model": {
                "alpha": None,
                "beta": None,
                "loglik": None,
                "converged": False,
                "source": "none",
                "pooled_rate": None,
                "n_subscribers": 0,
                "n_churned": 0,
                "reason": reason,
            },
            "cohorts": [],
            "by_order": [],
            "shifts": [],
        },
        "drivers": {"cadence_fit": None, "self_serve": None, "delivery_days_median": None},
        "predicted_ltv": dict(none_money),  # type: ignore[typeddict-item]
        "risk_model": None,
        "segments": {},
        "plan_values": {},
        "contracts_without_amount": 0,
        "details": {},
        "missing": {"*": reason},
    }


def as_of_of(doc: Mapping[str, Any]) -> date | None:
    """The as-of day a stored document describes."""
    raw = doc.get("as_of")
    return date.fromisoformat(raw) if isinstance(raw, str) else None
