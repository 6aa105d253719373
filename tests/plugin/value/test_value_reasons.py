"""Cancel-reason mix, capture rate and the reason → value driver mapping (docs/metrics.md,
docs/design.md §6)."""

import pytest

from plugin.value.codes import EndSource
from plugin.value.reasons import (
    CADENCE_REASON_CODES,
    DEFAULT_REASONS,
    SYSTEM_REASONS,
    cancel_reason_mix,
    driver_of,
    end_source_for_reason,
)


def test_default_reason_drivers_match_design() -> None:
    expected = {
        "too_expensive": "price_value",
        "too_much_product": "cadence",
        "deliveries_too_often": "cadence",
        "product_quality": "product_fit",
        "product_not_liked": "product_fit",
        "shipping_problems": "delivery",
        "customer_service": "service",
        "switching_brand": "competition",
        "no_longer_needed": "life_change",
        "taking_a_break": "life_change",
        "budget": "life_change",
        "other": "other",
    }
    assert {r.code: r.driver for r in DEFAULT_REASONS} == expected
    assert [r.code for r in DEFAULT_REASONS if r.requires_comment] == ["other"]
    assert {r.code for r in SYSTEM_REASONS} == {
        "payment_failed",
        "merchant_cancelled",
        "expired",
        "unknown",
    }
    assert all(r.system and r.driver is None for r in SYSTEM_REASONS)
    assert {"too_much_product", "deliveries_too_often"} == CADENCE_REASON_CODES


def test_mix_shares_among_captured_and_capture_rate_over_all() -> None:
    codes = [
        "too_expensive",
        "too_expensive",
        "budget",
        "payment_failed",
        "",
        "unknown",
        "deliveries_too_often",
        "merchant_cancelled",
    ]
    mix = cancel_reason_mix(codes)
    assert mix.cancellations == 8
    # Customer-given: too_expensive ×2, budget, deliveries_too_often = 4 of 8.
    assert (mix.capture.numerator, mix.capture.denominator) == (4, 8)
    assert mix.capture.value == 0.5
    assert [(r.code, r.count) for r in mix.reasons] == [
        ("too_expensive", 2),
        ("budget", 1),
        ("deliveries_too_often", 1),
    ]
    assert [r.share for r in mix.reasons] == pytest.approx([0.5, 0.25, 0.25])
    assert mix.drivers == pytest.approx({"price_value": 0.5, "life_change": 0.25, "cadence": 0.25})
    assert mix.system_counts == {"payment_failed": 1, "unknown": 2, "merchant_cancelled": 1}


def test_no_cancellations() -> None:
    mix = cancel_reason_mix([])
    assert mix.cancellations == 0 and mix.capture.value is None and mix.reasons == ()


def test_only_system_reasons_capture_zero_and_empty_mix() -> None:
    mix = cancel_reason_mix(["payment_failed", "expired"])
    assert mix.capture.value == 0.0
    assert mix.reasons == () and mix.drivers == {}


def test_shop_specific_code_goes_to_other_driver() -> None:
    assert driver_of("moved_abroad") == "other"
    assert driver_of("payment_failed") is None
    assert cancel_reason_mix(["moved_abroad"]).reasons[0].driver == "other"


def test_end_source_for_reason() -> None:
    assert end_source_for_reason("too_expensive") == EndSource.VOLUNTARY
    assert end_source_for_reason("payment_failed") == EndSource.INVOLUNTARY
    assert end_source_for_reason("merchant_cancelled") == EndSource.MERCHANT
    assert end_source_for_reason("expired") == EndSource.EXPIRED
    assert end_source_for_reason("") == EndSource.UNKNOWN
