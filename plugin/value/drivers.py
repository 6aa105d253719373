"""Value-driver dashboards beyond NPS: cadence fit, self-serve rate, delivery time
(docs/metrics.md "Cadence fit rate", "Self-serve rate", "Delivery time").
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from plugin.value.codes import ChangeSource
from plugin.value.dates import day, days_between
from plugin.value.summaries import MedianResult, Ratio, median_of

CADENCE_WINDOW_DAYS = 90


def cadence_fit_rate(
    active: npt.ArrayLike,
    signal_subscriber: npt.ArrayLike,
    signal_on: npt.ArrayLike,
    as_of: np.datetime64,
    window_days: int = CADENCE_WINDOW_DAYS,
) -> Ratio:
    """Share of active subscribers with no cadence signal in the last `window_days` days.

    docs/metrics.md: a cadence signal is a skip, a delay, a frequency change, or a "too much
    product" / "deliveries too often" answer; the caller passes only those events. The
    window is the `window_days` days ending on `as_of`, both ends included.
    """
    live = np.asarray(active, dtype=bool)
    subs = np.asarray(signal_subscriber, dtype=np.int64)
    when = np.asarray(signal_on, dtype="datetime64[D]")
    end = day(as_of)
    start = end - np.timedelta64(window_days - 1, "D")
    recent = (when >= start) & (when <= end)
    flagged = np.zeros(live.size, dtype=bool)
    flagged[subs[recent]] = True
    fit = live & ~flagged
    return Ratio(numerator=int(fit.sum()), denominator=int(live.sum()))


def self_serve_rate(change_source: npt.ArrayLike) -> Ratio:
    """Contract changes made by the subscriber / changes whose source is known (docs/metrics.md)."""
    src = np.asarray(change_source, dtype=np.int8)
    by_subscriber = int((src == ChangeSource.SUBSCRIBER).sum())
    known = by_subscriber + int((src == ChangeSource.MERCHANT).sum())
    return Ratio(numerator=by_subscriber, denominator=known)


def delivery_time(fulfilled_at: npt.ArrayLike, delivered_at: npt.ArrayLike) -> MedianResult:
    """Median days from fulfillment to the delivered event (docs/metrics.md).

    Pairs with a missing timestamp, or a delivery recorded before its fulfillment (clock or
    data error), are left out rather than counted as zero.
    """
    elapsed = days_between(np.asarray(fulfilled_at), np.asarray(delivered_at))
    elapsed = elapsed[np.isfinite(elapsed) & (elapsed >= 0)]
    return median_of(elapsed)
