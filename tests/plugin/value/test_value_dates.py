"""Calendar helpers."""

from datetime import date

import numpy as np

from plugin.value.dates import add_months, day, days_between, month_start


def test_day_accepts_dates_strings_and_datetime64() -> None:
    expected = np.datetime64("2025-03-31", "D")
    assert day(date(2025, 3, 31)) == expected
    assert day("2025-03-31") == expected
    assert day(np.datetime64("2025-03-31T23:59:00")) == expected


def test_month_arithmetic() -> None:
    assert month_start("2025-03-31") == np.datetime64("2025-03-01")
    assert add_months(np.datetime64("2025-12-01"), 1) == np.datetime64("2026-01-01")
    assert add_months("2025-03-15", -3) == np.datetime64("2024-12-01")


def test_days_between_fractional_and_nat() -> None:
    start = np.array(["2025-01-01T00:00", "2025-01-01T12:00"], dtype="datetime64[s]")
    end = np.array(["2025-01-03T12:00", "NaT"], dtype="datetime64[s]")
    out = days_between(start, end)
    assert out[0] == 2.5 and np.isnan(out[1])
