"""Turn a verified webhook request's headers and body into checked values, or say what is wrong.

Everything here runs after the signature check, so a failure is a malformed delivery (400):
nothing about it is stored.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from plugin.shopify.verify import normalize_shop_domain

# Longest accepted value per header: the inbox columns' sizes (a longer value is not Shopify's).
TOPIC_MAX = 128
SHOP_DOMAIN_MAX = 255
WEBHOOK_ID_MAX = 255
EVENT_ID_MAX = 255
API_VERSION_MAX = 32
# An ISO 8601 timestamp with nanoseconds and an offset is ~35 characters.
TRIGGERED_AT_MAX = 64


class MalformedDelivery(ValueError):
    """A signed delivery we cannot accept; the message says why (safe to return to the caller)."""


@dataclass(frozen=True)
class WebhookHeaders:
    topic: str
    shop_domain: str
    webhook_id: str
    event_id: str | None
    api_version: str | None
    triggered_at: datetime | None


def read_headers(headers: Mapping[str, str]) -> WebhookHeaders:
    """Required: topic, shop domain, webhook id. `headers` is keyed by lower-case name (as
    ASGI gives them), which makes Shopify's header names case-insensitive."""
    topic = _required(headers, "x-shopify-topic", TOPIC_MAX)
    raw_domain = _required(headers, "x-shopify-shop-domain", SHOP_DOMAIN_MAX)
    webhook_id = _required(headers, "x-shopify-webhook-id", WEBHOOK_ID_MAX)
    shop_domain = normalize_shop_domain(raw_domain)
    if shop_domain is None:
        raise MalformedDelivery("X-Shopify-Shop-Domain is not a *.myshopify.com domain")
    return WebhookHeaders(
        topic=topic,
        shop_domain=shop_domain,
        webhook_id=webhook_id,
        event_id=_optional(headers, "x-shopify-event-id", EVENT_ID_MAX),
        api_version=_optional(headers, "x-shopify-api-version", API_VERSION_MAX),
        triggered_at=parse_triggered_at(headers.get("x-shopify-triggered-at")),
    )


def parse_triggered_at(raw: str | None) -> datetime | None:
    """`X-Shopify-Triggered-At` as aware UTC. It only dates the event (the worker falls back to
    payload timestamps), so a malformed value is dropped rather than refusing the delivery."""
    if not raw or len(raw) > TRIGGERED_AT_MAX:
        return None
    try:
        value = datetime.fromisoformat(raw.strip())
    except ValueError:
        return None
    if value.tzinfo is None:
        # Shopify always sends UTC ("…Z"); a value without an offset means the same.
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def parse_body(body: bytes) -> tuple[dict[str, Any], str]:
    """The body as a JSON object, and as the text it was parsed from: UTF-8, finite numbers
    only (the database's JSON refuses NaN and infinities), any size."""
    try:
        text = body.decode("utf-8")
        value = _DECODER.decode(text)
    except (ValueError, RecursionError) as exc:
        raise MalformedDelivery("body is not valid JSON") from exc
    if not isinstance(value, dict):
        raise MalformedDelivery("body is not a JSON object")
    return value, text


def _refuse(constant: str) -> Any:
    raise ValueError(f"{constant} is not allowed")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError("number out of range")
    return value


# Built once: `json.loads` with hooks would build a decoder per call.
_DECODER = json.JSONDecoder(parse_constant=_refuse, parse_float=_finite)


def _required(headers: Mapping[str, str], name: str, limit: int) -> str:
    value = _optional(headers, name, limit)
    if value is None:
        raise MalformedDelivery(f"missing header {_display(name)}")
    return value


def _optional(headers: Mapping[str, str], name: str, limit: int) -> str | None:
    value = headers.get(name)
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    if len(value) > limit:
        raise MalformedDelivery(f"header {_display(name)} is longer than {limit} characters")
    if not value.isprintable():
        raise MalformedDelivery(f"header {_display(name)} contains control characters")
    return value


def _display(name: str) -> str:
    return "-".join("API" if part == "api" else part.capitalize() for part in name.split("-"))
