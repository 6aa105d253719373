import pytest

from plugin.settings import Settings, SettingsError
from tests.support.signing import API_KEY, API_SECRET, TOKEN_KEY

BASE = {
    "SHOPIFY_API_KEY": API_KEY,
    "SHOPIFY_API_SECRET": API_SECRET,
    "TOKEN_ENCRYPTION_KEY": TOKEN_KEY,
}


@pytest.mark.parametrize("name", ["SHOPIFY_API_KEY", "SHOPIFY_API_SECRET", "TOKEN_ENCRYPTION_KEY"])
def test_missing_required_setting_is_named(name: str) -> None:
    env = {k: v for k, v in BASE.items() if k != name}
    with pytest.raises(SettingsError, match=name):
        Settings.from_env(env)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("TOKEN_ENCRYPTION_KEY", "short"),
        ("SHOPIFY_API_VERSION", "2026-13"),
        ("REDIS_URL", "http://nope"),
        ("DATABASE_URL", "not a url"),
        ("APP_URL", "ftp://x"),
    ],
)
def test_malformed_setting_is_named(name: str, value: str) -> None:
    with pytest.raises(SettingsError, match=name):
        Settings.from_env({**BASE, name: value})


def test_defaults_follow_the_contract() -> None:
    settings = Settings.from_env(BASE)
    assert settings.database_url == "sqlite+aiosqlite:///./valuehealth.db"
    assert settings.redis_url is None
    assert settings.api_version == "2026-10"
    assert settings.admin_url("x.myshopify.com") == "https://x.myshopify.com"


def test_secrets_never_show_in_repr() -> None:
    settings = Settings.from_env({**BASE, "SHOPIFY_API_SECRET_PREVIOUS": "old-secret-value"})
    text = repr(settings) + str(settings)
    assert API_SECRET not in text
    assert TOKEN_KEY not in text
    assert "old-secret-value" not in text
    assert settings.webhook_secrets == [API_SECRET.encode(), b"old-secret-value"]


def test_plain_database_urls_get_async_drivers() -> None:
    s = Settings.from_env({**BASE, "DATABASE_URL": "postgres://u@h/db"})
    assert s.database_url == "postgresql+asyncpg://u@h/db"
