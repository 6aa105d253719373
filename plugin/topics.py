"""The one list of webhook topics we subscribe to, and the job each one feeds.

shopify.app.toml must subscribe to exactly these (a test checks it), and workers/ must have a
handler for each (another test checks that).
"""

from __future__ import annotations

from dataclasses import dataclass

from plugin.inbox.wakeups import PROCESS_INBOX


@dataclass(frozen=True)
class Topic:
    name: str
    job: str = PROCESS_INBOX
    compliance: bool = False


_REGULAR = [
    "subscription_contracts/create",
    "subscription_contracts/update",
    "subscription_contracts/activate",
    "subscription_contracts/pause",
    "subscription_contracts/cancel",
    "subscription_contracts/expire",
    "subscription_contracts/fail",
    "subscription_billing_attempts/success",
    "subscription_billing_attempts/failure",
    "subscription_billing_attempts/challenged",
    "subscription_billing_cycles/skip",
    "subscription_billing_cycles/unskip",
    "orders/create",
    "orders/fulfilled",
    "fulfillment_events/create",
    "customers/update",
    "app/uninstalled",
    "app/scopes_update",
    "bulk_operations/finish",
    "customer_payment_methods/update",
]
_COMPLIANCE = ["customers/data_request", "customers/redact", "shop/redact"]

TOPICS: dict[str, Topic] = {
    **{name: Topic(name) for name in _REGULAR},
    **{name: Topic(name, compliance=True) for name in _COMPLIANCE},
}


def is_known(topic: str) -> bool:
    return topic in TOPICS
