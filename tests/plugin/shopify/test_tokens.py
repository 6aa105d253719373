"""Token exchange, refresh and encryption at rest, against the fake Shopify (both databases)."""

from __future__ import annotations

import asyncio
import base64
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from plugin.db.transaction import transaction
from plugin.models.shop import Shop
from plugin.queue import TransientError
from plugin.runtime import Runtime
from plugin.settings import Secret
from plugin.shopify.errors import ShopifyAuthError
from plugin.shopify.tokens import (
    TokenCipher,
    TokenCipherError,
    access_token_for,
    exchange_session_token,
)
from plugin.shopify.verify import InvalidRequest
from tests.support.fake_shopify import FakeShopify
from tests.support.signing import API_SECRET_PREVIOUS, SHOP, TOKEN_KEY, session_token


async def _exchange(runtime: Runtime, **token_kwargs: Any) -> None:
    async with transaction(runtime.sessionmaker, None) as tx:
        shop = await _load(tx.session)
        await exchange_session_token(runtime, tx.session, shop, session_token(**token_kwargs))


async def _load(session: AsyncSession) -> Shop:
    return (await session.execute(select(Shop).where(Shop.domain == SHOP))).scalar_one()


async def _raw_row(runtime: Runtime) -> dict[str, object]:
    async with runtime.engine.connect() as conn:
        row = (await conn.execute(text("SELECT * FROM shops"))).mappings().one()
    return dict(row)


async def _expire_in(runtime: Runtime, delta: timedelta) -> None:
    async with transaction(runtime.sessionmaker, None) as tx:
        await tx.session.execute(
            update(Shop)
            .where(Shop.domain == SHOP)
            .values(access_token_expires_at=datetime.now(UTC) + delta)
        )


def _issued(fake: FakeShopify) -> tuple[list[str], list[str]]:
    return list(fake.access_tokens), list(fake.refresh_tokens)


# ---- cipher ----------------------------------------------------------------------------------


def test_cipher_round_trip_and_wrong_key() -> None:
    cipher = TokenCipher(Secret(TOKEN_KEY))
    sealed = cipher.encrypt("fake-at-plaintext")
    assert "fake-at-plaintext" not in sealed
    assert cipher.decrypt(sealed) == "fake-at-plaintext"
    other = TokenCipher(Secret(base64.urlsafe_b64encode(b"x" * 32).decode()))
    with pytest.raises(TokenCipherError):
        other.decrypt(sealed)
    assert TOKEN_KEY not in repr(cipher)


# ---- exchange --------------------------------------------------------------------------------


async def test_exchange_stores_both_tokens_encrypted(
    shop_runtime: Runtime, shop: Shop, fake: FakeShopify
) -> None:
    before = datetime.now(UTC)
    await _exchange(shop_runtime, sub="42")

    [access], [refresh] = _issued(fake)
    row = await _raw_row(shop_runtime)
    assert access not in repr(row) and refresh not in repr(row)
    cipher = TokenCipher(shop_runtime.settings.token_encryption_key)
    assert cipher.decrypt(str(row["access_token_enc"])) == access
    assert cipher.decrypt(str(row["refresh_token_enc"])) == refresh
    assert row["scopes"] == fake.scope

    async with shop_runtime.sessionmaker() as session:
        stored = await _load(session)
    assert stored.access_token_expires_at is not None
    assert stored.refresh_token_expires_at is not None
    assert (
        before + timedelta(seconds=3590)
        < stored.access_token_expires_at
        <= datetime.now(UTC) + timedelta(seconds=3600)
    )
    assert stored.refresh_token_expires_at - stored.access_token_expires_at > timedelta(days=80)

    [call] = fake.requests_to("/oauth/access_token")
    assert call.url == f"http://fake-shopify.test/{SHOP}/admin/oauth/access_token"
    sent = call.json()
    assert sent["grant_type"] == "urn:ietf:params:oauth:grant-type:token-exchange"
    assert sent["subject_token_type"] == "urn:ietf:params:oauth:token-type:id_token"
    assert (
        sent["requested_token_type"] == "urn:shopify:params:oauth:token-type:offline-access-token"
    )
    assert sent["expiring"] == 1


