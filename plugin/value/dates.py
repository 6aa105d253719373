"""Calendar helpers on numpy datetime64 values (dates are already in the shop's timezone)."""

from __future__ import annotations

from typing import Any, cast

import numpy as np
import numpy.typing as npt


def day(value: Any) -> np.datetime64:
    """One date (date, "YYYY-MM-DD" or any datetime64) as a datetime64[D] scalar.

    Goes through an array so every input kind (and numpy's strict stubs) is handled alike.
    """
    return cast(np.datetime64, np.asarray(value, dtype="datetime64[D]")[()])


def month_start(value: Any) -> np.datetime64:
    """First day of the month containing `value`."""
    month = np.asarray(value, dtype="datetime64[D]").astype("datetime64[M]")
    return cast(np.datetime64, month.astype("datetime64[D]")[()])


def add_months(month_first_day: Any, months: int) -> np.datetime64:
    """First day of the month `months` after the month of `month_first_day`."""
    month = np.asarray(month_first_day, dtype="datetime64[D]").astype("datetime64[M]")
    return cast(np.datetime64, (month + np.timedelta64(months, "M")).astype("datetime64[D]")[()])


def days_between(start: npt.ArrayLike, end: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """Fractional days from `start` to `end` for any datetime64 unit; NaT gives NaN."""
    first = np.asarray(start).astype("datetime64[s]")
    last = np.asarray(end).astype("datetime64[s]")
    delta = last - first
    out = delta.astype(np.float64) / 86400.0
    out[np.isnat(delta)] = np.nan
    return out
