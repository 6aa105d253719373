"""Logs across a whole flow (install with token exchange, webhooks, survey answers on every
channel, admin reads) hold no credential or contact, and carry a correlation id from a
webhook's request to the shop's inbox job it woke.

The handler is the one `valuehealth serve` and `worker` install (configure_logging: JSON lines,
redacting filter), at the production level, INFO.
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest

from plugin.app import build_app_runtime, create_app
from plugin.db.transaction import transaction
from plugin.inbox import PROCESS_INBOX
from plugin.logging_setup import configure_logging
from plugin.models.base import utcnow
from plugin.queue import InProcessQueue
from plugin.runtime import Runtime
from plugin.surveys.links import make_token
from tests.conftest import empty_tables, make_settings
from tests.plugin.portal.portal_helpers import bearer as customer_bearer
from tests.plugin.portal.portal_helpers import signed
from tests.plugin.surveys.survey_factories import add_invitation, world
from tests.support import payloads
from tests.support.asgi import asgi_client
from tests.support.fake_shopify import FakeShopify
from tests.support.signing import API_SECRET, SHOP, TOKEN_KEY, session_token, signed_webhook

EMAIL = "ada.lovelace@example.com"


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    root = logging.getLogger()
    saved_handlers, saved_level = list(root.handlers), root.level
    root.handlers[:] = []
    buffer = io.StringIO()
    configure_logging("INFO", stream=buffer)
    try:
        yield buffer
    finally:
        root.handlers[:] = saved_handlers
        root.setLevel(saved_level)


@pytest.fixture
def fake() -> FakeShopify:
    return FakeShopify()


@pytest.fixture
async def flow_runtime(pg_url: str, fake: FakeShopify) -> AsyncIterator[Runtime]:
    rt = await build_app_runtime(make_settings(pg_url), http=fake.client())
    try:
        yield rt
    finally:
        await empty_tables(rt)
        await rt.close()


async def settle(runtime: Runtime) -> None:
    assert isinstance(runtime.queue, InProcessQueue)
    await runtime.queue.drain()
    assert runtime.queue.failures == []


async def test_a_full_flow_logs_no_secret_and_correlates_request_and_job(
    flow_runtime: Runtime, fake: FakeShopify, captured: io.StringIO
) -> None:
    rt = flow_runtime
    w = await world(rt)
    now = utcnow()
    async with transaction(rt.sessionmaker, None) as tx:
        invitation = await add_invitation(
            tx.session, w.shop_id, w.subscriber_id, sent_at=now, expires_at=now + timedelta(days=9)
        )
    link = make_token(
        rt.settings,
        invitation_id=invitation.id,
        shop_id=w.shop_id,
        customer_id=w.customer_id,
        expires_at=invitation.expires_at,
    )
    id_token = session_token()
    staff = {"Authorization": f"Bearer {id_token}"}
    customer = customer_bearer(w.customer_id)
    proxy_url = signed("/proxy/nps", w.customer_id)
    secrets: list[str] = [API_SECRET, TOKEN_KEY, id_token, link, EMAIL]
    secrets += [customer["Authorization"].split()[1], proxy_url.rsplit("signature=", 1)[1]]

    async with asgi_client(create_app(runtime=rt)) as client:
        # Install: the App Home's first open exchanges the id token for an offline token.
        home = await client.get(f"/app?shop={SHOP}&host=YWRtaW4&embedded=1&id_token={id_token}")
        assert home.status_code == 200
        # Webhooks: a customer's contact details, a data request, a contract.
        sent: list[tuple[str, dict[str, Any]]] = [
            ("customers/update", payloads.customer(w.customer_id, email=EMAIL)),
            ("customers/data_request", payloads.data_request(w.customer_id)),
            ("subscription_contracts/create", payloads.contract(880_777, w.customer_id)),
        ]
        for topic, payload in sent:
            body, headers = signed_webhook(topic, payload)
            answer = await client.post("/webhooks", content=body, headers=headers)
            assert answer.status_code == 200, answer.text
        refused = await client.post("/webhooks", content=json.dumps({"email": EMAIL}).encode())
        assert refused.status_code == 401
        await settle(rt)
        # Surveys: the signed link (page, then the answer), the app proxy, the extension API.
        assert (await client.get(f"/s/{link}?score=9")).status_code == 200
        assert (await client.post(f"/s/{link}", json={"score": 9})).status_code == 201
        await client.post(proxy_url, json={"score": 8}, headers={"Accept": "application/json"})
        await client.post("/api/portal/nps", json={"score": 7}, headers=customer)
        # Admin reads.
        for path in (
            "/api/admin/overview",
            "/api/admin/subscribers",
            f"/api/admin/subscribers/{w.customer_id}",
            "/api/admin/privacy/exports",
        ):
            assert (await client.get(path, headers=staff)).status_code == 200, path
        await settle(rt)

    secrets += fake.issued + list(fake.refresh_tokens)
    text = captured.getvalue()
    lines = [json.loads(line) for line in text.splitlines()]
    assert len(lines) > 20
    for secret in secrets:
        assert secret not in text
    assert "Bearer" not in text and "@example.com" not in text
    # The shop's inbox job runs under the id of the webhook request that woke it (one job drains
    # the deliveries of several requests, so it carries the first one's).
    webhook_ids = {
        line["request_id"]
        for line in lines
        if line.get("route") == "/webhooks" and line.get("status") == 200
    }
    job_ids = {line["request_id"] for line in lines if line.get("job") == PROCESS_INBOX}
    assert len(webhook_ids) == 3 and job_ids and job_ids <= webhook_ids


async def test_the_http_client_logs_no_request_url(captured: io.StringIO) -> None:
    # httpx would log each request's full URL at INFO: a bulk result's signed link among them.
    signed_link = "https://storage.example/bulk.jsonl?X-Goog-Signature=0123456789abcdef"
    transport = httpx.MockTransport(lambda request: httpx.Response(200, text="{}"))
    async with httpx.AsyncClient(transport=transport) as client:
        assert (await client.get(signed_link)).status_code == 200
    logging.getLogger("plugin").info("after the request")
    lines = captured.getvalue()
    assert "after the request" in lines  # the handler is live
    assert "storage.example" not in lines and "0123456789abcdef" not in lines