async def test_exchange_refuses_a_token_for_another_shop(
    shop_runtime: Runtime, shop: Shop, fake: FakeShopify
) -> None:
    with pytest.raises(InvalidRequest, match="shop_mismatch"):
        await _exchange(shop_runtime, shop="another-shop.myshopify.com")
    assert fake.requests == []
    assert (await _raw_row(shop_runtime))["access_token_enc"] is None


async def test_exchange_refuses_customer_tokens(
    shop_runtime: Runtime, shop: Shop, fake: FakeShopify
) -> None:
    with pytest.raises(InvalidRequest):
        await _exchange(shop_runtime, sub="gid://shopify/Customer/5")
    assert fake.requests == []


async def test_exchange_subject_token_refused_by_shopify(
    shop_runtime: Runtime, shop: Shop, fake: FakeShopify
) -> None:
    # We still accept the previous secret during a rotation; Shopify already moved on.
    with pytest.raises(InvalidRequest, match="invalid_subject_token"):
        await _exchange(shop_runtime, secret=API_SECRET_PREVIOUS)
    assert (await _raw_row(shop_runtime))["access_token_enc"] is None


async def test_exchange_with_rejected_client_credentials(
    shop_runtime: Runtime, shop: Shop, fake: FakeShopify
) -> None:
    fake.api_secret = "rotated-elsewhere"
    with pytest.raises(ShopifyAuthError):
        await _exchange(shop_runtime)


@pytest.mark.parametrize("fault", ["5xx", "429", "network"])
async def test_exchange_transient_failures(
    shop_runtime: Runtime, shop: Shop, fake: FakeShopify, fault: str
) -> None:
    if fault == "5xx":
        fake.server_error(on="token")
    elif fault == "429":
        fake.rate_limit(retry_after=7, on="token")
    else:
        fake.network_error(on="token")
    with pytest.raises(TransientError) as caught:
        await _exchange(shop_runtime)
    if fault == "429":
        assert caught.value.retry_after == 7
    assert (await _raw_row(shop_runtime))["access_token_enc"] is None


# ---- access_token_for and refresh ------------------------------------------------------------


async def test_no_token_yet(shop_runtime: Runtime, shop: Shop, fake: FakeShopify) -> None:
    async with transaction(shop_runtime.sessionmaker, None) as tx:
        assert await access_token_for(shop_runtime, tx.session, await _load(tx.session)) is None
    assert fake.requests == []


async def test_fresh_token_is_used_without_refresh(
    shop_runtime: Runtime, shop: Shop, fake: FakeShopify
) -> None:
    await _exchange(shop_runtime)
    await _expire_in(shop_runtime, timedelta(minutes=6))
    async with transaction(shop_runtime.sessionmaker, None) as tx:
        token = await access_token_for(shop_runtime, tx.session, await _load(tx.session))
    assert token == _issued(fake)[0][0]
    assert len(fake.requests_to("/oauth/access_token")) == 1  # the exchange only


