"""The demo shop's catalogue: what it sells on subscription and at which price.

A specialty coffee roaster is a typical subscription merchant: a monthly bag, a larger monthly
box, a bi-monthly plan for lighter drinkers and a fixed-length discovery plan that expires.
Prices are per delivery, in the contract currency (no FX conversion: docs/metrics.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal


@dataclass(frozen=True)
class Plan:
    key: str
    name: str
    interval: str  # Shopify billing-policy interval: day | week | month | year
    interval_count: int
    prices: dict[str, Decimal]  # recurring amount per delivery, by currency
    max_cycles: int | None = None
    share: float = 0.0  # of new subscribers choosing it

    def price(self, currency: str) -> Decimal:
        return self.prices[currency]


SHOP_CURRENCY = "USD"
# Most subscribers pay in the shop currency; a few buy from the Canadian storefront.
CURRENCY_SHARES: dict[str, float] = {"USD": 0.92, "CAD": 0.08}

PLANS: tuple[Plan, ...] = (
    Plan(
        "monthly",
        "Monthly Roast – 1 bag",
        "month",
        1,
        {"USD": Decimal("24.00"), "CAD": Decimal("32.00")},
        share=0.52,
    ),
    Plan(
        "monthly_large",
        "Monthly Roast – 2 bags",
        "month",
        1,
        {"USD": Decimal("44.00"), "CAD": Decimal("59.00")},
        share=0.20,
    ),
    Plan(
        "bimonthly",
        "Every Other Month – 2 bags",
        "month",
        2,
        {"USD": Decimal("46.00"), "CAD": Decimal("62.00")},
        share=0.19,
    ),
    Plan(
        "discovery",
        "Discovery Series – 6 deliveries",
        "month",
        1,
        {"USD": Decimal("27.00"), "CAD": Decimal("36.00")},
        max_cycles=6,
        share=0.09,
    ),
)

PLANS_BY_KEY: dict[str, Plan] = {plan.key: plan for plan in PLANS}
