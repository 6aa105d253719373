"""Cancel reasons: the default reason codes with their value drivers, the reason mix and the
capture rate (docs/metrics.md "Cancel-reason mix", §6 default reason codes).

Reasons are versioned: a code's meaning is never edited in place, so a changed meaning
gets a new code. Shops may add codes; an unknown customer code maps to the "other" driver.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from plugin.value.codes import EndSource
from plugin.value.summaries import Ratio


@dataclass(frozen=True)
class ReasonCode:
    """One cancel reason.

    code: stable identifier stored with each answer.
    driver: the value driver it points at (price_value, cadence, product_fit, delivery,
        service, competition, life_change, other); None for system reasons, which are
        not something the customer told us.
    requires_comment: the portal must ask for a comment with this code.
    system: set by the app when the customer gave no reason.
    """

    code: str
    driver: str | None
    requires_comment: bool = False
    system: bool = False


# docs/design.md §6 default reason codes, each tied to a value driver.
DEFAULT_REASONS: tuple[ReasonCode, ...] = (
    ReasonCode("too_expensive", "price_value"),
    ReasonCode("too_much_product", "cadence"),
    ReasonCode("deliveries_too_often", "cadence"),
    ReasonCode("product_quality", "product_fit"),
    ReasonCode("product_not_liked", "product_fit"),
    ReasonCode("shipping_problems", "delivery"),
    ReasonCode("customer_service", "service"),
    ReasonCode("switching_brand", "competition"),
    ReasonCode("no_longer_needed", "life_change"),
    ReasonCode("taking_a_break", "life_change"),
    ReasonCode("budget", "life_change"),
    ReasonCode("other", "other", requires_comment=True),
)

# Set by the app when a cancellation arrives without a customer answer (docs/design.md §4).
SYSTEM_REASONS: tuple[ReasonCode, ...] = (
    ReasonCode("payment_failed", None, system=True),
    ReasonCode("merchant_cancelled", None, system=True),
    ReasonCode("expired", None, system=True),
    ReasonCode("unknown", None, system=True),
)

SYSTEM_CODES: frozenset[str] = frozenset(r.code for r in SYSTEM_REASONS)
VALUE_DRIVERS: tuple[str, ...] = (
    "price_value",
    "cadence",
    "product_fit",
    "delivery",
    "service",
    "competition",
    "life_change",
    "other",
)
# The "too much / too often" answers that count against cadence fit (docs/metrics.md).
CADENCE_REASON_CODES: frozenset[str] = frozenset(
    r.code for r in DEFAULT_REASONS if r.driver == "cadence"
)

_END_SOURCE_BY_SYSTEM_CODE: dict[str, EndSource] = {
    "payment_failed": EndSource.INVOLUNTARY,
    "merchant_cancelled": EndSource.MERCHANT,
    "expired": EndSource.EXPIRED,
    "unknown": EndSource.UNKNOWN,
}


def driver_of(code: str, reasons: Sequence[ReasonCode] = DEFAULT_REASONS) -> str | None:
    """Value driver of a reason code; unknown customer codes go to "other", system to None."""
    if code in SYSTEM_CODES:
        return None
    for reason in reasons:
        if reason.code == code:
            return reason.driver
    return "other"


def end_source_for_reason(code: str) -> EndSource:
    """Churn source implied by a cancellation's reason (a customer answer means voluntary)."""
    if not code:
        return EndSource.UNKNOWN
    return _END_SOURCE_BY_SYSTEM_CODE.get(code, EndSource.VOLUNTARY)


@dataclass(frozen=True)
class ReasonShare:
    """One row of the mix: count and share among cancellations with a customer reason."""

    code: str
    driver: str | None
    count: int
    share: float


@dataclass(frozen=True)
class ReasonMix:
    """Cancel-reason mix of a window.

    cancellations: all cancellations in the window.
    capture: Ratio(cancellations with a customer-given reason, all cancellations).
    reasons: customer reasons, largest first; shares sum to 1 when any was captured.
    drivers: the same shares rolled up to value drivers.
    system_counts: cancellations with a system reason (no customer answer), by code.
    """

    cancellations: int
    capture: Ratio
    reasons: tuple[ReasonShare, ...]
    drivers: dict[str, float]
    system_counts: dict[str, int]


def cancel_reason_mix(
    reason_codes: npt.ArrayLike, reasons: Sequence[ReasonCode] = DEFAULT_REASONS
) -> ReasonMix:
    """Reason mix and capture rate over one window's cancellations (docs/metrics.md).

    `reason_codes` has one entry per cancellation: a customer code, a system code, or ""
    (treated as "unknown"). Mix share = count of a customer code / cancellations with a
    customer-given reason; capture rate = those / all cancellations.
    """
    codes = np.asarray(reason_codes, dtype=str)
    codes = np.where(codes == "", "unknown", codes)
    total = int(codes.size)
    if total == 0:
        return ReasonMix(0, Ratio(0, 0), (), {}, {})
    uniq, counts = np.unique(codes, return_counts=True)
    system_counts: dict[str, int] = {}
    customer: list[tuple[str, int]] = []
    for code, count in zip(uniq.tolist(), counts.tolist(), strict=True):
        if code in SYSTEM_CODES:
            system_counts[code] = int(count)
        else:
            customer.append((code, int(count)))
    captured = sum(c for _, c in customer)
    rows = tuple(
        ReasonShare(code, driver_of(code, reasons), count, count / captured)
        for code, count in sorted(customer, key=lambda x: (-x[1], x[0]))
    )
    drivers: dict[str, float] = {}
    for row in rows:
        key = row.driver or "other"
        drivers[key] = drivers.get(key, 0.0) + row.share
    return ReasonMix(
        cancellations=total,
        capture=Ratio(captured, total),
        reasons=rows,
        drivers=drivers,
        system_counts=system_counts,
    )
