"""Activity spans: the stretches of time during which a subscriber had at least one live contract.

Churn (docs/metrics.md) is a subscriber going from ≥1 active contract to none, so contracts
are first merged per subscriber: overlapping or touching contracts form one span, and a
span's end is when the last of its contracts ended. A subscriber who left and came back
later has two spans (and churned once).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from plugin.value.codes import EndSource
from plugin.value.dates import day

# Open spans get an end far beyond any real date so max/compare work without NaT checks.
_OPEN = np.int64(10**7)


@dataclass(frozen=True)
class ActivitySpans:
    """One row per span, sorted by (subscriber, start).

    subscriber: row index of the subscriber.
    start: first day of the span (datetime64[D]).
    end: day the last contract of the span ended (datetime64[D]); NaT while still live.
    end_source: `EndSource` of the contract that ended last; NONE while still live.
    """

    subscriber: npt.NDArray[np.int64]
    start: npt.NDArray[np.datetime64]
    end: npt.NDArray[np.datetime64]
    end_source: npt.NDArray[np.int8]

    @property
    def is_open(self) -> npt.NDArray[np.bool_]:
        return np.isnat(self.end)


def activity_spans(
    subscriber: npt.ArrayLike,
    started_on: npt.ArrayLike,
    ended_on: npt.ArrayLike,
    end_source: npt.ArrayLike,
) -> ActivitySpans:
    """Merge contracts into per-subscriber activity spans (vectorised: two sorts, no loops).

    A contract starting on the day another ends continues the span (a plan swap is not
    churn); a contract starting a day or more after the previous span ended opens a new one.
    """
    subs = np.asarray(subscriber, dtype=np.int64)
    start = np.asarray(started_on, dtype="datetime64[D]").astype(np.int64)
    end_d = np.asarray(ended_on, dtype="datetime64[D]")
    source = np.asarray(end_source, dtype=np.int8)
    if subs.size == 0:
        empty = np.array([], dtype="datetime64[D]")
        return ActivitySpans(np.array([], np.int64), empty, empty.copy(), np.array([], np.int8))
    if np.any(start == np.iinfo(np.int64).min):
        raise ValueError("every contract needs started_on")
    is_open = np.isnat(end_d)
    end = np.where(is_open, _OPEN, end_d.astype(np.int64))
    end = np.maximum(end, start)  # a contract cannot end before it started

    order = np.lexsort((start, subs))
    subs, start, end, source = subs[order], start[order], end[order], source[order]

    base = int(min(start.min(), 0))
    width = int(_OPEN) - base + 1
    # Running max of end within each subscriber: offset each subscriber's ends into its own
    # band so one global maximum.accumulate never carries across subscribers.
    banded = subs * width + (end - base)
    running_end = np.maximum.accumulate(banded) - subs * width + base

    new_span = np.ones(subs.size, dtype=bool)
    new_span[1:] = (subs[1:] != subs[:-1]) | (start[1:] > running_end[:-1])
    span_id = np.cumsum(new_span) - 1
    first = np.flatnonzero(new_span)

    span_end = np.maximum.reduceat(end, first)
    # Source of the contract that ended last in each span.
    order_end = np.lexsort((end, span_id))
    last_in_span = np.r_[span_id[order_end][1:] != span_id[order_end][:-1], True]
    span_source = np.empty(first.size, dtype=np.int8)
    span_source[span_id[order_end][last_in_span]] = source[order_end][last_in_span]

    open_span = span_end >= _OPEN
    span_source[open_span] = EndSource.NONE
    end_out = span_end.astype("datetime64[D]")
    end_out[open_span] = np.datetime64("NaT")
    return ActivitySpans(
        subscriber=subs[first],
        start=start[first].astype("datetime64[D]"),
        end=end_out,
        end_source=span_source,
    )


def live_at(spans: ActivitySpans, instant: np.datetime64) -> npt.NDArray[np.bool_]:
    """Spans live at the start of day `instant`: started before it, not ended before it.

    A span ending on `instant` is live at its start (the subscriber churns during that day).
    """
    instant = day(instant)
    return (spans.start < instant) & (spans.is_open | (spans.end >= instant))
