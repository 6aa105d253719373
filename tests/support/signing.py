"""Build requests signed the way Shopify signs them (webhooks, session tokens, app proxy)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import jwt

from plugin.shopify.fake.admin_api import API_KEY, API_SECRET, SHOP

API_SECRET_PREVIOUS = "test-api-secret-previous-0123456789abcdef"
# A fixed Fernet key for tests only.
TOKEN_KEY = base64.urlsafe_b64encode(b"0123456789abcdef0123456789abcdef").decode()


def webhook_hmac(body: bytes, secret: str = API_SECRET) -> str:
    digest = hmac.new(secret.encode(), body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def webhook_headers(
    topic: str,
    body: bytes,
    *,
    shop: str = SHOP,
    secret: str = API_SECRET,
    webhook_id: str | None = None,
    event_id: str | None = None,
    triggered_at: datetime | None = None,
    api_version: str = "2026-10",
) -> dict[str, str]:
    triggered = (triggered_at or datetime.now(UTC)).astimezone(UTC)
    return {
        "Content-Type": "application/json",
        "X-Shopify-Topic": topic,
        "X-Shopify-Hmac-Sha256": webhook_hmac(body, secret),
        "X-Shopify-Shop-Domain": shop,
        "X-Shopify-API-Version": api_version,
        "X-Shopify-Webhook-Id": webhook_id or str(uuid.uuid4()),
        "X-Shopify-Event-Id": event_id or str(uuid.uuid4()),
        "X-Shopify-Triggered-At": triggered.isoformat().replace("+00:00", "Z"),
    }


def signed_webhook(
    topic: str, payload: dict[str, Any], **kwargs: Any
) -> tuple[bytes, dict[str, str]]:
    body = json.dumps(payload).encode()
    return body, webhook_headers(topic, body, **kwargs)


def session_token(
    *,
    shop: str = SHOP,
    sub: str = "1",
    secret: str = API_SECRET,
    aud: str = API_KEY,
    lifetime: int = 60,
    now: float | None = None,
    algorithm: str = "HS256",
    **claims: Any,
) -> str:
    """An App Bridge / customer-account session token (JWT HS256 with the app secret)."""
    issued = int(now if now is not None else time.time())
    payload = {
        "iss": f"https://{shop}/admin",
        "dest": f"https://{shop}",
        "aud": aud,
        "sub": sub,
        "exp": issued + lifetime,
        "nbf": issued - 1,
        "iat": issued,
        "jti": str(uuid.uuid4()),
        "sid": str(uuid.uuid4()),
        **claims,
    }
    return jwt.encode(payload, secret, algorithm=algorithm)


def proxy_query(
    params: dict[str, str | list[str]],
    *,
    shop: str = SHOP,
    customer_id: str = "",
    secret: str = API_SECRET,
    timestamp: int | None = None,
    path_prefix: str = "/apps/valuehealth",
) -> str:
    """An app proxy query string with Shopify's `signature` (hex HMAC of sorted key=value)."""
    full: dict[str, str | list[str]] = {
        **params,
        "shop": shop,
        "logged_in_customer_id": customer_id,
        "path_prefix": path_prefix,
        "timestamp": str(timestamp if timestamp is not None else int(time.time())),
    }
    message = "".join(
        f"{key}={','.join(value) if isinstance(value, list) else value}"
        for key, value in sorted(full.items())
    )
    full["signature"] = hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()
    return urlencode(full, doseq=True)
