"""The one settings object, read from the environment (docs/design.md §6).

A missing or malformed required setting fails at start-up with an error that names it.
Secrets are held in `Secret` so that neither `repr` nor logging can print them.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass, field

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./valuehealth.db"
DEFAULT_API_VERSION = "2026-10"
DEFAULT_ADMIN_ORIGIN = "https://{shop}"
# Shopify documents no cap for HTTPS webhook bodies; its staff put large ones "upwards of a
# megabyte" and its EventBridge channel now carries up to 1,000,000 bytes. 5 MiB is five
# times that, and still bounds what one request can make the web process hold (docs/design.md).
DEFAULT_WEBHOOK_MAX_BODY_BYTES = 5 * 1024 * 1024
MIN_WEBHOOK_MAX_BODY_BYTES = 1_000_000


IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class SettingsError(RuntimeError):
    """Raised at start-up when a setting is missing or malformed; names the variable."""


class Secret:
    """A string that never shows itself in reprs, f-strings or logs."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def get(self) -> str:
        return self._value

    def __bool__(self) -> bool:
        return bool(self._value)

    def __repr__(self) -> str:
        return "Secret('**********')" if self._value else "Secret('')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


@dataclass(frozen=True)
class Settings:
    api_key: str
    api_secret: Secret
    token_encryption_key: Secret
    api_secret_previous: Secret = field(default_factory=lambda: Secret(""))
    database_url: str = DEFAULT_DATABASE_URL
    redis_url: str | None = None
    api_version: str = DEFAULT_API_VERSION
    admin_origin: str = DEFAULT_ADMIN_ORIGIN
    app_url: str = "http://localhost:8000"
    # Operational knobs with safe defaults; not part of the public contract.
    sweeper_after_seconds: int = 180
    inbox_retention_days: int = 30
    recompute_debounce_seconds: int = 30
    log_level: str = "INFO"
    webhook_max_body_bytes: int = DEFAULT_WEBHOOK_MAX_BODY_BYTES
    # Proxies whose X-Forwarded-For is believed (docs/operations.md); none by default.
    trusted_proxies: tuple[IPNetwork, ...] = ()
    # `GET /metrics` needs this bearer token; unset, the route answers 404.
    metrics_token: Secret = field(default_factory=lambda: Secret(""))
    # The worker's Prometheus endpoint on 127.0.0.1; unset, the worker serves none.
    metrics_port: int | None = None
    # Monthly review email: smtp[s]://[user:password@]host[:port][?starttls=1]; unset: no email.
    smtp_url: Secret = field(default_factory=lambda: Secret(""))
    mail_from: str = "Valuehealth <no-reply@localhost>"

    @property
    def webhook_secrets(self) -> list[bytes]:
        """Current secret first, then the previous one during a rotation."""
        secrets = [self.api_secret.get().encode()]
        if self.api_secret_previous:
            secrets.append(self.api_secret_previous.get().encode())
        return secrets

    def admin_url(self, shop: str) -> str:
        """Base URL of a shop's admin, e.g. https://x.myshopify.com (tests point it elsewhere)."""
        return self.admin_origin.replace("{shop}", shop).rstrip("/")

    @property
    def uses_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        api_key = _required(env, "SHOPIFY_API_KEY")
        api_secret = _required(env, "SHOPIFY_API_SECRET")
        key = _required(env, "TOKEN_ENCRYPTION_KEY")
        _check_fernet_key(key)
        database_url = env.get("DATABASE_URL", DEFAULT_DATABASE_URL).strip()
        if "://" not in database_url:
            raise SettingsError(f"DATABASE_URL is malformed: expected a URL, got {database_url!r}")
        database_url = _async_driver(database_url)
        redis_url = env.get("REDIS_URL", "").strip() or None
        if redis_url and not redis_url.startswith(("redis://", "rediss://", "unix://")):
            raise SettingsError("REDIS_URL is malformed: expected redis://host:port[/db]")
        api_version = env.get("SHOPIFY_API_VERSION", DEFAULT_API_VERSION).strip()
        if not _is_api_version(api_version):
            raise SettingsError(f"SHOPIFY_API_VERSION is malformed: {api_version!r} (YYYY-MM)")
        admin_origin = env.get("SHOPIFY_ADMIN_ORIGIN", DEFAULT_ADMIN_ORIGIN).strip()
        if not admin_origin.startswith(("http://", "https://")):
            raise SettingsError("SHOPIFY_ADMIN_ORIGIN is malformed: expected http(s)://…")
        app_url = env.get("APP_URL", "http://localhost:8000").strip().rstrip("/")
        if not app_url.startswith(("http://", "https://")):
            raise SettingsError("APP_URL is malformed: expected http(s)://…")
        return cls(
            api_key=api_key,
            api_secret=Secret(api_secret),
            api_secret_previous=Secret(env.get("SHOPIFY_API_SECRET_PREVIOUS", "").strip()),
            token_encryption_key=Secret(key),
            database_url=database_url,
            redis_url=redis_url,
            api_version=api_version,
            admin_origin=admin_origin,
            app_url=app_url,
            log_level=env.get("LOG_LEVEL", "INFO").upper(),
            trusted_proxies=_networks(env, "TRUSTED_PROXIES"),
            metrics_token=Secret(env.get("METRICS_TOKEN", "").strip()),
            sweeper_after_seconds=_int_setting(env, "SWEEPER_AFTER_SECONDS", 180, minimum=1),
            metrics_port=_int_setting(env, "METRICS_PORT", 0, minimum=1) or None,
            webhook_max_body_bytes=_int_setting(
                env,
                "WEBHOOK_MAX_BODY_BYTES",
                DEFAULT_WEBHOOK_MAX_BODY_BYTES,
                minimum=MIN_WEBHOOK_MAX_BODY_BYTES,
            ),
            smtp_url=Secret(_smtp_url(env.get("SMTP_URL", "").strip())),
            mail_from=env.get("MAIL_FROM", "").strip() or "Valuehealth <no-reply@localhost>",
        )


