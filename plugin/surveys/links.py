"""Signed survey links for emails: `/s/{token}`, no login.

The token binds one invitation, its shop and its customer, and an expiry (the invitation's):

    token = base64url(payload ‖ mac), payload = version:u8 ‖ invitation:u64 ‖ shop:u64 ‖
            customer:u64 ‖ expires:u32 (unix seconds), mac = HMAC-SHA256(link key, payload)[:16]

60 URL-safe characters. The link key is derived from the app secret with a purpose label, so
a link MAC can never be mistaken for any other signature the secret makes; links signed with
the previous secret keep working during a rotation. Nothing about the link is stored: the
invitation row is the state, the token only proves who may answer it and until when.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import struct
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import quote

from plugin.settings import Settings

_VERSION = 1
_PAYLOAD = struct.Struct(">BQQQI")
_MAC_BYTES = 16
_PURPOSE = b"valuehealth/survey-link/v1"


class InvalidLink(Exception):
    """The token is malformed, not ours, or expired; `reason` is safe to log."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class LinkClaims:
    invitation_id: int
    shop_id: int
    customer_id: int
    expires_at: datetime


def _key(secret: bytes) -> bytes:
    return hmac.digest(secret, _PURPOSE, "sha256")


def _mac(secret: bytes, payload: bytes) -> bytes:
    return hmac.digest(_key(secret), payload, "sha256")[:_MAC_BYTES]


def make_token(
    settings: Settings,
    *,
    invitation_id: int,
    shop_id: int,
    customer_id: int,
    expires_at: datetime,
) -> str:
    payload = _PAYLOAD.pack(
        _VERSION, invitation_id, shop_id, customer_id, int(expires_at.timestamp())
    )
    raw = payload + _mac(settings.webhook_secrets[0], payload)
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


_TOKEN_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
_TOKEN_LEN = len(base64.urlsafe_b64encode(b"\0" * (_PAYLOAD.size + _MAC_BYTES)).rstrip(b"="))


def read_token(token: str, settings: Settings, *, now: datetime) -> LinkClaims:
    """Verify a token (current or previous secret, constant-time) and return its claims."""
    if len(token) != _TOKEN_LEN or not set(token) <= _TOKEN_CHARS:
        raise InvalidLink("malformed")
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except (binascii.Error, ValueError):
        raise InvalidLink("malformed") from None
    payload, mac = raw[: _PAYLOAD.size], raw[_PAYLOAD.size :]
    if not any(
        hmac.compare_digest(_mac(secret, payload), mac) for secret in settings.webhook_secrets
    ):
        raise InvalidLink("bad_signature")
    version, invitation_id, shop_id, customer_id, expires = _PAYLOAD.unpack(payload)
    if version != _VERSION:
        raise InvalidLink("unknown_version")
    expires_at = datetime.fromtimestamp(expires, UTC)
    if now >= expires_at:
        raise InvalidLink("expired")
    return LinkClaims(invitation_id, shop_id, customer_id, expires_at)


def survey_url(
    settings: Settings,
    *,
    invitation_id: int,
    shop_id: int,
    customer_id: int,
    expires_at: datetime,
    score: int | None = None,
) -> str:
    """The link to put in an email; with `score`, the one-click link for that score."""
    token = make_token(
        settings,
        invitation_id=invitation_id,
        shop_id=shop_id,
        customer_id=customer_id,
        expires_at=expires_at,
    )
    url = f"{settings.app_url}/s/{quote(token)}"
    return url if score is None else f"{url}?score={score}"
