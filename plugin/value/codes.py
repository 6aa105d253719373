"""Small integer codes used in the engine's column arrays.

Workers translate Shopify strings into these codes once, so the engine compares int8
arrays instead of strings (strings in 1M-row arrays are slow and easy to misspell).
"""

from __future__ import annotations

from enum import IntEnum


class ContractStatus(IntEnum):
    """Contract status (Shopify's lowercase statuses; docs/design.md §4)."""

    ACTIVE = 0
    PAUSED = 1
    CANCELLED = 2
    EXPIRED = 3
    FAILED = 4
    STALE = 5


class BillingInterval(IntEnum):
    """Billing policy interval unit; the day length of each is in `money.INTERVAL_DAYS`."""

    DAY = 0
    WEEK = 1
    MONTH = 2
    YEAR = 3


class EndSource(IntEnum):
    """Who ended a contract (docs/metrics.md churn split).

    VOLUNTARY is the customer, INVOLUNTARY a billing failure, MERCHANT the merchant.
    EXPIRED (max cycles reached) and UNKNOWN are kept apart so the split always sums to
    the total instead of silently folding them into one of the three named sources.
    """

    NONE = 0
    VOLUNTARY = 1
    INVOLUNTARY = 2
    MERCHANT = 3
    EXPIRED = 4
    UNKNOWN = 5


class ChangeSource(IntEnum):
    """Who made a contract change (self-serve rate, docs/metrics.md)."""

    UNKNOWN = 0
    SUBSCRIBER = 1
    MERCHANT = 2


class EventKind(IntEnum):
    """Behaviour events the engine reads (cadence fit, self-serve rate, churn risk).

    CADENCE_REASON is a "too much product" / "deliveries too often" answer recorded on a
    contract that stays active (e.g. on a skip or pause form).
    """

    SKIP = 0
    DELAY = 1
    FREQUENCY_CHANGE = 2
    PAUSE = 3
    CANCEL_ATTEMPT = 4
    CADENCE_REASON = 5
    OTHER_CHANGE = 6


# Events that say the delivery rhythm does not fit the subscriber (cadence fit rate).
CADENCE_EVENT_KINDS: tuple[EventKind, ...] = (
    EventKind.SKIP,
    EventKind.DELAY,
    EventKind.FREQUENCY_CHANGE,
    EventKind.CADENCE_REASON,
)

# Events that are contract changes someone made (self-serve rate); a cancel attempt that
# did not cancel is not a change, and a cadence reason is an answer, not a change.
CONTRACT_CHANGE_KINDS: tuple[EventKind, ...] = (
    EventKind.SKIP,
    EventKind.DELAY,
    EventKind.FREQUENCY_CHANGE,
    EventKind.PAUSE,
    EventKind.OTHER_CHANGE,
)


class Segment(IntEnum):
    """Value × risk segments (thresholds in `score.segment`)."""

    UNSCORED = 0
    CHAMPIONS = 1
    LOYAL = 2
    AT_RISK_HIGH_VALUE = 3
    NEEDS_ATTENTION = 4
    LOW_VALUE = 5
    CHURNED = 6


SEGMENT_NAMES: dict[int, str] = {
    Segment.UNSCORED: "unscored",
    Segment.CHAMPIONS: "champions",
    Segment.LOYAL: "loyal",
    Segment.AT_RISK_HIGH_VALUE: "at_risk_high_value",
    Segment.NEEDS_ATTENTION: "needs_attention",
    Segment.LOW_VALUE: "low_value",
    Segment.CHURNED: "churned",
}


class RiskMethod(IntEnum):
    """How a churn risk was computed; stored next to every risk so none is a silent default."""

    NONE = 0  # not scored (subscriber not live)
    FIXED_MULTIPLIERS = 1
    LOGISTIC = 2


RISK_METHOD_NAMES: dict[int, str] = {
    RiskMethod.NONE: "none",
    RiskMethod.FIXED_MULTIPLIERS: "fixed_multipliers",
    RiskMethod.LOGISTIC: "logistic",
}
