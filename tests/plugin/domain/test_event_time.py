"""Event time and payload reading: no database needed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from plugin.domain.context import event_time
from plugin.domain.errors import MalformedPayload
from plugin.domain.payloads import money, shopify_id, timestamp
from plugin.models import WebhookInbox

RECEIVED = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def inbox(triggered_at: datetime | None, payload: dict[str, Any]) -> WebhookInbox:
    return WebhookInbox(
        topic="orders/fulfilled",
        webhook_id="w",
        triggered_at=triggered_at,
        received_at=RECEIVED,
        payload=payload,
    )


def test_the_header_wins_over_payload_and_receipt() -> None:
    fired = RECEIVED - timedelta(hours=3)
    row = inbox(fired, {"updated_at": "2026-02-01T00:00:00Z"})
    assert event_time(row) == fired


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        (
            {"happened_at": "2026-02-03T10:00:00-05:00", "updated_at": "2026-02-04T00:00:00Z"},
            datetime(2026, 2, 3, 15, 0, tzinfo=UTC),
        ),
        (
            {"updated_at": "2026-02-04T00:00:00Z", "created_at": "2026-02-01T00:00:00Z"},
            datetime(2026, 2, 4, tzinfo=UTC),
        ),
        ({"created_at": "2026-02-01T00:00:00+01:00"}, datetime(2026, 1, 31, 23, tzinfo=UTC)),
        ({"id": 1}, RECEIVED),
    ],
)
def test_without_the_header_payload_times_then_receipt(
    payload: dict[str, Any], expected: datetime
) -> None:
    assert event_time(inbox(None, payload)) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (123, 123),
        ("123", 123),
        ("gid://shopify/SubscriptionContract/123", 123),
        ("gid://shopify/Order/123?from=checkout", 123),
        (None, None),
        ("", None),
    ],
)
def test_ids_in_every_shopify_spelling(value: Any, expected: int | None) -> None:
    assert shopify_id(value) == expected


@pytest.mark.parametrize("value", ["abc", True, 1.5, -4, 0, 2**63, {"id": 1}])
def test_bad_ids_are_refused(value: Any) -> None:
    with pytest.raises(MalformedPayload):
        shopify_id(value)


def test_timestamps_are_aware_utc_and_bad_ones_refused() -> None:
    assert timestamp("2026-02-01T09:30:00") == datetime(2026, 2, 1, 9, 30, tzinfo=UTC)
    with pytest.raises(MalformedPayload):
        timestamp("yesterday")
    with pytest.raises(MalformedPayload):
        timestamp(1700000000)


def test_money_is_exact_to_the_cent() -> None:
    assert money("19.999") == Decimal("20.00")
    assert money(12) == Decimal("12.00")
    assert money(None) is None
    for bad in ("NaN", "ten", [1]):
        with pytest.raises(MalformedPayload):
            money(bad)
