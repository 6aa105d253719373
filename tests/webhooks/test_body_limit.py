"""The webhook body is bounded: no signature header is refused before a byte of the body is
read, and a body past the limit is refused with 413 as soon as the limit is crossed, without
reading (buffering) the rest."""

from __future__ import annotations

from typing import Any

import pytest

from plugin.runtime import Runtime
from plugin.settings import DEFAULT_WEBHOOK_MAX_BODY_BYTES, SettingsError
from tests.conftest import make_settings
from tests.support.signing import signed_webhook, webhook_headers
from tests.webhooks.conftest import PAYLOAD, TOPIC, Enqueued, assert_nothing_stored
from webhooks.routes import WebhookEndpoint

CHUNK = 64 * 1024


@pytest.fixture
def db_url(sqlite_url: str) -> str:
    return sqlite_url


class Stream:
    """An ASGI receive() handing out `chunks` body chunks of 64 KiB; counts what was read."""

    def __init__(self, chunks: int, first: bytes = b"{") -> None:
        self.chunks = chunks
        self.read = 0
        self.first = first

    async def __call__(self) -> dict[str, Any]:
        self.read += 1
        body = self.first if self.read == 1 else b" " * CHUNK
        return {"type": "http.request", "body": body, "more_body": self.read < self.chunks}


async def call(runtime: Runtime, headers: dict[str, str], stream: Stream) -> tuple[int, bytes]:
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/webhooks",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        "state": {"runtime": runtime},
    }
    await WebhookEndpoint()(scope, stream, send)
    return sent[0]["status"], sent[1]["body"]


async def test_no_signature_header_is_refused_before_reading_the_body(
    wh_runtime: Runtime, enqueued: Enqueued
) -> None:
    stream = Stream(chunks=3200)  # a 200 MB body
    status, _ = await call(wh_runtime, {"X-Shopify-Topic": TOPIC}, stream)
    assert status == 401
    assert stream.read == 0
    await assert_nothing_stored(wh_runtime, enqueued)


async def test_a_body_past_the_limit_is_413_without_reading_the_rest(
    wh_runtime: Runtime, enqueued: Enqueued
) -> None:
    limit = wh_runtime.settings.webhook_max_body_bytes
    _, headers = signed_webhook(TOPIC, PAYLOAD)
    stream = Stream(chunks=3200)
    status, body = await call(wh_runtime, headers, stream)
    assert status == 413
    assert b"limit" in body
    # One byte, then 64 KiB chunks: read up to the first chunk past the limit, not one more.
    assert stream.read == limit // CHUNK + 1
    await assert_nothing_stored(wh_runtime, enqueued)


async def test_a_declared_length_past_the_limit_is_413_before_reading(
    wh_runtime: Runtime, enqueued: Enqueued
) -> None:
    limit = wh_runtime.settings.webhook_max_body_bytes
    _, headers = signed_webhook(TOPIC, PAYLOAD)
    stream = Stream(chunks=3200)
    status, _ = await call(wh_runtime, {**headers, "Content-Length": str(limit + 1)}, stream)
    assert status == 413
    assert stream.read == 0


async def test_a_body_at_the_limit_is_read_whole(wh_runtime: Runtime) -> None:
    limit = wh_runtime.settings.webhook_max_body_bytes
    body, _ = signed_webhook(TOPIC, PAYLOAD)
    padded = body + b" " * (limit - len(body))  # JSON allows trailing whitespace
    headers = webhook_headers(TOPIC, padded)

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": padded, "more_body": False}

    status, answer = await call(wh_runtime, headers, receive)  # type: ignore[arg-type]
    assert (status, answer) == (200, b'{"status":"accepted"}')


def test_the_limit_is_a_setting_with_a_documented_default() -> None:
    assert DEFAULT_WEBHOOK_MAX_BODY_BYTES == 5 * 1024 * 1024
    settings = make_settings("sqlite://", WEBHOOK_MAX_BODY_BYTES="2000000")
    assert settings.webhook_max_body_bytes == 2_000_000


@pytest.mark.parametrize("raw", ["abc", "999", "²", "-1"])
def test_a_malformed_or_too_small_limit_stops_start_up(raw: str) -> None:
    with pytest.raises(SettingsError, match="WEBHOOK_MAX_BODY_BYTES"):
        make_settings("sqlite://", WEBHOOK_MAX_BODY_BYTES=raw)
