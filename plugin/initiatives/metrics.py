"""The metrics an initiative can target, and how each one's effect can be measured.

A target metric is a dotted path into the stored metrics document (plugin.scoring.metrics_doc,
the one definition of its keys); only paths the trends offer qualify. Each carries how its
before/after samples combine and which test, if any, may call a change real:

- "nps": promoter/passive/detractor counts add up across windows; the engine's adjusted-Wald
  two-sample z test (plugin.value.nps.compare_nps).
- "proportion": a rate whose numerator and denominator the document keeps (`details`);
  counts add up across windows; the pooled two-proportion z test (plugin.initiatives.stats).
- "monthly": a churn rate, counted per calendar month in `churn.history`; whole months add up;
  the two-proportion z test.
- "mean": an average whose answer count is kept: a weighted mean, no test (no spread stored).
- "level": a state on the day (MRR, subscribers, a median): the mean of the daily values,
  no test (consecutive days are not independent samples), direction and size only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from plugin.initiatives.catalogue import DOWN, UP
from plugin.scoring.metrics_doc import TREND_METRICS

Unit = Literal["share", "points", "money", "days", "count", "score"]
Method = Literal["nps", "proportion", "monthly", "mean", "level"]
WindowKey = Literal["window", "driver_window"]


@dataclass(frozen=True)
class TargetMetric:
    """path: dotted key in the metrics document. better: the direction that is good.
    window: which trailing window of a daily snapshot its counts cover (None: a day's state).
    counts: for "proportion", the `details` entry with numerator and denominator; for
    "monthly", the `churn.history` count field of the churned; for "mean", the `details`
    entry whose single count weighs the mean."""

    path: str
    label: str
    unit: Unit
    better: str
    method: Method
    window: WindowKey | None = None
    counts: str | None = None


_METRICS = (
    TargetMetric("nps.score", "NPS", "points", UP, "nps", "window"),
    TargetMetric("churn.monthly_rate", "Monthly churn", "share", DOWN, "monthly", None, "churned"),
    TargetMetric("churn.voluntary", "Voluntary churn", "share", DOWN, "monthly", None, "voluntary"),
    TargetMetric(
        "churn.involuntary", "Involuntary churn", "share", DOWN, "monthly", None, "involuntary"
    ),
    TargetMetric(
        "billing_success_rate",
        "Billing success rate",
        "share",
        UP,
        "proportion",
        "window",
        "billing_success_rate",
    ),
    TargetMetric(
        "capture_rate",
        "Cancel-reason capture rate",
        "share",
        UP,
        "proportion",
        "window",
        "capture_rate",
    ),
    TargetMetric(
        "response_rate",
        "Survey response rate",
        "share",
        UP,
        "proportion",
        "window",
        "response_rate",
    ),
    TargetMetric(
        "value_perception",
        "Value for money (1–5)",
        "score",
        UP,
        "mean",
        "window",
        "value_perception",
    ),
    TargetMetric(
        "drivers.cadence_fit",
        "Cadence fit",
        "share",
        UP,
        "proportion",
        "driver_window",
        "cadence_fit",
    ),
    TargetMetric(
        "drivers.self_serve",
        "Self-serve rate",
        "share",
        UP,
        "proportion",
        "driver_window",
        "self_serve",
    ),
    TargetMetric("drivers.delivery_days_median", "Delivery time (days)", "days", DOWN, "level"),
    TargetMetric("mrr.amount", "MRR", "money", UP, "level"),
    TargetMetric("arpu.amount", "ARPU", "money", UP, "level"),
    TargetMetric("revenue_at_risk.amount", "Revenue at risk", "money", DOWN, "level"),
    TargetMetric("predicted_ltv.amount", "Predicted LTV", "money", UP, "level"),
    TargetMetric("subscribers.active", "Active subscribers", "count", UP, "level"),
)

TARGET_METRICS: dict[str, TargetMetric] = {m.path: m for m in _METRICS}

_unknown = set(TARGET_METRICS) - set(TREND_METRICS.values())
if _unknown:  # a renamed document key must fail loudly here, not as "not enough data" later
    raise RuntimeError(f"target metrics not in the metrics document: {sorted(_unknown)}")


@dataclass(frozen=True)
class MemberMetric:
    """A metric measured on an initiative's fixed members, treatment against holdout
    (plugin.initiatives.uplift). horizon_days: for retention, the days after the start at
    which membership is checked; the other metrics cover the initiative's window."""

    key: str
    label: str
    unit: Unit
    better: str
    horizon_days: int | None = None


_MEMBER_METRICS = (
    MemberMetric(
        "members.retention_30d", "Still subscribed 30 days after the start", "share", UP, 30
    ),
    MemberMetric(
        "members.retention_60d", "Still subscribed 60 days after the start", "share", UP, 60
    ),
    MemberMetric(
        "members.retention_90d", "Still subscribed 90 days after the start", "share", UP, 90
    ),
    MemberMetric("members.nps", "NPS of answers given after the start", "points", UP),
    MemberMetric("members.value_for_money", "Value for money (1–5) after the start", "score", UP),
    MemberMetric("members.billing_success", "Billing success after the start", "share", UP),
    MemberMetric("members.mrr", "MRR per subscriber", "money", UP),
)

MEMBER_METRICS: dict[str, MemberMetric] = {m.key: m for m in _MEMBER_METRICS}


def metric_unit(key: str) -> Unit | None:
    """The unit of a target metric of either kind (None for an unknown key)."""
    if key in TARGET_METRICS:
        return TARGET_METRICS[key].unit
    if key in MEMBER_METRICS:
        return MEMBER_METRICS[key].unit
    return None
