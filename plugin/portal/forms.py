"""A form token for app proxy forms, against cross-site form posts.

Shopify signs whatever reaches the storefront URL, including a POST another site makes the
subscriber's browser send: the signed query would carry their `logged_in_customer_id`. So a
form-encoded answer must also carry a token that only our own page could have put there:
HMAC(app secret, purpose ‖ shop ‖ customer ‖ expiry). JSON bodies need no token: a
cross-site page cannot send `Content-Type: application/json` without a CORS preflight, which
the storefront does not grant.
"""

from __future__ import annotations

import hmac
import time

from plugin.settings import Settings

_PURPOSE = b"valuehealth/proxy-form/v1"
LIFETIME_S = 2 * 3600


def _mac(secret: bytes, shop: str, customer_id: int, expires: int) -> str:
    message = b"|".join([_PURPOSE, shop.encode(), str(customer_id).encode(), str(expires).encode()])
    return hmac.new(secret, message, "sha256").hexdigest()[:32]


def form_token(settings: Settings, shop: str, customer_id: int, *, now: float | None = None) -> str:
    expires = int((time.time() if now is None else now) + LIFETIME_S)
    return f"{expires}.{_mac(settings.webhook_secrets[0], shop, customer_id, expires)}"


def form_token_valid(
    settings: Settings, token: object, shop: str, customer_id: int, *, now: float | None = None
) -> bool:
    if not isinstance(token, str) or token.count(".") != 1:
        return False
    raw_expires, mac = token.split(".")
    if not raw_expires.isascii() or not raw_expires.isdigit():
        return False
    expires = int(raw_expires)
    if expires < (time.time() if now is None else now):
        return False
    return any(
        hmac.compare_digest(_mac(secret, shop, customer_id, expires), mac)
        for secret in settings.webhook_secrets
    )
