"""Money helpers: billing intervals in days and per-currency sums (never mixing currencies).

docs/metrics.md: money is in the contract currency; there is no FX conversion anywhere in the
engine, so every money total is a dict currency → amount.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from plugin.value.codes import BillingInterval

# docs/metrics.md MRR: weeks = 7 days, months = 30.4375 (365.25 / 12), years = 365.25.
DAYS_PER_MONTH = 30.4375
INTERVAL_DAYS: dict[int, float] = {
    BillingInterval.DAY: 1.0,
    BillingInterval.WEEK: 7.0,
    BillingInterval.MONTH: DAYS_PER_MONTH,
    BillingInterval.YEAR: 365.25,
}

PerCurrency = dict[str, float]


def billing_period_days(
    interval: npt.ArrayLike, interval_count: npt.ArrayLike
) -> npt.NDArray[np.float64]:
    """Length of one billing period in days = interval_count × days(interval)."""
    interval = np.asarray(interval, dtype=np.int64)
    lookup = np.full(max(INTERVAL_DAYS) + 1, np.nan)
    for code, length in INTERVAL_DAYS.items():
        lookup[code] = length
    if interval.size and (interval.min() < 0 or interval.max() >= lookup.size):
        raise ValueError("unknown billing interval code")
    count = np.asarray(interval_count, dtype=np.float64)
    if np.any(count <= 0):
        raise ValueError("interval_count must be positive")
    return lookup[interval] * count


def monthly_factor(
    interval: npt.ArrayLike, interval_count: npt.ArrayLike
) -> npt.NDArray[np.float64]:
    """Multiplier turning one billing-period amount into a monthly amount: 30.4375 / period days."""
    return DAYS_PER_MONTH / billing_period_days(interval, interval_count)


def sum_by_currency(
    amounts: npt.ArrayLike, currencies: npt.ArrayLike, mask: npt.ArrayLike | None = None
) -> PerCurrency:
    """Sum of `amounts` per currency code over rows where `mask` is true.

    Currencies that appear in the masked rows are present even when their sum is 0.
    """
    values = np.asarray(amounts, dtype=np.float64)
    codes_per_row = np.asarray(currencies)
    if mask is not None:
        keep = np.asarray(mask, dtype=bool)
        values = values[keep]
        codes_per_row = codes_per_row[keep]
    if values.size == 0:
        return {}
    codes, inverse = np.unique(codes_per_row, return_inverse=True)
    totals = np.bincount(inverse.ravel(), weights=values, minlength=codes.size)
    return {str(c): float(t) for c, t in zip(codes, totals, strict=True)}


def count_by_currency(
    currencies: npt.ArrayLike, mask: npt.ArrayLike | None = None
) -> dict[str, int]:
    """Number of rows per currency where `mask` is true."""
    codes_per_row = np.asarray(currencies)
    if mask is not None:
        codes_per_row = codes_per_row[np.asarray(mask, dtype=bool)]
    if codes_per_row.size == 0:
        return {}
    codes, counts = np.unique(codes_per_row, return_counts=True)
    return {str(c): int(n) for c, n in zip(codes, counts, strict=True)}
