"""What the engine reads: column arrays per table, and the shop's settings.

Workers fill these from set-based SQL (one array per column, not one object per row) and
pass them to `engine.score_shop`. Rows refer to each other by position: contract.subscriber
is a row index into `SubscriberColumns`, an attempt's `contract` a row index into
`ContractColumns`. Dates are datetime64[D] in the shop's timezone; NaT means "none".
Every column is coerced to its dtype on construction, so lists work in tests.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt

from plugin.value.codes import ContractStatus
from plugin.value.reasons import DEFAULT_REASONS, ReasonCode
from plugin.value.score import ScoreWeights, SegmentThresholds
from plugin.value.value import PlanValueModel

Array = npt.NDArray[Any]


class _Columns:
    """Coerce every field to its declared dtype and check all columns have one length."""

    _dtypes: ClassVar[dict[str, str]] = {}

    def __post_init__(self) -> None:
        length = None
        for f in fields(self):  # type: ignore[arg-type]
            dtype = self._dtypes.get(f.name)
            if dtype is None:
                continue
            raw = getattr(self, f.name)
            arr = np.asarray(raw, dtype=dtype) if dtype != "str" else np.asarray(raw, dtype=str)
            if arr.ndim != 1:
                raise ValueError(f"{type(self).__name__}.{f.name} must be one-dimensional")
            object.__setattr__(self, f.name, arr)
            if length is None:
                length = arr.size
            elif arr.size != length:
                raise ValueError(f"{type(self).__name__}: columns have different lengths")

    def __len__(self) -> int:
        first = fields(self)[0]  # type: ignore[arg-type]
        return int(np.asarray(getattr(self, first.name)).size)

    @classmethod
    def empty(cls) -> Any:
        """A table with no rows."""
        return cls(**{name: [] for name in cls._dtypes})


@dataclass(frozen=True)
class SubscriberColumns(_Columns):
    """One row per subscriber (customer with at least one contract, ever).

    customer_id: Shopify customer id; passed through to the results untouched.
    """

    customer_id: Array
    _dtypes: ClassVar[dict[str, str]] = {"customer_id": "int64"}


@dataclass(frozen=True)
class ContractColumns(_Columns):
    """One row per subscription contract.

    subscriber: row index of the owning subscriber.
    status: `ContractStatus` code, current.
    currency: ISO currency code of the contract.
    amount: recurring line amount per billing cycle, excluding tax, shipping and one-off
        discounts (docs/metrics.md MRR).
    interval / interval_count: billing policy (`BillingInterval` code, count ≥ 1).
    started_on: first day the contract was live.
    ended_on: day it was cancelled, expired or failed (event time); NaT while active or
        paused. Required for every ended status.
    end_source: `EndSource` of the end (NONE while not ended).
    plan: index into `ShopInputs.plans` (the plan's customer value model), −1 when none.
    """

    subscriber: Array
    status: Array
    currency: Array
    amount: Array
    interval: Array
    interval_count: Array
    started_on: Array
    ended_on: Array
    end_source: Array
    plan: Array
    _dtypes: ClassVar[dict[str, str]] = {
        "subscriber": "int64",
        "status": "int8",
        "currency": "str",
        "amount": "float64",
        "interval": "int8",
        "interval_count": "int32",
        "started_on": "datetime64[D]",
        "ended_on": "datetime64[D]",
        "end_source": "int8",
        "plan": "int64",
    }


@dataclass(frozen=True)
class BillingAttemptColumns(_Columns):
    """One row per billing attempt, with its final outcome.

    contract: row index of the contract. attempted_on: event date. succeeded: the attempt
    produced an order (a renewal); failed and unresolved challenged attempts are False.
    """

    contract: Array
    attempted_on: Array
    succeeded: Array
    _dtypes: ClassVar[dict[str, str]] = {
        "contract": "int64",
        "attempted_on": "datetime64[D]",
        "succeeded": "bool",
    }


@dataclass(frozen=True)
class AnswerColumns(_Columns):
    """One row per answered NPS survey (skipped or dismissed surveys are not rows).

    score: 0–10. value_for_money: 1–5, NaN when the optional question was skipped.
    """

    subscriber: Array
    answered_on: Array
    score: Array
    value_for_money: Array
    _dtypes: ClassVar[dict[str, str]] = {
        "subscriber": "int64",
        "answered_on": "datetime64[D]",
        "score": "float64",
        "value_for_money": "float64",
    }


@dataclass(frozen=True)
class InvitationColumns(_Columns):
    """One row per NPS invitation sent; answered says whether it got an answer."""

    subscriber: Array
    invited_on: Array
    answered: Array
    _dtypes: ClassVar[dict[str, str]] = {
        "subscriber": "int64",
        "invited_on": "datetime64[D]",
        "answered": "bool",
    }


@dataclass(frozen=True)
class CancellationColumns(_Columns):
    """One row per contract cancellation, with its reason code (customer or system; ""
    when nothing was recorded, read as "unknown")."""

    contract: Array
    cancelled_on: Array
    reason: Array
    _dtypes: ClassVar[dict[str, str]] = {
        "contract": "int64",
        "cancelled_on": "datetime64[D]",
        "reason": "str",
    }


@dataclass(frozen=True)
class EventColumns(_Columns):
    """Behaviour events: `EventKind` code and, for contract changes, who made them
    (`ChangeSource`). `occurred_on` is the day the event is known from: cancel attempts and
    cadence reasons (survey answers of subscribers who stayed) are only settled some days
    after the answer, and the loaders date them then, so features as of a past day never
    see them early."""

    subscriber: Array
    occurred_on: Array
    kind: Array
    source: Array
    _dtypes: ClassVar[dict[str, str]] = {
        "subscriber": "int64",
        "occurred_on": "datetime64[D]",
        "kind": "int8",
        "source": "int8",
    }


@dataclass(frozen=True)
class DeliveryColumns(_Columns):
    """One row per fulfillment: when it was fulfilled and when delivered (NaT if not yet)."""

    fulfilled_at: Array
    delivered_at: Array
    _dtypes: ClassVar[dict[str, str]] = {
        "fulfilled_at": "datetime64[s]",
        "delivered_at": "datetime64[s]",
    }


@dataclass(frozen=True)
class ShopInputs:
    """Everything the engine needs about one shop. Missing tables default to empty."""

    subscribers: SubscriberColumns
    contracts: ContractColumns
    billing_attempts: BillingAttemptColumns = field(default_factory=BillingAttemptColumns.empty)
    answers: AnswerColumns = field(default_factory=AnswerColumns.empty)
    invitations: InvitationColumns = field(default_factory=InvitationColumns.empty)
    cancellations: CancellationColumns = field(default_factory=CancellationColumns.empty)
    events: EventColumns = field(default_factory=EventColumns.empty)
    deliveries: DeliveryColumns = field(default_factory=DeliveryColumns.empty)
    plans: tuple[PlanValueModel, ...] = ()

    def __post_init__(self) -> None:
        n_subs = len(self.subscribers)
        n_contracts = len(self.contracts)

        def check_index(values: Array, bound: int, what: str) -> None:
            if values.size and (values.min() < 0 or values.max() >= bound):
                raise ValueError(f"{what} refers to a row that does not exist")

        c = self.contracts
        check_index(c.subscriber, n_subs, "contracts.subscriber")
        check_index(self.billing_attempts.contract, n_contracts, "billing_attempts.contract")
        check_index(self.cancellations.contract, n_contracts, "cancellations.contract")
        check_index(self.answers.subscriber, n_subs, "answers.subscriber")
        check_index(self.invitations.subscriber, n_subs, "invitations.subscriber")
        check_index(self.events.subscriber, n_subs, "events.subscriber")
        if c.plan.size and c.plan.max() >= len(self.plans):
            raise ValueError("contracts.plan refers to a plan that does not exist")
        if np.any(np.isnat(c.started_on)):
            raise ValueError("every contract needs started_on")
        ended = ~np.isin(c.status, [ContractStatus.ACTIVE, ContractStatus.PAUSED])
        if np.any(ended & np.isnat(c.ended_on)):
            raise ValueError("contracts with an ended status need ended_on")


@dataclass(frozen=True)
class EngineSettings:
    """Shop settings and engine knobs; the defaults follow docs/metrics.md.

    margin: share of the recurring amount that is margin (default 100 %).
    annual_discount_rate: converted per billing period for DEL/DERL (default 10 %).
    metrics_window_days: trailing window for billing success, NPS, response rate, value
        perception and cancel reasons; the NPS change compares it with the window before.
    driver_window_days: trailing window for cadence fit, self-serve rate, delivery time.
    churn_months: complete calendar months of churn history reported.
    risk_label_window_days: horizon of the churn labels for the logistic model.
    risk_train_windows: earlier label windows stacked for training.
    """

    margin: float = 1.0
    annual_discount_rate: float = 0.10
    metrics_window_days: int = 30
    driver_window_days: int = 90
    churn_months: int = 12
    nps_min_answers: int = 30
    feature_window_days: int = 90
    risk_label_window_days: int = 30
    risk_train_windows: int = 3
    min_churn_examples: int = 200
    min_holdout_auc: float = 0.55
    retention_shift_ages: tuple[int, ...] = (1, 3, 6, 12)
    max_cohort_age: int | None = None
    weights: ScoreWeights = field(default_factory=ScoreWeights)
    thresholds: SegmentThresholds = field(default_factory=SegmentThresholds)
    reasons: tuple[ReasonCode, ...] = DEFAULT_REASONS
