"""The scopes the app configuration requests are exactly what its configured features need,
and a shop's granted scopes tell which features work for it."""

from __future__ import annotations

from plugin.shopify.scopes import (
    FEATURES,
    UNSCOPED_TOPICS,
    available_features,
    missing_scopes,
    parse_scopes,
    required_scopes,
)
from plugin.topics import TOPICS
from tests.test_topics import app_config


def configured_features() -> list:
    config = app_config()
    return [f for f in FEATURES if f.config_table is None or f.config_table in config]


def requested_scopes() -> set[str]:
    raw = app_config()["access_scopes"]["scopes"]
    return {scope.strip() for scope in raw.split(",") if scope.strip()}


def test_the_configuration_requests_every_scope_its_features_need_and_no_other() -> None:
    assert requested_scopes() == set(required_scopes(configured_features()))


def test_the_app_proxy_is_configured_so_write_app_proxy_is_requested() -> None:
    assert "app_proxy" in app_config()
    assert "app_proxy" in {f.name for f in configured_features()}
    assert "write_app_proxy" in requested_scopes()


def test_each_feature_is_named_once() -> None:
    names = [feature.name for feature in FEATURES]
    assert len(names) == len(set(names))


def test_every_subscribed_topic_is_covered_by_a_requested_feature_or_needs_no_scope() -> None:
    covered = {topic for f in configured_features() for topic in f.topics}
    assert set(TOPICS) - UNSCOPED_TOPICS == covered
    assert covered.isdisjoint(UNSCOPED_TOPICS)


def test_write_scopes_imply_read_scopes() -> None:
    assert parse_scopes("write_orders, read_customers,") == {
        "write_orders",
        "read_orders",
        "read_customers",
    }


def test_granted_scopes_tell_which_features_a_shop_can_use() -> None:
    everything = ",".join(sorted(requested_scopes()))
    assert {f.name for f in available_features(everything)} == {f.name for f in FEATURES}
    without_proxy = everything.replace("write_app_proxy", "")
    names = {f.name for f in available_features(without_proxy)}
    assert "app_proxy" not in names and "subscription_contracts" in names
    proxy = next(f for f in FEATURES if f.name == "app_proxy")
    assert missing_scopes(proxy, without_proxy) == {"write_app_proxy"}
    assert available_features("") == ()
