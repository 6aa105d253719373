"""Signed survey links: bound to invitation, shop, customer and expiry; tamper-evident."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import pytest

from plugin.surveys.links import InvalidLink, make_token, read_token, survey_url
from tests.conftest import make_settings
from tests.support.signing import API_SECRET, API_SECRET_PREVIOUS

NOW = datetime(2026, 3, 2, 10, tzinfo=UTC)
SETTINGS = make_settings("sqlite+aiosqlite:///unused.db")


def token(**overrides: object) -> str:
    fields: dict[str, object] = {
        "invitation_id": 77,
        "shop_id": 3,
        "customer_id": 123456789012,
        "expires_at": NOW + timedelta(days=14),
    }
    fields.update(overrides)
    return make_token(SETTINGS, **fields)  # type: ignore[arg-type]


def test_round_trip_and_shape() -> None:
    raw = token()
    assert len(raw) == 60 and raw.replace("-", "").replace("_", "").isalnum()
    claims = read_token(raw, SETTINGS, now=NOW)
    assert (claims.invitation_id, claims.shop_id, claims.customer_id) == (77, 3, 123456789012)
    assert claims.expires_at == NOW + timedelta(days=14)
    url = survey_url(SETTINGS, invitation_id=77, shop_id=3, customer_id=5, expires_at=NOW, score=9)
    assert url.startswith("https://app.test/s/") and url.endswith("?score=9")


def test_any_changed_byte_breaks_the_signature() -> None:
    raw = base64.urlsafe_b64decode(token() + "=")
    for index in range(len(raw)):
        flipped = bytearray(raw)
        flipped[index] ^= 0x01
        forged = base64.urlsafe_b64encode(bytes(flipped)).rstrip(b"=").decode()
        with pytest.raises(InvalidLink):
            read_token(forged, SETTINGS, now=NOW)


def test_expired_malformed_and_foreign_tokens() -> None:
    with pytest.raises(InvalidLink) as caught:
        read_token(token(), SETTINGS, now=NOW + timedelta(days=14))
    assert caught.value.reason == "expired"
    for bad in ("", "abc", token() + "A", token()[:-1] + "*"):
        with pytest.raises(InvalidLink) as caught:
            read_token(bad, SETTINGS, now=NOW)
        assert caught.value.reason == "malformed"
    other_app = make_settings("sqlite+aiosqlite:///unused.db", SHOPIFY_API_SECRET="another-app")
    with pytest.raises(InvalidLink) as caught:
        read_token(
            make_token(
                other_app,
                invitation_id=1,
                shop_id=1,
                customer_id=1,
                expires_at=NOW + timedelta(days=1),
            ),
            SETTINGS,
            now=NOW,
        )
    assert caught.value.reason == "bad_signature"


def test_links_signed_before_a_secret_rotation_keep_working() -> None:
    before = make_settings(
        "sqlite+aiosqlite:///unused.db",
        SHOPIFY_API_SECRET=API_SECRET_PREVIOUS,
        SHOPIFY_API_SECRET_PREVIOUS="",
    )
    old = make_token(
        before, invitation_id=5, shop_id=1, customer_id=9, expires_at=NOW + timedelta(days=1)
    )
    assert SETTINGS.webhook_secrets == [API_SECRET.encode(), API_SECRET_PREVIOUS.encode()]
    assert read_token(old, SETTINGS, now=NOW).invitation_id == 5
