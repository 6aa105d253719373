"""Shopify-shaped webhook bodies for the demo (field names as in docs/design.md §4).

Only what Shopify really sends goes in: contract bodies carry no lines, prices or next billing
date (those come from GraphQL or a backfill), and a cancel carries no reason.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any


def gid(kind: str, id_: int) -> str:
    return f"gid://shopify/{kind}/{id_}"


def iso(at: datetime) -> str:
    return at.isoformat(timespec="seconds")


def contract(
    *,
    contract_id: int,
    customer_id: int,
    status: str,
    currency: str,
    interval: str,
    interval_count: int,
    max_cycles: int | None,
    origin_order_id: int,
    revision_id: int,
) -> dict[str, Any]:
    return {
        "admin_graphql_api_id": gid("SubscriptionContract", contract_id),
        "id": contract_id,
        "billing_policy": {
            "interval": interval,
            "interval_count": interval_count,
            "min_cycles": None,
            "max_cycles": max_cycles,
        },
        "currency_code": currency,
        "customer_id": customer_id,
        "admin_graphql_api_customer_id": gid("Customer", customer_id),
        "delivery_policy": {"interval": interval, "interval_count": interval_count},
        "status": status,
        "admin_graphql_api_origin_order_id": gid("Order", origin_order_id),
        "origin_order_id": origin_order_id,
        "revision_id": str(revision_id),
    }


def billing_attempt(
    *,
    attempt_id: int,
    contract_id: int,
    order_id: int | None,
    idempotency_key: str,
    error_code: str | None = None,
    error_message: str | None = None,
    ready: bool = True,
) -> dict[str, Any]:
    return {
        "id": attempt_id,
        "admin_graphql_api_id": gid("SubscriptionBillingAttempt", attempt_id),
        "idempotency_key": idempotency_key,
        "order_id": order_id,
        "admin_graphql_api_order_id": gid("Order", order_id) if order_id else None,
        "subscription_contract_id": contract_id,
        "admin_graphql_api_subscription_contract_id": gid("SubscriptionContract", contract_id),
        "ready": ready,
        "error_code": error_code,
        "error_message": error_message,
    }


def billing_attempt_webhook(
    outcome: str,
    *,
    attempt_id: int,
    contract_id: int,
    idempotency_key: str,
    order_id: int | None,
    error_code: str | None,
) -> tuple[str, dict[str, Any]]:
    """The `subscription_billing_attempts/{outcome}` webhook (success, failure or challenged)
    of an attempt: a challenge comes before the bank answered (not ready, no order), a failure
    carries its error code and message, a success its order."""
    code = error_code if outcome == "failure" else None
    body = billing_attempt(
        attempt_id=attempt_id,
        contract_id=contract_id,
        order_id=order_id if outcome == "success" else None,
        idempotency_key=idempotency_key,
        error_code=code,
        error_message=code.replace("_", " ").capitalize() if code else None,
        ready=outcome != "challenged",
    )
    return f"subscription_billing_attempts/{outcome}", body


def billing_cycle_skip(
    *, contract_id: int, cycle_index: int, cycle_start: datetime, cycle_end: datetime
) -> dict[str, Any]:
    return {
        "subscription_contract_id": contract_id,
        "admin_graphql_api_subscription_contract_id": gid("SubscriptionContract", contract_id),
        "cycle_index": cycle_index,
        "cycle_start_at": iso(cycle_start),
        "cycle_end_at": iso(cycle_end),
        "billing_attempt_expected_date": iso(cycle_end),
        "skipped": True,
        "edited": False,
        "contract_edit": None,
    }


def customer(
    *, customer_id: int, email: str, first_name: str, last_name: str, locale: str, at: datetime
) -> dict[str, Any]:
    return {
        "id": customer_id,
        "admin_graphql_api_id": gid("Customer", customer_id),
        "email": email,
        "first_name": first_name,
        "last_name": last_name,
        "locale": locale,
        "state": "enabled",
        "created_at": iso(at),
        "updated_at": iso(at),
    }


def order(
    *,
    order_id: int,
    customer: dict[str, Any],
    created_at: datetime,
    currency: str,
    amount: Decimal,
    shipping: Decimal,
    title: str,
    recurring: bool,
    fulfilled_at: datetime | None = None,
    fulfillment_id: int | None = None,
) -> dict[str, Any]:
    total = amount + shipping
    body: dict[str, Any] = {
        "id": order_id,
        "admin_graphql_api_id": gid("Order", order_id),
        "name": f"#{order_id % 100_000}",
        "created_at": iso(created_at),
        "updated_at": iso(fulfilled_at or created_at),
        "processed_at": iso(created_at),
        "currency": currency,
        "presentment_currency": currency,
        "subtotal_price": f"{amount:.2f}",
        "total_shipping_price_set": {"shop_money": {"amount": f"{shipping:.2f}"}},
        "total_tax": "0.00",
        "total_price": f"{total:.2f}",
        "financial_status": "paid",
        "fulfillment_status": "fulfilled" if fulfilled_at else None,
        # Shopify marks orders placed by a subscription contract's billing attempt this way.
        "source_name": "subscription_contract" if recurring else "web",
        "email": customer["email"],
        "customer": customer,
        "line_items": [
            {
                "id": order_id * 10 + 1,
                "title": title,
                "quantity": 1,
                "price": f"{amount:.2f}",
                "requires_shipping": True,
            }
        ],
        "fulfillments": [],
    }
    if fulfilled_at is not None and fulfillment_id is not None:
        body["fulfillments"] = [
            {
                "id": fulfillment_id,
                "admin_graphql_api_id": gid("Fulfillment", fulfillment_id),
                "order_id": order_id,
                "status": "success",
                "shipment_status": None,
                "created_at": iso(fulfilled_at),
                "updated_at": iso(fulfilled_at),
            }
        ]
    return body


def fulfillment_event(
    *,
    event_id: int,
    fulfillment_id: int,
    order_id: int,
    status: str,
    happened_at: datetime,
    estimated_delivery_at: datetime | None,
) -> dict[str, Any]:
    return {
        "id": event_id,
        "fulfillment_id": fulfillment_id,
        "order_id": order_id,
        "status": status,
        "message": None,
        "happened_at": iso(happened_at),
        "estimated_delivery_at": iso(estimated_delivery_at) if estimated_delivery_at else None,
        "created_at": iso(happened_at),
        "updated_at": iso(happened_at),
    }
