"""Monthly customer churn by source and billing success rate (docs/metrics.md)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from plugin.value.codes import EndSource
from plugin.value.dates import add_months, day, month_start
from plugin.value.spans import ActivitySpans
from plugin.value.summaries import Ratio

N_SOURCES = max(EndSource) + 1


@dataclass(frozen=True)
class ChurnTable:
    """Customer churn per calendar month.

    month: first day of each month (datetime64[D]).
    active_at_start: subscribers live at the start of the month (joined before it, not
        ended before it). Paused subscribers stay in the base: pausing is not churn.
    churned: of those, subscribers whose last live contract ended during the month.
    churned_by_source: churned split by `EndSource` (columns indexed by the code); the
        columns always sum to `churned`.
    """

    month: npt.NDArray[np.datetime64]
    active_at_start: npt.NDArray[np.int64]
    churned: npt.NDArray[np.int64]
    churned_by_source: npt.NDArray[np.int64]

    @property
    def rate(self) -> npt.NDArray[np.float64]:
        """churned / active_at_start; NaN for a month with nobody active at its start."""
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(
                self.active_at_start > 0, self.churned / np.maximum(self.active_at_start, 1), np.nan
            )

    def rate_by_source(self, source: EndSource) -> npt.NDArray[np.float64]:
        """churned from one source / active_at_start."""
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(
                self.active_at_start > 0,
                self.churned_by_source[:, source] / np.maximum(self.active_at_start, 1),
                np.nan,
            )

    def month_ratio(self, i: int, source: EndSource | None = None) -> Ratio:
        """Month i as a Ratio (total, or one source)."""
        num = self.churned[i] if source is None else self.churned_by_source[i, source]
        return Ratio(numerator=int(num), denominator=int(self.active_at_start[i]))


def monthly_churn(spans: ActivitySpans, months: npt.ArrayLike) -> ChurnTable:
    """Monthly customer churn (docs/metrics.md "Churn (customer, monthly)").

    churn(m) = subscribers who went from ≥1 live contract to none during month m ÷
    subscribers live at m's start. Joiners who churn within their joining month are in
    neither count: they were not live at the month's start. Each churn is attributed to the
    source of the contract that ended last (voluntary, involuntary, merchant; expired and
    unknown are reported separately so the split sums to the total).
    """
    month_starts = np.unique(np.asarray(months, dtype="datetime64[M]").astype("datetime64[D]"))
    n = month_starts.size
    active = np.zeros(n, dtype=np.int64)
    churned = np.zeros(n, dtype=np.int64)
    by_source = np.zeros((n, N_SOURCES), dtype=np.int64)
    is_open = spans.is_open
    for i, start in enumerate(month_starts):
        # Loop over months only (tens); each step is vectorised over all spans.
        next_start = add_months(month_start(start), 1)
        base = (spans.start < start) & (is_open | (spans.end >= start))
        left = base & ~is_open & (spans.end < next_start)
        active[i] = int(base.sum())
        churned[i] = int(left.sum())
        by_source[i] = np.bincount(spans.end_source[left], minlength=N_SOURCES)[:N_SOURCES]
    return ChurnTable(
        month=month_starts, active_at_start=active, churned=churned, churned_by_source=by_source
    )


def billing_success_rate(
    attempted_on: npt.ArrayLike,
    succeeded: npt.ArrayLike,
    window_start: np.datetime64,
    window_end: np.datetime64,
) -> Ratio:
    """Billing success rate = successful attempts / all attempts in [window_start, window_end).

    docs/metrics.md. Each attempt counts once with its final outcome; a challenged (3-D Secure)
    attempt that never completed is an attempt that did not succeed.
    """
    when = np.asarray(attempted_on, dtype="datetime64[D]")
    ok = np.asarray(succeeded, dtype=bool)
    in_window = (when >= day(window_start)) & (when < day(window_end))
    return Ratio(numerator=int((ok & in_window).sum()), denominator=int(in_window.sum()))
