"""Small result types shared by several metrics: a ratio, a mean, a median.

Each keeps its counts so a reader can tell "0 %" from "nothing to divide by": the value is
None when the denominator is empty, never 0 and never NaN.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt


@dataclass(frozen=True)
class Ratio:
    """numerator / denominator with both counts kept; `value` is None when denominator is 0."""

    numerator: int
    denominator: int

    @property
    def value(self) -> float | None:
        if self.denominator <= 0:
            return None
        return self.numerator / self.denominator


@dataclass(frozen=True)
class MeanResult:
    """Mean of n observations; `mean` is None when n is 0."""

    n: int
    mean: float | None


@dataclass(frozen=True)
class MedianResult:
    """Median of n observations; `median` is None when n is 0."""

    n: int
    median: float | None


def mean_of(values: npt.ArrayLike) -> MeanResult:
    """Mean of the finite values (NaN means "not answered" and is left out)."""
    arr = np.asarray(values, dtype=np.float64)
    arr = arr[np.isfinite(arr)]
    if arr.size == 0:
        return MeanResult(n=0, mean=None)
    return MeanResult(n=int(arr.size), mean=float(arr.mean()))


def median_of(values: npt.ArrayLike) -> MedianResult:
    """Median of the finite values."""
    arr = np.asarray(values, dtype=np.float64)
    arr = arr[np.isfinite(arr)]
    if arr.size == 0:
        return MedianResult(n=0, median=None)
    return MedianResult(n=int(arr.size), median=float(np.median(arr)))
