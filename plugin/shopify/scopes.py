"""Which Admin API access scopes each feature of the app needs: one table, one line a feature.

`shopify.app.toml` must request exactly the scopes of the features it configures (a test
checks it), and a shop's granted scopes (`Shop.scopes`, from token exchange and
`app/scopes_update`) tell which features can work for that shop. A later feature adds its line
here: e.g. subscription-contract writes (`write_own_subscription_contracts`), selling plans and
products (`write_products`), customer metafields (`write_customers`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Feature:
    """A feature and the scopes it needs.

    `config_table`: the `shopify.app.toml` table whose presence turns the feature on (None:
    always on). `topics`: the webhook topics it subscribes to, which Shopify only delivers
    when its scopes are granted.
    """

    name: str
    scopes: frozenset[str]
    description: str
    config_table: str | None = None
    topics: frozenset[str] = frozenset()


def _feature(
    name: str,
    scopes: Iterable[str],
    description: str,
    *,
    config_table: str | None = None,
    topics: Iterable[str] = (),
) -> Feature:
    return Feature(name, frozenset(scopes), description, config_table, frozenset(topics))


_CONTRACT_TOPICS = [
    f"subscription_contracts/{event}"
    for event in ("create", "update", "activate", "pause", "cancel", "expire", "fail")
]
_BILLING_TOPICS = [
    *(f"subscription_billing_attempts/{e}" for e in ("success", "failure", "challenged")),
    "subscription_billing_cycles/skip",
    "subscription_billing_cycles/unskip",
]

FEATURES: tuple[Feature, ...] = (
    _feature(
        "subscription_contracts",
        ["read_own_subscription_contracts"],
        "contracts, billing attempts and skipped cycles",
        topics=[*_CONTRACT_TOPICS, *_BILLING_TOPICS],
    ),
    _feature("customers", ["read_customers"], "subscriber profiles", topics=["customers/update"]),
    _feature("orders", ["read_orders"], "orders and their totals", topics=["orders/create"]),
    _feature(
        "fulfillments",
        ["read_orders", "read_fulfillments"],
        "fulfilment and delivery times (post-delivery surveys)",
        topics=["orders/fulfilled", "fulfillment_events/create"],
    ),
    _feature(
        "app_proxy",
        ["write_app_proxy"],
        "subscriber surveys on the storefront through the app proxy",
        config_table="app_proxy",
    ),
    _feature(
        "customer_data",
        ["write_customers"],
        "value data as app-owned customer metafields (and optional tags)",
    ),
    _feature("selling_plans", ["write_products"], "our subscription plans as selling plan groups"),
    _feature(
        "billing",
        ["write_own_subscription_contracts"],
        "billing due cycles, dunning and subscriber self-service on our contracts",
    ),
    _feature(
        "card_update_email",
        ["write_customers"],
        "subscribers with a failed payment ask Shopify for a secure card-update email",
    ),
    _feature(
        "payment_methods",
        ["read_customer_payment_methods"],
        "dunning resumes retries once a customer updates a card",
        topics=["customer_payment_methods/update"],
    ),
)


# Topics Shopify delivers whatever scopes are granted: the app's own lifecycle, its bulk
# operations and the mandatory privacy (compliance) topics.
UNSCOPED_TOPICS = frozenset(
    {
        "app/uninstalled",
        "app/scopes_update",
        "bulk_operations/finish",
        "customers/data_request",
        "customers/redact",
        "shop/redact",
    }
)


def required_scopes(features: Iterable[Feature] = FEATURES) -> frozenset[str]:
    """Every scope the given features need."""
    return frozenset(scope for feature in features for scope in feature.scopes)


def parse_scopes(granted: str | Iterable[str]) -> frozenset[str]:
    """Scopes as Shopify lists them ("read_orders,write_app_proxy"), write implying read:
    Shopify grants `read_x` with `write_x`, so a shop with only `write_x` can read too."""
    names = granted.split(",") if isinstance(granted, str) else granted
    scopes = {name.strip() for name in names if name.strip()}
    implied = {f"read_{name[len('write_') :]}" for name in scopes if name.startswith("write_")}
    return frozenset(scopes | implied)


def available_features(granted: str | Iterable[str]) -> tuple[Feature, ...]:
    """The features a shop's granted scopes allow, in table order."""
    held = parse_scopes(granted)
    return tuple(feature for feature in FEATURES if feature.scopes <= held)


def missing_scopes(feature: Feature, granted: str | Iterable[str]) -> frozenset[str]:
    """What a shop must still grant for the feature to work."""
    return feature.scopes - parse_scopes(granted)
