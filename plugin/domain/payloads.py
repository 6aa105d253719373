"""Reading Shopify webhook payloads: ids, timestamps, money and text, with clear errors."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from plugin.domain.errors import MalformedPayload

# Shopify ids are positive 64-bit integers; BIGINT columns hold them.
_MAX_ID = 2**63 - 1


def shopify_id(value: Any) -> int | None:
    """An id given as 123, "123" or "gid://shopify/Type/123"; None when absent."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise MalformedPayload(f"expected an id, got {value!r}")
    if isinstance(value, int):
        number = value
    elif isinstance(value, str):
        digits = value.rsplit("/", 1)[-1] if value.startswith("gid://") else value
        # GIDs may carry a query string (gid://shopify/Type/1?foo=bar).
        digits = digits.split("?", 1)[0].strip()
        if not digits.isdigit():
            raise MalformedPayload(f"expected an id, got {value!r}")
        number = int(digits)
    else:
        raise MalformedPayload(f"expected an id, got {type(value).__name__}")
    if not 0 < number <= _MAX_ID:
        raise MalformedPayload(f"id out of range: {value!r}")
    return number


def first_id(payload: dict[str, Any], *keys: str) -> int | None:
    """The first id present under any of `keys` (e.g. "id", then "admin_graphql_api_id")."""
    for key in keys:
        found = shopify_id(payload.get(key))
        if found is not None:
            return found
    return None


def require_id(payload: dict[str, Any], *keys: str) -> int:
    found = first_id(payload, *keys)
    if found is None:
        raise MalformedPayload(f"payload has no {' or '.join(keys)}")
    return found


def timestamp(value: Any) -> datetime | None:
    """An ISO 8601 timestamp as aware UTC; None when absent. Naive times are taken as UTC."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise MalformedPayload(f"expected a timestamp, got {type(value).__name__}")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise MalformedPayload(f"not an ISO 8601 timestamp: {value!r}") from exc
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def calendar_date(value: Any) -> date | None:
    moment = timestamp(value)
    return moment.date() if moment is not None else None


def money(value: Any) -> Decimal | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise MalformedPayload(f"expected an amount, got {type(value).__name__}")
    try:
        amount = Decimal(str(value))
    except InvalidOperation as exc:
        raise MalformedPayload(f"not an amount: {value!r}") from exc
    if not amount.is_finite():
        raise MalformedPayload(f"not an amount: {value!r}")
    return amount.quantize(Decimal("0.01"))


def text(value: Any, max_len: int) -> str | None:
    """A short string field, trimmed to the column's size; None for absent or empty."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise MalformedPayload(f"expected text, got {type(value).__name__}")
    value = value.strip()
    return value[:max_len] or None


def positive_int(value: Any, field: str, default: int | None = None) -> int | None:
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise MalformedPayload(f"{field} must be an integer")
    try:
        number = int(value)
    except ValueError as exc:
        raise MalformedPayload(f"{field} must be an integer, got {value!r}") from exc
    if number < 0:
        raise MalformedPayload(f"{field} must not be negative")
    return number


def section(payload: dict[str, Any], key: str) -> dict[str, Any]:
    """A nested object, or {} when absent or null."""
    value = payload.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise MalformedPayload(f"{key} must be an object")
    return value
