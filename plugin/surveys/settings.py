"""A shop's survey settings: a typed reader over `Shop.settings["surveys"]`, documented defaults.

The merchant's settings live in the shop's JSON settings under the "surveys" key, e.g.

    {"surveys": {"nps_delay_days": 3, "labels": {"fr": {"nps.title": "Votre avis"}}}}

`parse_survey_settings` is strict (the admin API uses it to refuse a bad edit with the field
named); `survey_settings` is what request and job code use: a value that does not parse falls
back to its default with a warning, so one bad setting never takes a shop's surveys down.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from plugin.models import Shop
from plugin.settings_section import SettingsSection, ShopSettingsError

SETTINGS_KEY = "surveys"


@dataclass(frozen=True)
class SurveySettings:
    """Survey behaviour for one shop.

    nps_delay_days: the NPS invitation goes out this long after the delivered event (2 days:
        long enough to have used the product, soon enough to remember the delivery).
    nps_fallback_days: when no delivered event comes (carriers without tracking), the
        invitation goes out this long after fulfilment instead (7 days).
    nps_throttle_days: at most one NPS invitation per subscriber in this many days (90).
    nps_expiry_days: an invitation not answered within this many days expires (14).
    answer_edit_hours: a subscriber may change an answer for this long; then it is final (24).
    cancel_answer_window_days: how long after a cancellation a customer's reason is still
        accepted (it then replaces the system reason), and how long an answer given before
        the cancel webhook waits for it before counting as a cancel attempt that did not
        cancel (7).
    randomise_reason_order: shuffle the reasons (except "other", always last) per
        subscriber, against order bias; stable for one subscriber and contract.
    proxy_theme_layout: serve app proxy pages as Liquid so Shopify renders them inside the
        store theme; False serves a standalone page (for themes that clash with the form).
    labels: merchant overrides of page texts by locale, {"fr": {"nps.title": "…"}}; reason
        labels are overridden on the reason itself (it is versioned).
    """

    nps_delay_days: float = 2.0
    nps_fallback_days: float = 7.0
    nps_throttle_days: float = 90.0
    nps_expiry_days: float = 14.0
    answer_edit_hours: float = 24.0
    cancel_answer_window_days: float = 7.0
    randomise_reason_order: bool = False
    proxy_theme_layout: bool = True
    labels: dict[str, dict[str, str]] = field(default_factory=dict)

    @property
    def nps_delay(self) -> timedelta:
        return timedelta(days=self.nps_delay_days)

    @property
    def nps_fallback_delay(self) -> timedelta:
        return timedelta(days=self.nps_fallback_days)

    @property
    def nps_throttle(self) -> timedelta:
        return timedelta(days=self.nps_throttle_days)

    @property
    def nps_expiry(self) -> timedelta:
        return timedelta(days=self.nps_expiry_days)

    @property
    def answer_edit_window(self) -> timedelta:
        return timedelta(hours=self.answer_edit_hours)

    @property
    def cancel_answer_window(self) -> timedelta:
        return timedelta(days=self.cancel_answer_window_days)


DEFAULTS = SurveySettings()

# Bounds keep a typo (delay 2000 days, edit window of a year) from silently breaking surveys.
_NUMBER_BOUNDS: dict[str, tuple[float, float]] = {
    "nps_delay_days": (0.0, 60.0),
    "nps_fallback_days": (0.0, 90.0),
    "nps_throttle_days": (0.0, 730.0),
    "nps_expiry_days": (1.0, 90.0),
    "answer_edit_hours": (0.0, 24.0 * 30),
    "cancel_answer_window_days": (0.0, 90.0),
}
_FLAGS = ("randomise_reason_order", "proxy_theme_layout")
_MAX_LABEL = 500


class SurveySettingsError(ShopSettingsError):
    """A survey setting has the wrong type or is out of range; names the setting."""

    section = SETTINGS_KEY


def _number(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise SurveySettingsError(name, "must be a number")
    low, high = _NUMBER_BOUNDS[name]
    if not low <= float(value) <= high:
        raise SurveySettingsError(name, f"must be between {low:g} and {high:g}")
    return float(value)


def _flag(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise SurveySettingsError(name, "must be true or false")
    return value


def _labels(value: Any) -> dict[str, dict[str, str]]:
    if not isinstance(value, Mapping):
        raise SurveySettingsError("labels", "must map a locale to {text key: text}")
    out: dict[str, dict[str, str]] = {}
    for locale, texts in value.items():
        if not isinstance(locale, str) or not isinstance(texts, Mapping):
            raise SurveySettingsError("labels", "must map a locale to {text key: text}")
        clean: dict[str, str] = {}
        for key, text in texts.items():
            if not isinstance(key, str) or not isinstance(text, str):
                raise SurveySettingsError(f"labels.{locale}", "keys and texts must be strings")
            if len(text) > _MAX_LABEL:
                raise SurveySettingsError(f"labels.{locale}.{key}", "is too long")
            clean[key] = text
        out[locale.lower()] = clean
    return out


def _parse_one(name: str, value: Any) -> Any:
    if name in _NUMBER_BOUNDS:
        return _number(name, value)
    if name in _FLAGS:
        return _flag(name, value)
    return _labels(value)


SECTION = SettingsSection(
    key=SETTINGS_KEY,
    noun="survey setting",
    parse_one=_parse_one,
    build=SurveySettings,
    error=SurveySettingsError,
)


def parse_survey_settings(raw: Mapping[str, Any] | None) -> SurveySettings:
    """Strict: every given value must be valid and known, else SurveySettingsError."""
    return SECTION.parse(raw)


def survey_settings(shop: Shop) -> SurveySettings:
    """Lenient: a bad value falls back to its default (logged), the rest still applies."""
    return SECTION.read(shop.settings, shop.id)


def survey_settings_from(shop_settings: Any, shop_id: int) -> SurveySettings:
    """`survey_settings` from the shop's JSON settings as read (for readers that select the
    column rather than load the shop, e.g. the scoring loaders)."""
    return SECTION.read(shop_settings, shop_id)
