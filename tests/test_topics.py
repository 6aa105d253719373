"""shopify.app.toml, plugin.topics and the domain handlers name exactly the same topics."""

from __future__ import annotations

import tomllib
from pathlib import Path

from plugin.domain.dispatch import HANDLERS
from plugin.topics import TOPICS
from workers.registry import JOBS

APP_TOML = Path(__file__).resolve().parents[1] / "shopify.app.toml"


def subscribed() -> tuple[list[str], list[str]]:
    """(regular topics, compliance topics) as the app config subscribes them."""
    config = tomllib.loads(APP_TOML.read_text())
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


def test_every_topic_has_a_handler_and_every_handler_a_topic() -> None:
    assert set(HANDLERS) == set(TOPICS)
    assert all(callable(handler) for handler in HANDLERS.values())


def test_every_topic_feeds_a_registered_job() -> None:
    assert {topic.job for topic in TOPICS.values()} <= set(JOBS)
