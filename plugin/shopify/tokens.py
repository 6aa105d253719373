"""Offline access tokens: encryption at rest, token exchange, refresh, and `access_token_for`.

The token endpoint requests are written here with httpx rather than through `shopify_app`'s
`token_exchange_async` / `refresh_access_token_async`: both hard-code `https://{shop}` as the
endpoint, so they ignore SHOPIFY_ADMIN_ORIGIN (which tests and staging point elsewhere), and they
return expiry times as formatted strings computed from their own clock. The requests follow
Shopify's documented grants exactly (docs/design.md §4 "Install and auth").

Tokens live on the `Shop` row as Fernet ciphertext, access and refresh token side by side, always
written together. Nothing here logs a token, a refresh token or the client secret.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy.ext.asyncio import AsyncSession

from plugin.models.shop import Shop
from plugin.queue import TransientError
from plugin.runtime import Runtime
from plugin.settings import Secret, Settings
from plugin.shopify.errors import ShopifyAuthError, ShopifyError
from plugin.shopify.httputil import json_object, retry_after
from plugin.shopify.verify import InvalidRequest, verify_session_token

log = logging.getLogger(__name__)

# OAuth type names (URNs), not credentials.
TOKEN_EXCHANGE_GRANT = "urn:ietf:params:oauth:grant-type:token-exchange"  # noqa: S105
ID_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:id_token"  # noqa: S105
OFFLINE_TOKEN_TYPE = "urn:shopify:params:oauth:token-type:offline-access-token"  # noqa: S105
# Refresh ahead of expiry so a token handed out is good for the calls that follow.
REFRESH_MARGIN = timedelta(minutes=5)


class TokenCipherError(RuntimeError):
    """A stored token cannot be decrypted: TOKEN_ENCRYPTION_KEY differs from the one used."""


class TokenCipher:
    """Fernet (AES-128-CBC + HMAC-SHA256) with TOKEN_ENCRYPTION_KEY."""

    __slots__ = ("_fernet",)

    def __init__(self, key: Secret) -> None:
        self._fernet = Fernet(key.get().encode())

    def encrypt(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode()).decode()

    def decrypt(self, ciphertext: str) -> str:
        try:
            return self._fernet.decrypt(ciphertext.encode()).decode()
        except InvalidToken:
            raise TokenCipherError(
                "a stored Shopify token cannot be decrypted: was TOKEN_ENCRYPTION_KEY changed?"
            ) from None

    def __repr__(self) -> str:
        return "TokenCipher(key=**********)"


@dataclass(frozen=True)
class TokenGrant:
    """What the token endpoint returned (offline token, possibly expiring)."""

    access_token: str = field(repr=False)
    access_expires_at: datetime | None
    refresh_token: str | None = field(repr=False)
    refresh_expires_at: datetime | None
    scope: str


async def exchange_session_token(
    runtime: Runtime, session: AsyncSession, shop: Shop, id_token: str
) -> None:
    """Exchange a merchant's session token for an expiring offline token and store it on `shop`.

    The id token is verified again here (cheap) so that a token for one shop can never be
    stored on another shop's row. Raises InvalidRequest for a bad or foreign id token,
    ShopifyAuthError when Shopify rejects our credentials, TransientError when it is unavailable.
    """
    settings = runtime.settings
    claims = verify_session_token(id_token, settings, subject="staff")
    if claims.shop != shop.domain:
        raise InvalidRequest("shop_mismatch")
    grant = await _request_token(
        runtime.http,
        settings,
        shop.domain,
        {
            "grant_type": TOKEN_EXCHANGE_GRANT,
            "subject_token": id_token,
            "subject_token_type": ID_TOKEN_TYPE,
            "requested_token_type": OFFLINE_TOKEN_TYPE,
            "expiring": 1,
        },
    )
    if grant is None:
        # Shopify refused the subject token although it verified here: stale or revoked.
        raise InvalidRequest("invalid_subject_token")
    _store(shop, grant, TokenCipher(settings.token_encryption_key))
    await session.flush()
    log.info("stored a new offline token for shop %s (scopes: %s)", shop.domain, grant.scope)


async def access_token_for(runtime: Runtime, session: AsyncSession, shop: Shop) -> str | None:
    """The shop's usable offline access token, refreshed first when it expires within 5 minutes.

    `shop` must be loaded in `session`. Call it early in the job: a refresh locks the shop row
    until the caller's transaction ends.

    A refresh writes the new access and refresh tokens to the row in the caller's transaction
    (Shopify keeps the old refresh token usable until the new one is used, so a rolled-back
    transaction loses nothing). Returns None when the shop has no token, or when its refresh
    token is expired or revoked (the tokens are then cleared: the merchant must open the app).
    """
    cipher = TokenCipher(runtime.settings.token_encryption_key)
    if shop.access_token_enc is None:
        return None
    if not _refresh_due(shop):
        return cipher.decrypt(shop.access_token_enc)

    # Lock the row and read it again: another worker may have refreshed it meanwhile. FOR NO KEY
    # UPDATE does not block webhook inserts that reference the shop (SQLite ignores it; its
    # writers are serialised anyway). Flush first so a pending change to `shop` is not lost.
    await session.flush()
    await session.refresh(shop, with_for_update={"key_share": True})
    if shop.access_token_enc is None:
        return None
    if not _refresh_due(shop):
        return cipher.decrypt(shop.access_token_enc)

    now = datetime.now(UTC)
    if shop.refresh_token_enc is None or (
        shop.refresh_token_expires_at is not None and shop.refresh_token_expires_at <= now
    ):
        log.warning("shop %s: refresh token missing or expired; tokens cleared", shop.domain)
        clear_tokens(shop)
        await session.flush()
        return None
    grant = await _request_token(
        runtime.http,
        runtime.settings,
        shop.domain,
        {"grant_type": "refresh_token", "refresh_token": cipher.decrypt(shop.refresh_token_enc)},
    )
    if grant is None:
        log.warning("shop %s: Shopify rejected the refresh token; tokens cleared", shop.domain)
        clear_tokens(shop)
        await session.flush()
        return None
    _store(shop, grant, cipher)
    await session.flush()
    log.info("refreshed the offline token for shop %s", shop.domain)
    return grant.access_token


def clear_tokens(shop: Shop) -> None:
    """Forget the shop's tokens (uninstall, revoked refresh token); the caller's transaction."""
    shop.access_token_enc = None
    shop.access_token_expires_at = None
    shop.refresh_token_enc = None
    shop.refresh_token_expires_at = None


def _refresh_due(shop: Shop) -> bool:
    expires_at = shop.access_token_expires_at
    return expires_at is not None and expires_at - datetime.now(UTC) <= REFRESH_MARGIN


def _store(shop: Shop, grant: TokenGrant, cipher: TokenCipher) -> None:
    shop.access_token_enc = cipher.encrypt(grant.access_token)
    shop.access_token_expires_at = grant.access_expires_at
    shop.refresh_token_enc = cipher.encrypt(grant.refresh_token) if grant.refresh_token else None
    shop.refresh_token_expires_at = grant.refresh_expires_at
    shop.scopes = grant.scope


async def _request_token(
    http: httpx.AsyncClient, settings: Settings, shop_domain: str, grant: dict[str, Any]
) -> TokenGrant | None:
    """POST the grant to the shop's token endpoint. None when Shopify rejects the subject or
    refresh token (`invalid_subject_token` / `invalid_grant`); raises for everything else."""
    url = f"{settings.admin_url(shop_domain)}/admin/oauth/access_token"
    body = {
        "client_id": settings.api_key,
        "client_secret": settings.api_secret.get(),
        **grant,
    }
    requested_at = datetime.now(UTC)
    try:
        response = await http.post(url, json=body, headers={"Accept": "application/json"})
    except httpx.TransportError as exc:
        raise TransientError(
            f"token endpoint of {shop_domain} unreachable: {type(exc).__name__}"
        ) from exc
    status = response.status_code
    if status == 429 or status >= 500:
        raise TransientError(
            f"token endpoint of {shop_domain} answered {status}",
            retry_after=retry_after(response),
        )
    payload = json_object(response)
    if status != 200:
        error = str(payload.get("error", "")) or f"http_{status}"
        log.warning(
            "token endpoint of %s refused a %s grant: %s", shop_domain, grant["grant_type"], error
        )
        if error in ("invalid_subject_token", "invalid_grant"):
            return None
        if error == "invalid_client" or status in (401, 403):
            raise ShopifyAuthError(f"Shopify rejected the app credentials for {shop_domain}")
        raise ShopifyError(f"token endpoint of {shop_domain} answered {status} ({error})")
    access_token = payload.get("access_token")
    if not isinstance(access_token, str) or not access_token:
        raise ShopifyError(f"token endpoint of {shop_domain} returned no access token")
    refresh_token = payload.get("refresh_token")
    return TokenGrant(
        access_token=access_token,
        access_expires_at=_expiry(requested_at, payload.get("expires_in")),
        refresh_token=refresh_token if isinstance(refresh_token, str) and refresh_token else None,
        refresh_expires_at=_expiry(requested_at, payload.get("refresh_token_expires_in")),
        scope=str(payload.get("scope", "")),
    )


def _expiry(requested_at: datetime, seconds: object) -> datetime | None:
    # Counted from when we asked, not when the answer arrived: errs on the early side.
    if isinstance(seconds, int) and not isinstance(seconds, bool) and seconds > 0:
        return requested_at + timedelta(seconds=seconds)
    return None
