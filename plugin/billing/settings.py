"""A shop's billing settings: a typed reader over `Shop.settings["billing"]`.

    {"billing": {"retry_days": [1, 3, 7], "final_action": "pause", "billing_hour": 6}}

retry_days: a failed cycle is tried again this many days after its billing day, once per
    entry, in order (default 1, 3 and 7 days: three retries within a week, the spread most
    subscription apps default to, giving a payday or a card update time to land).
final_action: what happens to the contract when the last retry fails: "pause" (default:
    the subscriber can resume with a new card) or "cancel".
billing_hour: the shop's local hour at which the daily billing run starts (default 6, so
    that the morning's renewals have their orders before the working day).
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise
from typing import Any

from plugin.models import Shop
from plugin.settings_section import SettingsSection, ShopSettingsError

SETTINGS_KEY = "billing"
FINAL_ACTIONS = ("pause", "cancel")
MAX_RETRIES = 10
MAX_RETRY_DAY = 60


@dataclass(frozen=True)
class BillingSettings:
    retry_days: tuple[int, ...] = (1, 3, 7)
    final_action: str = "pause"
    billing_hour: int = 6

    def as_json(self) -> dict[str, Any]:
        return {
            "retry_days": list(self.retry_days),
            "final_action": self.final_action,
            "billing_hour": self.billing_hour,
        }


class BillingSettingsError(ShopSettingsError):
    section = SETTINGS_KEY


def _whole(name: str, value: Any, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise BillingSettingsError(name, "must be a whole number")
    if not low <= value <= high:
        raise BillingSettingsError(name, f"must be between {low} and {high}")
    return value


def _parse_one(name: str, value: Any) -> Any:
    if name == "retry_days":
        if not isinstance(value, list | tuple) or len(value) > MAX_RETRIES:
            raise BillingSettingsError(name, f"must be a list of at most {MAX_RETRIES} days")
        days = tuple(_whole(name, v, 1, MAX_RETRY_DAY) for v in value)
        if any(b <= a for a, b in pairwise(days)):
            raise BillingSettingsError(name, "days must increase (e.g. 1, 3, 7)")
        return days
    if name == "final_action":
        if value not in FINAL_ACTIONS:
            raise BillingSettingsError(name, f"must be one of {', '.join(FINAL_ACTIONS)}")
        return value
    return _whole(name, value, 0, 23)


SECTION = SettingsSection(
    key=SETTINGS_KEY,
    noun="billing setting",
    parse_one=_parse_one,
    build=BillingSettings,
    error=BillingSettingsError,
)


def billing_settings(shop: Shop) -> BillingSettings:
    """Lenient: a bad stored value falls back to its default with a warning."""
    return SECTION.read(shop.settings, shop.id)


def parse_billing_settings(raw: Any) -> BillingSettings:
    """Strict: the merchant's edit, whole; `BillingSettingsError` names the field."""
    return SECTION.parse(raw)
