"""Session tokens for the local demo, which runs without Shopify's admin to issue them.

The token is exactly what App Bridge would send (JWT HS256 with the app secret, `aud` = API
key, `iss`/`dest` naming the shop, a staff `sub`, ~60 s life), so the demo page reaches its data
through the same `/api/admin` verification as a real merchant. Only `create_app(demo_shop=…)`
ever serves these tokens, and only to loopback clients (admin_ui.page).
"""

from __future__ import annotations

import time
import uuid

import jwt

from plugin.settings import Settings
from plugin.shopify.verify import normalize_shop_domain

DEMO_TOKEN_LIFETIME_S = 60
# The demo's one staff member (App Bridge sends the admin user's numeric id as `sub`).
DEMO_STAFF_USER_ID = "1"


def mint_demo_session_token(settings: Settings, shop: str, *, now: float | None = None) -> str:
    """A short-lived staff session token for `shop`, signed with the app secret."""
    domain = normalize_shop_domain(shop)
    if domain is None:
        raise ValueError(f"not a shop domain: {shop!r}")
    issued = int(time.time() if now is None else now)
    claims = {
        "iss": f"https://{domain}/admin",
        "dest": f"https://{domain}",
        "aud": settings.api_key,
        "sub": DEMO_STAFF_USER_ID,
        "exp": issued + DEMO_TOKEN_LIFETIME_S,
        "nbf": issued,
        "iat": issued,
        "jti": str(uuid.uuid4()),
        "sid": str(uuid.uuid4()),
    }
    return jwt.encode(claims, settings.api_secret.get(), algorithm="HS256")