def _smtp_url(url: str) -> str:
    if url and not url.startswith(("smtp://", "smtps://")):
        raise SettingsError("SMTP_URL is malformed: expected smtp[s]://[user:password@]host[:port]")
    return url


def _required(env: Mapping[str, str], name: str) -> str:
    value = env.get(name, "").strip()
    if not value:
        raise SettingsError(f"{name} is required but not set")
    return value


def _networks(env: Mapping[str, str], name: str) -> tuple[IPNetwork, ...]:
    from plugin.access_log import parse_networks

    try:
        return parse_networks(env.get(name, ""))
    except ValueError as exc:
        raise SettingsError(f"{name} is malformed: {exc}") from None


def _int_setting(env: Mapping[str, str], name: str, default: int, *, minimum: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 18 or int(raw) < minimum:
        # (a port above 65535 is refused by the bind, naming the port)
        raise SettingsError(f"{name} is malformed: expected a whole number of at least {minimum}")
    return int(raw)


def _check_fernet_key(key: str) -> None:
    try:
        raw = base64.urlsafe_b64decode(key.encode())
    except (binascii.Error, ValueError) as exc:
        raise SettingsError("TOKEN_ENCRYPTION_KEY is malformed: not url-safe base64") from exc
    if len(raw) != 32:
        raise SettingsError(
            "TOKEN_ENCRYPTION_KEY is malformed: must be 32 url-safe base64-encoded bytes "
            "(python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key())')"
        )


def _is_api_version(value: str) -> bool:
    parts = value.split("-")
    return (
        len(parts) == 2
        and len(parts[0]) == 4
        and parts[0].isdigit()
        and parts[1] in {"01", "04", "07", "10"}
    ) or value == "unstable"


def _async_driver(url: str) -> str:
    """Accept the usual URL spellings and pick the async driver we ship."""
    for plain, async_ in (
        ("postgres://", "postgresql+asyncpg://"),
        ("postgresql://", "postgresql+asyncpg://"),
        ("sqlite://", "sqlite+aiosqlite://"),
    ):
        if url.startswith(plain):
            return async_ + url[len(plain) :]
    return url
