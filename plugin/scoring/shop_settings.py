"""A shop's value settings: a typed reader over `Shop.settings["value"]`, documented defaults.

    {"value": {"margin": 0.62, "annual_discount_rate": 0.1,
               "plans": [{"plan": "Monthly Roast – 1 bag", "currency": "USD", "price": 24,
                          "one_time_price": 28, "shipping_included": 4.95, "perks": 0,
                          "time_saved": 2}]}}

margin: share of the recurring amount that is margin (docs/metrics.md, default 100 %).
annual_discount_rate: for DEL/DERL, converted per billing period (default 10 %).
plans: the merchant's customer value model per plan (benefits in money, per cycle); `plan`
    matches the contract's selling-plan name. Plans without a model have no customer value
    (reported as missing, never as zero).

`parse_value_settings` is strict (an admin edit is refused with the setting named);
`value_settings` is what recompute uses: a value that does not parse falls back to its
default with a warning, so one bad setting never stops a shop from being scored.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from plugin.models import Shop
from plugin.settings_section import SettingsSection, ShopSettingsError
from plugin.value import PlanValueModel

SETTINGS_KEY = "value"
_PLAN_MONEY = ("price", "one_time_price", "shipping_included", "perks", "time_saved")
_PLAN_OPTIONAL = frozenset({"shipping_included", "perks", "time_saved"})
_MAX_PLANS = 200


class ValueSettingsError(ShopSettingsError):
    """A value setting has the wrong type or is out of range; names the setting."""

    section = SETTINGS_KEY


@dataclass(frozen=True)
class ValueSettings:
    margin: float = 1.0
    annual_discount_rate: float = 0.10
    plans: tuple[PlanValueModel, ...] = field(default_factory=tuple)

    def plan_index(self) -> dict[str, int]:
        """Plan name → index into `plans` (what the engine's contract column holds)."""
        return {plan.plan_id: i for i, plan in enumerate(self.plans)}


DEFAULTS = ValueSettings()


def _share(name: str, value: Any, *, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueSettingsError(name, "must be a number")
    if not low <= float(value) <= high:
        raise ValueSettingsError(name, f"must be between {low:g} and {high:g}")
    return float(value)


def _plan(i: int, raw: Any) -> PlanValueModel:
    where = f"plans[{i}]"
    if not isinstance(raw, Mapping):
        raise ValueSettingsError(where, "must be an object")
    name = raw.get("plan")
    if not isinstance(name, str) or not name.strip() or len(name) > 255:
        raise ValueSettingsError(f"{where}.plan", "must be the plan's name (1–255 characters)")
    currency = raw.get("currency")
    if not isinstance(currency, str) or len(currency) != 3 or not currency.isalpha():
        raise ValueSettingsError(f"{where}.currency", "must be a 3-letter currency code")
    money: dict[str, float] = {}
    for key in _PLAN_MONEY:
        if key not in raw and key in _PLAN_OPTIONAL:
            continue
        money[key] = _share(f"{where}.{key}", raw.get(key), low=0.0, high=1e9)
    unknown = sorted(set(raw) - {"plan", "currency", *_PLAN_MONEY})
    if unknown:
        raise ValueSettingsError(f"{where}.{unknown[0]}", "is not a plan setting")
    return PlanValueModel(plan_id=name.strip(), currency=currency.upper(), **money)


def _plans(value: Any) -> tuple[PlanValueModel, ...]:
    if not isinstance(value, list):
        raise ValueSettingsError("plans", "must be a list")
    if len(value) > _MAX_PLANS:
        raise ValueSettingsError("plans", f"at most {_MAX_PLANS} plans")
    plans = tuple(_plan(i, raw) for i, raw in enumerate(value))
    names = [p.plan_id for p in plans]
    if len(set(names)) != len(names):
        raise ValueSettingsError("plans", "each plan may appear once")
    return plans


def _parse_one(name: str, value: Any) -> Any:
    if name in ("margin", "annual_discount_rate"):
        return _share(name, value, low=0.0, high=1.0)
    return _plans(value)


SECTION = SettingsSection(
    key=SETTINGS_KEY,
    noun="value setting",
    parse_one=_parse_one,
    build=ValueSettings,
    error=ValueSettingsError,
)


def parse_value_settings(raw: Mapping[str, Any] | None) -> ValueSettings:
    """Strict: every given value must be valid and known, else ValueSettingsError."""
    return SECTION.parse(raw)


def value_settings(shop: Shop) -> ValueSettings:
    """Lenient: a bad value falls back to its default (logged), the rest still applies."""
    return SECTION.read(shop.settings, shop.id)
