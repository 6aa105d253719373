"""Untrusted initiative input (the admin API's JSON bodies) into checked field values.

Every refusal names the field. Unknown fields are refused too: a misspelt field silently
ignored would look to the merchant as if it had been saved.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from datetime import date
from typing import Any

from plugin.initiatives.audience import (
    CADENCE,
    COHORT,
    CURRENCY,
    FIELDS,
    MAX_PLAN,
    NPS_CATEGORIES,
    SEGMENTS,
)
from plugin.initiatives.catalogue import (
    DIRECTIONS,
    DRIVERS,
    MAX_WINDOW_DAYS,
    MIN_WINDOW_DAYS,
    STATUSES,
)
from plugin.initiatives.metrics import MEMBER_METRICS, TARGET_METRICS
from plugin.initiatives.uplift import MAX_HOLDOUT_SHARE, MIN_HOLDOUT_SHARE

MAX_TITLE = 200
MAX_OWNER = 200
MAX_HYPOTHESIS = 2000

REQUIRED_ON_CREATE = (
    "title",
    "hypothesis",
    "driver",
    "target_metric",
    "expected_direction",
    "expected_change",
    "owner",
)


class InitiativeInvalid(Exception):
    """Bad input (HTTP 422); nothing was stored."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def _text(limit: int) -> Callable[[str, Any], str]:
    def parse(field: str, value: Any) -> str:
        if not isinstance(value, str):
            raise InitiativeInvalid(field, "must be a string")
        text = value.strip()
        if not text:
            raise InitiativeInvalid(field, "must not be empty")
        if len(text) > limit:
            raise InitiativeInvalid(field, f"must be at most {limit} characters")
        return text

    return parse


def _choice(options: tuple[str, ...] | Mapping[str, Any]) -> Callable[[str, Any], str]:
    def parse(field: str, value: Any) -> str:
        if not isinstance(value, str) or value not in options:
            raise InitiativeInvalid(field, f"must be one of: {', '.join(options)}")
        return value

    return parse


def _positive_number(field: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InitiativeInvalid(field, "must be a number")
    number = float(value)
    if not math.isfinite(number) or number <= 0:
        raise InitiativeInvalid(field, "must be a number above 0 (the direction says which way)")
    return number


def _window(field: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InitiativeInvalid(field, "must be a whole number of days")
    if not MIN_WINDOW_DAYS <= value <= MAX_WINDOW_DAYS:
        raise InitiativeInvalid(
            field, f"must be between {MIN_WINDOW_DAYS} and {MAX_WINDOW_DAYS} days"
        )
    return value


def _day(field: str, value: Any) -> date | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise InitiativeInvalid(field, "must be a date YYYY-MM-DD or null")
    try:
        if len(value) != 10:
            raise ValueError
        return date.fromisoformat(value)
    except ValueError:
        raise InitiativeInvalid(field, "must be a date YYYY-MM-DD or null") from None


def parse_audience(field_name: str, value: Any) -> dict[str, str] | None:
    """A checked filter (None: shop-wide). Refusals name the field as `audience.<name>`."""
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise InitiativeInvalid("audience", "must be an object of Subscribers filters, or null")
    parsed: dict[str, str] = {}
    for name, raw in value.items():
        field = f"audience.{name}"
        if name not in FIELDS:
            raise InitiativeInvalid(field, f"is not a filter; use: {', '.join(FIELDS)}")
        if not isinstance(raw, str) or not raw.strip():
            raise InitiativeInvalid(field, "must be a non-empty string")
        text = raw.strip()
        if name == "segment" and text not in SEGMENTS:
            raise InitiativeInvalid(field, f"must be one of: {', '.join(sorted(SEGMENTS))}")
        if name == "plan" and len(text) > MAX_PLAN:
            raise InitiativeInvalid(field, f"must be at most {MAX_PLAN} characters")
        if name == "cadence" and not CADENCE.match(text):
            raise InitiativeInvalid(field, "must be <interval>:<count>, e.g. month:1 or week:2")
        if name == "cohort" and not COHORT.match(text):
            raise InitiativeInvalid(field, "must be a month YYYY-MM")
        if name == "currency" and not CURRENCY.match(text):
            raise InitiativeInvalid(field, "must be a three-letter currency code, e.g. USD")
        if name == "nps_category" and text not in NPS_CATEGORIES:
            raise InitiativeInvalid(field, f"must be one of: {', '.join(NPS_CATEGORIES)}")
        parsed[name] = text
    if not parsed:
        raise InitiativeInvalid("audience", "names no filter (leave it null for shop-wide)")
    return parsed


def _holdout_share(field: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InitiativeInvalid(field, "must be a number, e.g. 0.1 for 10 %")
    if not MIN_HOLDOUT_SHARE <= value <= MAX_HOLDOUT_SHARE:
        raise InitiativeInvalid(
            field, f"must be between {MIN_HOLDOUT_SHARE} and {MAX_HOLDOUT_SHARE}"
        )
    return float(value)


PARSERS: dict[str, Callable[[str, Any], Any]] = {
    "title": _text(MAX_TITLE),
    "hypothesis": _text(MAX_HYPOTHESIS),
    "driver": _choice(DRIVERS),
    "target_metric": _choice({**TARGET_METRICS, **MEMBER_METRICS}),
    "expected_direction": _choice(DIRECTIONS),
    "expected_change": _positive_number,
    "owner": _text(MAX_OWNER),
    "status": _choice(STATUSES),
    "starts_on": _day,
    "ends_on": _day,
    "window_days": _window,
    "audience": parse_audience,
    "holdout_share": _holdout_share,
}


def parse_fields(data: Any, *, creating: bool) -> dict[str, Any]:
    """Checked values of the fields given; on create, the required ones must all be there."""
    if not isinstance(data, Mapping):
        raise InitiativeInvalid("body", "must be a JSON object")
    for field in data:
        if field not in PARSERS:
            raise InitiativeInvalid(str(field), "is not a field of an initiative")
    if creating:
        for field in REQUIRED_ON_CREATE:
            if field not in data:
                raise InitiativeInvalid(field, "is required")
    elif not data:
        raise InitiativeInvalid("body", "names no field to change")
    return {field: PARSERS[field](field, value) for field, value in data.items()}
