"""A fake Shopify Admin API in-process (`httpx.MockTransport`): tests' Shopify and the demo's."""

from plugin.shopify.fake.admin_api import (
    API_KEY,
    API_SECRET,
    BASE_URL,
    DEFAULT_SCOPE,
    SHOP,
    FakeContract,
    FakeLine,
    FakeShopify,
    line_total,
)
from plugin.shopify.fake.billing import (
    FakeAttempt,
    ScriptedOutcome,
    contract_webhook,
    local_noon,
)

__all__ = [
    "API_KEY",
    "API_SECRET",
    "BASE_URL",
    "DEFAULT_SCOPE",
    "SHOP",
    "FakeAttempt",
    "FakeContract",
    "FakeLine",
    "FakeShopify",
    "ScriptedOutcome",
    "contract_webhook",
    "line_total",
    "local_noon",
]
