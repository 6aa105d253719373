"""Cadence fit rate, self-serve rate, delivery time (docs/metrics.md)."""

import numpy as np
import pytest

from plugin.value.codes import ChangeSource
from plugin.value.drivers import cadence_fit_rate, delivery_time, self_serve_rate


def d(s: str) -> np.datetime64:
    return np.datetime64(s, "D")


def test_cadence_fit_counts_active_subscribers_without_signal_in_90_days() -> None:
    as_of = d("2025-06-30")
    active = np.array([True, True, True, True, False])
    # 0: skip 10 days ago (misfit); 1: delay exactly 90 days ago counting today (2025-04-02,
    # inside); 2: change 91 days ago (outside); 3: nothing; 4: inactive with a skip.
    subs = [0, 1, 2, 4]
    when = [d("2025-06-20"), d("2025-04-02"), d("2025-04-01"), d("2025-06-01")]
    r = cadence_fit_rate(active, subs, when, as_of)
    assert (r.numerator, r.denominator) == (2, 4)
    assert r.value == 0.5


def test_cadence_fit_with_no_active_subscribers_is_undefined() -> None:
    assert cadence_fit_rate(np.zeros(2, bool), [], [], d("2025-06-30")).value is None


def test_self_serve_rate_over_changes_with_known_source() -> None:
    src = [
        ChangeSource.SUBSCRIBER,
        ChangeSource.SUBSCRIBER,
        ChangeSource.MERCHANT,
        ChangeSource.UNKNOWN,
    ]
    r = self_serve_rate(src)
    assert (r.numerator, r.denominator) == (2, 3)
    assert self_serve_rate([ChangeSource.UNKNOWN]).value is None


def test_delivery_time_median_days_ignores_missing_and_impossible() -> None:
    fulfilled = np.array(
        [
            "2025-06-01T10:00",
            "2025-06-02T00:00",
            "2025-06-03T00:00",
            "2025-06-04T00:00",
            "2025-06-05T00:00",
        ],
        dtype="datetime64[s]",
    )
    delivered = np.array(
        ["2025-06-03T10:00", "2025-06-05T12:00", "NaT", "2025-06-03T00:00", "2025-06-06T00:00"],
        dtype="datetime64[s]",
    )
    r = delivery_time(fulfilled, delivered)
    # Valid: 2.0, 3.5, 1.0 days → median 2.0 (NaT and the delivery before fulfillment dropped).
    assert r.n == 3 and r.median == pytest.approx(2.0)
    assert delivery_time(fulfilled[:0], delivered[:0]).median is None
