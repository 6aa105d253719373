"""No token, refresh token, session token or client secret reaches a log line or an error."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update

from plugin.db.transaction import transaction
from plugin.models.shop import Shop
from plugin.queue import TransientError
from plugin.runtime import Runtime
from plugin.shopify.contracts import fetch_contract_details
from plugin.shopify.errors import ShopifyAuthError
from plugin.shopify.graphql import AdminGraphQL, admin_client_for
from plugin.shopify.tokens import access_token_for, exchange_session_token
from tests.support.fake_shopify import FakeShopify
from tests.support.signing import API_SECRET, API_SECRET_PREVIOUS, SHOP, session_token


async def _no_sleep(_seconds: float) -> None:
    return None


async def test_token_lifecycle_logs_no_secret(
    shop_runtime: Runtime, shop: Shop, fake: FakeShopify, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    id_token = session_token(sub="42")
    errors: list[BaseException] = []
    gid = fake.add_contract(contract_id=1, customer_id=2)

    async with transaction(shop_runtime.sessionmaker, None) as tx:
        row = (await tx.session.execute(select(Shop))).scalar_one()
        await exchange_session_token(shop_runtime, tx.session, row, id_token)

    # A query that is throttled, rate limited and hits a 5xx before succeeding.
    fake.throttle()
    fake.rate_limit(retry_after=1)
    fake.server_error()
    async with transaction(shop_runtime.sessionmaker, None) as tx:
        row = (await tx.session.execute(select(Shop))).scalar_one()
        client = await admin_client_for(shop_runtime, tx.session, row, sleep=_no_sleep)
        assert client is not None
        assert await fetch_contract_details(client, gid) is not None

    # A refresh, then a failed refresh call, then a refused refresh.
    for fault in (None, "5xx", "revoked"):
        async with transaction(shop_runtime.sessionmaker, None) as tx:
            await tx.session.execute(
                update(Shop).values(
                    access_token_expires_at=datetime.now(UTC) + timedelta(minutes=1)
                )
            )
        if fault == "5xx":
            fake.server_error(on="token")
        elif fault == "revoked":
            fake.revoke_tokens()
        try:
            async with transaction(shop_runtime.sessionmaker, None) as tx:
                row = (await tx.session.execute(select(Shop))).scalar_one()
                await access_token_for(shop_runtime, tx.session, row)
        except TransientError as exc:
            errors.append(exc)

    # A query with a revoked token.
    revoked = AdminGraphQL(shop_runtime.http, shop_runtime.settings, SHOP, fake.issued[0])
    with pytest.raises(ShopifyAuthError) as caught:
        await fetch_contract_details(revoked, gid)
    errors.append(caught.value)

    assert len(fake.issued) >= 4  # exchange + one refresh, access and refresh each
    assert any("refreshed" in r.getMessage() for r in caplog.records)
    assert any("retrying" in r.getMessage() for r in caplog.records)
    logged = caplog.text + "".join(repr(r.args) for r in caplog.records)
    raised = "".join(f"{e!s}{e!r}" for e in errors)
    for secret in [*fake.issued, id_token, API_SECRET, API_SECRET_PREVIOUS]:
        assert secret not in logged
        assert secret not in raised
