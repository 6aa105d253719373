"""Activity spans, monthly customer churn by source, billing success rate (docs/metrics.md)."""

import numpy as np
import pytest

from plugin.value.churn import billing_success_rate, monthly_churn
from plugin.value.codes import EndSource as E
from plugin.value.spans import activity_spans, live_at

NAT = np.datetime64("NaT")


def d(s: str) -> np.datetime64:
    return np.datetime64(s, "D")


def test_touching_contracts_are_one_span_and_a_gap_is_a_new_one() -> None:
    spans = activity_spans(
        subscriber=[0, 0, 1, 1, 2, 2],
        started_on=[
            d("2025-01-10"),
            d("2025-03-05"),
            d("2025-01-01"),
            d("2025-01-15"),
            d("2025-01-01"),
            d("2025-03-01"),
        ],
        ended_on=[d("2025-03-05"), NAT, d("2025-02-10"), d("2025-02-20"), d("2025-01-31"), NAT],
        end_source=[E.VOLUNTARY, E.NONE, E.INVOLUNTARY, E.MERCHANT, E.VOLUNTARY, E.NONE],
    )
    assert spans.subscriber.tolist() == [0, 1, 2, 2]
    assert spans.start.tolist() == [
        d("2025-01-10"),
        d("2025-01-01"),
        d("2025-01-01"),
        d("2025-03-01"),
    ]
    assert np.isnat(spans.end[0]) and np.isnat(spans.end[3])
    # Overlapping contracts: the span ends with the last one, and takes its source.
    assert spans.end[1] == d("2025-02-20") and spans.end_source[1] == E.MERCHANT
    assert spans.end[2] == d("2025-01-31") and spans.end_source[2] == E.VOLUNTARY
    assert live_at(spans, d("2025-02-15")).tolist() == [True, True, False, False]


def test_spans_empty() -> None:
    spans = activity_spans([], [], [], [])
    assert spans.subscriber.size == 0


def _march_shop():
    # One contract per subscriber, so spans are the contracts.
    rows = [
        ("2024-12-01", "2025-03-10", E.VOLUNTARY),  # 0: churns in March, voluntary
        ("2025-01-05", "2025-03-31", E.INVOLUNTARY),  # 1: churns on March's last day
        ("2025-03-03", "2025-03-20", E.VOLUNTARY),  # 2: joins and churns in March: excluded
        ("2025-02-01", None, E.NONE),  # 3: paused now, never churned
        ("2025-01-01", "2025-04-01", E.MERCHANT),  # 4: churns in April
        ("2024-10-01", "2025-02-28", E.VOLUNTARY),  # 5: gone before March
        ("2025-02-28", "2025-03-01", E.MERCHANT),  # 6: churns on March 1st
    ]
    return activity_spans(
        subscriber=list(range(len(rows))),
        started_on=[d(r[0]) for r in rows],
        ended_on=[d(r[1]) if r[1] else NAT for r in rows],
        end_source=[r[2] for r in rows],
    )


def test_monthly_churn_hand_computed_with_same_month_join_and_churn_excluded() -> None:
    table = monthly_churn(_march_shop(), ["2025-03", "2025-04"])
    assert table.month.tolist() == [d("2025-03-01"), d("2025-04-01")]
    # March: base {0, 1, 3, 4, 6} = 5 (2 joined in March, 5 left in Feb); churned {0, 1, 6}.
    assert table.active_at_start.tolist() == [5, 2]
    assert table.churned.tolist() == [3, 1]
    assert table.rate == pytest.approx([0.6, 0.5])
    assert table.rate_by_source(E.VOLUNTARY) == pytest.approx([0.2, 0.0])
    assert table.rate_by_source(E.INVOLUNTARY) == pytest.approx([0.2, 0.0])
    assert table.rate_by_source(E.MERCHANT) == pytest.approx([0.2, 0.5])
    assert (table.churned_by_source.sum(axis=1) == table.churned).all()
    assert table.month_ratio(0).value == pytest.approx(0.6)
    assert table.month_ratio(1, E.MERCHANT).numerator == 1


def test_paused_subscriber_is_not_churn() -> None:
    spans = activity_spans([0], [d("2025-01-01")], [NAT], [E.NONE])
    table = monthly_churn(spans, ["2025-03"])
    assert table.active_at_start.tolist() == [1] and table.churned.tolist() == [0]


def test_all_churned_and_none_churned() -> None:
    all_gone = activity_spans(
        [0, 1],
        [d("2025-01-01"), d("2025-01-02")],
        [d("2025-02-03"), d("2025-02-27")],
        [E.VOLUNTARY, E.EXPIRED],
    )
    t = monthly_churn(all_gone, ["2025-02"])
    assert t.rate.tolist() == [1.0]
    assert t.churned_by_source[0, E.EXPIRED] == 1
    none_gone = activity_spans([0, 1], [d("2025-01-01")] * 2, [NAT, NAT], [E.NONE] * 2)
    assert monthly_churn(none_gone, ["2025-02"]).rate.tolist() == [0.0]


def test_no_subscribers_gives_no_rate() -> None:
    t = monthly_churn(activity_spans([], [], [], []), ["2025-02"])
    assert t.active_at_start.tolist() == [0]
    assert np.isnan(t.rate[0])
    assert t.month_ratio(0).value is None


def test_subscriber_who_returns_churned_once() -> None:
    spans = activity_spans(
        [0, 0],
        [d("2025-01-01"), d("2025-04-10")],
        [d("2025-02-15"), NAT],
        [E.VOLUNTARY, E.NONE],
    )
    t = monthly_churn(spans, ["2025-02", "2025-03", "2025-04", "2025-05"])
    assert t.churned.tolist() == [1, 0, 0, 0]
    assert t.active_at_start.tolist() == [1, 0, 0, 1]


def test_billing_success_rate_in_window() -> None:
    when = [d("2025-03-01"), d("2025-03-15"), d("2025-03-31"), d("2025-04-01"), d("2025-02-28")]
    ok = [True, False, True, True, False]
    r = billing_success_rate(when, ok, d("2025-03-01"), d("2025-04-01"))
    assert (r.numerator, r.denominator) == (2, 3)
    assert r.value == pytest.approx(2 / 3)
    empty = billing_success_rate(when, ok, d("2026-01-01"), d("2026-02-01"))
    assert empty.denominator == 0 and empty.value is None
