"""The Admin GraphQL client against the fake: throttling, rate limits, server errors, auth."""

from __future__ import annotations

import pytest

from plugin.queue import TransientError
from plugin.settings import Settings
from plugin.shopify.contracts import CONTRACT_QUERY
from plugin.shopify.errors import ShopifyAuthError, ShopifyGraphQLError
from plugin.shopify.graphql import AdminGraphQL
from tests.support.fake_shopify import FakeShopify
from tests.support.signing import SHOP


class Sleeps(list[float]):
    async def __call__(self, seconds: float) -> None:
        self.append(seconds)


def _client(
    fake: FakeShopify,
    settings: Settings,
    sleeps: Sleeps,
    *,
    token: str | None = None,
    rand: float = 0.0,
    **options: float,
) -> AdminGraphQL:
    return AdminGraphQL(
        fake.client(),
        settings,
        SHOP,
        token or fake.grant_token(),
        sleep=sleeps,
        rand=lambda: rand,
        **options,  # type: ignore[arg-type]
    )


async def _ask(client: AdminGraphQL, fake: FakeShopify) -> dict:
    gid = fake.add_contract(contract_id=1, customer_id=2)
    return await client.query(CONTRACT_QUERY, {"id": gid})


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


async def test_query_sends_token_to_the_versioned_endpoint(
    fake: FakeShopify, settings: Settings, sleeps: Sleeps
) -> None:
    token = fake.grant_token()
    data = await _ask(_client(fake, settings, sleeps, token=token), fake)
    assert data["subscriptionContract"]["id"] == "gid://shopify/SubscriptionContract/1"
    [call] = fake.requests
    assert call.url == f"http://fake-shopify.test/{SHOP}/admin/api/2026-10/graphql.json"
    assert call.headers["x-shopify-access-token"] == token
    assert sleeps == []


async def test_throttled_waits_for_the_bucket_then_succeeds(
    fake: FakeShopify, settings: Settings, sleeps: Sleeps
) -> None:
    fake.throttle(times=2, requested=500, available=100, restore_rate=50)
    data = await _ask(_client(fake, settings, sleeps), fake)
    assert data["subscriptionContract"] is not None
    assert sleeps == [8.0, 8.0]  # (500 - 100) / 50
    assert len(fake.requests) == 3


async def test_throttle_wait_has_bounded_jitter(
    fake: FakeShopify, settings: Settings, sleeps: Sleeps
) -> None:
    fake.throttle(requested=500, available=100, restore_rate=50)
    await _ask(_client(fake, settings, sleeps, rand=0.999), fake)
    [wait] = sleeps
    assert 8.0 < wait <= 10.0


async def test_throttled_with_bucket_already_full_still_pauses(
    fake: FakeShopify, settings: Settings, sleeps: Sleeps
) -> None:
    fake.throttle(requested=50, available=1000)
    await _ask(_client(fake, settings, sleeps), fake)
    assert sleeps == [0.5]


async def test_429_honours_retry_after(
    fake: FakeShopify, settings: Settings, sleeps: Sleeps
) -> None:
    fake.rate_limit(retry_after=3)
    await _ask(_client(fake, settings, sleeps), fake)
    assert sleeps == [3.0]


async def test_server_errors_back_off_then_give_up_as_transient(
    fake: FakeShopify, settings: Settings, sleeps: Sleeps
) -> None:
    fake.server_error(times=10, status=502)
    with pytest.raises(TransientError) as caught:
        await _ask(_client(fake, settings, sleeps, max_tries=4), fake)
    assert sleeps == [1.0, 2.0, 4.0]
    assert caught.value.retry_after == 8.0
    assert len(fake.requests) == 4


async def test_network_errors_are_retried(
    fake: FakeShopify, settings: Settings, sleeps: Sleeps
) -> None:
    fake.network_error(times=2)
    data = await _ask(_client(fake, settings, sleeps), fake)
    assert data["subscriptionContract"] is not None
    assert sleeps == [1.0, 2.0]


async def test_long_waits_are_left_to_the_job_queue(
    fake: FakeShopify, settings: Settings, sleeps: Sleeps
) -> None:
    fake.rate_limit(retry_after=120)
    with pytest.raises(TransientError) as caught:
        await _ask(_client(fake, settings, sleeps, max_wait=30), fake)
    assert sleeps == []
    assert caught.value.retry_after == 120


async def test_invalid_token_is_not_retried(
    fake: FakeShopify, settings: Settings, sleeps: Sleeps
) -> None:
    with pytest.raises(ShopifyAuthError):
        await _ask(_client(fake, settings, sleeps, token="fake-at-revoked"), fake)
    assert len(fake.requests) == 1
    assert sleeps == []


async def test_other_graphql_errors_are_not_retried(
    fake: FakeShopify, settings: Settings, sleeps: Sleeps
) -> None:
    client = _client(fake, settings, sleeps)
    with pytest.raises(ShopifyGraphQLError, match="unknown operation"):
        await client.query("query NoSuchThing { shop { id } }")
    assert len(fake.requests) == 1
    assert sleeps == []


async def test_query_costlier_than_the_bucket_fails_at_once(
    fake: FakeShopify, settings: Settings, sleeps: Sleeps
) -> None:
    fake.throttle(requested=5000, available=2000)
    with pytest.raises(ShopifyGraphQLError, match="exceeds the bucket"):
        await _ask(_client(fake, settings, sleeps), fake)
    assert sleeps == []


def test_repr_hides_the_token(fake: FakeShopify, settings: Settings, sleeps: Sleeps) -> None:
    token = fake.grant_token()
    assert token not in repr(_client(fake, settings, sleeps, token=token))