async def test_refresh_before_expiry_persists_both_tokens(
    shop_runtime: Runtime, shop: Shop, fake: FakeShopify
) -> None:
    await _exchange(shop_runtime)
    [old_access], [old_refresh] = _issued(fake)
    await _expire_in(shop_runtime, timedelta(minutes=4))

    async with transaction(shop_runtime.sessionmaker, None) as tx:
        token = await access_token_for(shop_runtime, tx.session, await _load(tx.session))

    assert token is not None and token != old_access
    refresh_call = fake.requests_to("/oauth/access_token")[-1].json()
    assert refresh_call["grant_type"] == "refresh_token"
    assert refresh_call["refresh_token"] == old_refresh
    new_refresh = next(t for t in fake.refresh_tokens if t != old_refresh)

    row = await _raw_row(shop_runtime)
    cipher = TokenCipher(shop_runtime.settings.token_encryption_key)
    assert cipher.decrypt(str(row["access_token_enc"])) == token
    assert cipher.decrypt(str(row["refresh_token_enc"])) == new_refresh
    assert token not in repr(row) and new_refresh not in repr(row)
    async with shop_runtime.sessionmaker() as session:
        stored = await _load(session)
    assert stored.access_token_expires_at is not None
    assert stored.access_token_expires_at > datetime.now(UTC) + timedelta(minutes=59)

    # The next call uses the refreshed token as is.
    async with transaction(shop_runtime.sessionmaker, None) as tx:
        assert await access_token_for(shop_runtime, tx.session, await _load(tx.session)) == token
    assert len(fake.requests_to("/oauth/access_token")) == 2


async def test_refresh_rejected_clears_tokens(
    shop_runtime: Runtime, shop: Shop, fake: FakeShopify
) -> None:
    await _exchange(shop_runtime)
    await _expire_in(shop_runtime, timedelta(minutes=1))
    fake.revoke_tokens()
    async with transaction(shop_runtime.sessionmaker, None) as tx:
        assert await access_token_for(shop_runtime, tx.session, await _load(tx.session)) is None
    row = await _raw_row(shop_runtime)
    assert row["access_token_enc"] is None and row["refresh_token_enc"] is None


async def test_expired_refresh_token_is_not_sent(
    shop_runtime: Runtime, shop: Shop, fake: FakeShopify
) -> None:
    await _exchange(shop_runtime)
    async with transaction(shop_runtime.sessionmaker, None) as tx:
        await tx.session.execute(
            update(Shop).values(
                access_token_expires_at=datetime.now(UTC) - timedelta(hours=2),
                refresh_token_expires_at=datetime.now(UTC) - timedelta(hours=1),
            )
        )
    async with transaction(shop_runtime.sessionmaker, None) as tx:
        assert await access_token_for(shop_runtime, tx.session, await _load(tx.session)) is None
    assert len(fake.requests_to("/oauth/access_token")) == 1
    assert (await _raw_row(shop_runtime))["access_token_enc"] is None


async def test_refresh_failure_leaves_tokens_for_a_retry(
    shop_runtime: Runtime, shop: Shop, fake: FakeShopify
) -> None:
    await _exchange(shop_runtime)
    await _expire_in(shop_runtime, timedelta(minutes=1))
    before = await _raw_row(shop_runtime)
    fake.server_error(on="token")
    with pytest.raises(TransientError):
        async with transaction(shop_runtime.sessionmaker, None) as tx:
            await access_token_for(shop_runtime, tx.session, await _load(tx.session))
    assert await _raw_row(shop_runtime) == before


@pytest.mark.postgres
async def test_concurrent_refreshes_refresh_once(pg_url: str, fake: FakeShopify) -> None:
    from plugin.app import build_app_runtime
    from tests.conftest import empty_tables, make_settings

    runtime = await build_app_runtime(make_settings(pg_url), http=fake.client())
    try:
        async with transaction(runtime.sessionmaker, None) as tx:
            tx.session.add(Shop(domain=SHOP))
        await _exchange(runtime)
        await _expire_in(runtime, timedelta(minutes=1))
        fake.token_latency = 0.2  # the second worker reaches the row while the first waits

        async def worker() -> str | None:
            async with transaction(runtime.sessionmaker, None) as tx:
                shop = await _load(tx.session)  # both read the stale row before either locks
                await asyncio.sleep(0.05)
                return await access_token_for(runtime, tx.session, shop)

        first, second = await asyncio.gather(worker(), worker())
        assert first is not None and first == second
        grants = [r.json()["grant_type"] for r in fake.requests_to("/oauth/access_token")]
        assert grants.count("refresh_token") == 1
    finally:
        await empty_tables(runtime)
        await runtime.close()
