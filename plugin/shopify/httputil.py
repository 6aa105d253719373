"""Small readers for Shopify HTTP responses shared by the token and GraphQL clients."""

from __future__ import annotations

from typing import Any

import httpx


def json_object(response: httpx.Response) -> dict[str, Any]:
    """The response body as a JSON object, or {} when it is not one."""
    try:
        payload = response.json()
    except ValueError:
        return {}
    return payload if isinstance(payload, dict) else {}


def retry_after(response: httpx.Response) -> float | None:
    """`Retry-After` in seconds (Shopify sends a number), or None when absent or unreadable."""
    try:
        value = float(response.headers["Retry-After"])
    except (KeyError, ValueError):
        return None
    return value if value >= 0 else None
