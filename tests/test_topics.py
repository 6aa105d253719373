"""shopify.app.toml, plugin.topics and the domain handlers name exactly the same topics."""

from __future__ import annotations

import tomllib
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from plugin.domain.dispatch import HANDLERS, RUN_HANDLERS, RUNS_FIRST, RUNS_LAST
from plugin.topics import TOPICS
from workers.registry import JOBS

APP_TOML = Path(__file__).resolve().parents[1] / "shopify.app.toml"


def app_config() -> dict:
    return tomllib.loads(APP_TOML.read_text())


def resolve_uri(uri: str, application_url: str) -> str:
    """A subscription `uri` as the Shopify CLI deploys it: one starting with "/" is appended to
    `application_url` (its trailing "/" removed); anything else is used as written."""
    if not uri.startswith("/"):
        return uri
    return application_url.rstrip("/") + uri


def test_uris_resolve_as_the_cli_does() -> None:
    assert resolve_uri("/webhooks", "https://a.test/app/") == "https://a.test/app/webhooks"
    assert resolve_uri("/webhooks", "https://a.test") == "https://a.test/webhooks"
    assert resolve_uri("https://b.test/webhooks", "https://a.test/app") == "https://b.test/webhooks"


async def test_every_subscription_uri_reaches_the_webhook_endpoint(
    client: httpx.AsyncClient,
) -> None:
    """Each URI, resolved the CLI's way, is our host and a route that checks the signature:
    an unsigned POST gets 401, never 404 (nothing would ever reach the inbox)."""
    config = app_config()
    application_url = config["application_url"]
    subscriptions = config["webhooks"]["subscriptions"]
    assert subscriptions
    for subscription in subscriptions:
        resolved = urlsplit(resolve_uri(subscription["uri"], application_url))
        assert resolved.scheme == "https"
        assert resolved.netloc == urlsplit(application_url).netloc
        response = await client.post(
            resolved.path,
            content=b"{}",
            headers={"X-Shopify-Topic": (subscription.get("topics") or ["shop/redact"])[0]},
        )
        assert response.status_code == 401, (subscription["uri"], response.status_code)


def subscribed() -> tuple[list[str], list[str]]:
    """(regular topics, compliance topics) as the app config subscribes them."""
    config = app_config()
    regular: list[str] = []
    compliance: list[str] = []
    for subscription in config["webhooks"]["subscriptions"]:
        regular += subscription.get("topics", [])
        compliance += subscription.get("compliance_topics", [])
    return regular, compliance


def test_every_subscribed_topic_is_known_and_every_known_topic_subscribed() -> None:
    regular, compliance = subscribed()
    assert len(regular + compliance) == len(set(regular + compliance)), "a topic is listed twice"
    assert set(regular) | set(compliance) == set(TOPICS)
    assert {name for name, topic in TOPICS.items() if topic.compliance} == set(compliance)


def test_the_compliance_topics_are_shopifys_mandatory_three() -> None:
    _, compliance = subscribed()
    assert sorted(compliance) == ["customers/data_request", "customers/redact", "shop/redact"]


def test_every_topic_has_one_handler_and_every_handler_a_topic() -> None:
    assert set(HANDLERS) | set(RUN_HANDLERS) == set(TOPICS)
    assert not set(HANDLERS) & set(RUN_HANDLERS)
    assert all(callable(handler) for handler in (*HANDLERS.values(), *RUN_HANDLERS.values()))


def test_a_batch_places_every_run_handler_once() -> None:
    placed = [*RUNS_FIRST, *RUNS_LAST]
    assert len(placed) == len(set(placed)) and set(placed) == set(RUN_HANDLERS.values())


def test_every_topic_feeds_a_registered_job() -> None:
    assert {topic.job for topic in TOPICS.values()} <= set(JOBS)
