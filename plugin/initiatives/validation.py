"""Untrusted initiative input (the admin API's JSON bodies) into checked field values.

Every refusal names the field. Unknown fields are refused too: a misspelt field silently
ignored would look to the merchant as if it had been saved.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from datetime import date
from typing import Any

from plugin.initiatives.catalogue import (
    DIRECTIONS,
    DRIVERS,
    MAX_WINDOW_DAYS,
    MIN_WINDOW_DAYS,
    STATUSES,
)
from plugin.initiatives.metrics import TARGET_METRICS

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


PARSERS: dict[str, Callable[[str, Any], Any]] = {
    "title": _text(MAX_TITLE),
    "hypothesis": _text(MAX_HYPOTHESIS),
    "driver": _choice(DRIVERS),
    "target_metric": _choice(TARGET_METRICS),
    "expected_direction": _choice(DIRECTIONS),
    "expected_change": _positive_number,
    "owner": _text(MAX_OWNER),
    "status": _choice(STATUSES),
    "starts_on": _day,
    "ends_on": _day,
    "window_days": _window,
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
