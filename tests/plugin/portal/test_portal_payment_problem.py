"""A failed payment end to end, as the subscriber meets it: the failure webhook records the
Flow trigger once, the subscription page (and its JSON) says what happened and what comes next,
its button has Shopify email a secure card-update link (the exact document, rate-limited,
Shopify's user errors shown), and once a retry is paid the notice is gone."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, time, timedelta

import httpx
import pytest
from sqlalchemy import func, select, update

from plugin.billing.run import bill_shop
from plugin.flow.catalogue import PAYMENT_FAILED
from plugin.models import Contract, FlowTriggerEvent
from plugin.models.self_service import SelfServiceAction
from plugin.queue import InProcessQueue
from plugin.runtime import Runtime
from plugin.shopify.contract_edits import SEND_UPDATE_EMAIL_MUTATION
from tests.plugin.portal.portal_helpers import HTML, bearer, form_body, form_token_of, signed
from tests.support.fake_shopify import FakeShopify
from tests.support.payloads import Event, deliver
from tests.support.self_service import SelfServiceWorld, self_service_world
from tests.support.signing import SHOP

DAY = timedelta(days=1)


@pytest.fixture(autouse=True)
async def settled(rt: Runtime) -> AsyncIterator[None]:
    """Webhooks queue jobs (Flow firings, recomputes): done before the tables are emptied."""
    yield
    await settle(rt)


async def settle(rt: Runtime) -> None:
    """Let the jobs a delivery queued finish (SQLite takes one writer at a time)."""
    if isinstance(rt.queue, InProcessQueue):
        await asyncio.wait_for(rt.queue.drain(), timeout=60)


async def deliver_settled(rt: Runtime, event: Event) -> None:
    await deliver(rt, event)
    await settle(rt)


BUTTON = "Send me a secure link to update my card"
METHOD = "gid://shopify/CustomerPaymentMethod/b7cc6e3267aace169e516ed48be72dff"


async def failed_payment(
    rt: Runtime, fake: FakeShopify, code: str
) -> tuple[SelfServiceWorld, date]:
    """The world's contract billed on its due day, and Shopify's failure webhook for it
    delivered twice (a redelivery); the due day."""
    fake.scope += ",write_customers"  # what shopify.app.toml requests (the mutation needs it)
    world = await self_service_world(rt, fake)
    due_at = datetime.fromisoformat(fake.contracts[SHOP][world.gid].next_billing_date or "")
    async with rt.sessionmaker.begin() as session:
        await session.execute(
            update(Contract)
            .where(Contract.id == world.contract_pk)
            .values(next_billing_date=due_at.date())
        )
    fake.decline(world.gid, code)
    await bill_shop(rt, SHOP, due_at.date())
    [(topic, body)] = fake.attempt_events()
    at = datetime.combine(due_at.date(), time(13), tzinfo=UTC)
    await deliver_settled(rt, Event(topic, body, at=at))
    await deliver_settled(rt, Event(topic, body, at=at + timedelta(minutes=3)))
    return world, due_at.date()


async def page(client: httpx.AsyncClient, world: SelfServiceWorld) -> httpx.Response:
    return await client.get(
        signed(f"/proxy/subscriptions/{world.contract_id}", world.customer_id), headers=HTML
    )


async def press_button(client: httpx.AsyncClient, world: SelfServiceWorld) -> httpx.Response:
    shown = await page(client, world)
    body = {"_ft": form_token_of(shown), "action": "payment_update_email"}
    return await client.post(
        signed(f"/proxy/subscriptions/{world.contract_id}", world.customer_id), **form_body(body)
    )


def email_requests(fake: FakeShopify) -> list[dict[str, object]]:
    return [
        r.json()
        for r in fake.requests_to("/graphql.json")
        if "customerPaymentMethodSendUpdateEmail(" in r.json()["query"]
    ]


async def test_a_failed_payment_from_webhook_to_page_to_card_update_email_to_recovery(
    rt: Runtime, fake: FakeShopify, shop_client: httpx.AsyncClient
) -> None:
    world, due = await failed_payment(rt, fake, "expired_payment_method")

    # The Flow trigger: once, though the webhook came twice.
    async with rt.sessionmaker() as session:
        fired = await session.scalar(
            select(func.count())
            .select_from(FlowTriggerEvent)
            .where(FlowTriggerEvent.handle == PAYMENT_FAILED.handle)
        )
    assert fired == 1

    # The page says it plainly, with the button.
    shown = await page(shop_client, world)
    assert shown.status_code == 200
    assert (
        f'<p id="vh-payment-failed">Your payment on {due.isoformat()} didn&#39;t go through '
        "(your card has expired).</p>"
    ) in shown.text
    assert "We can&#39;t try again until your card is updated." in shown.text
    assert BUTTON in shown.text

    # Shopify refuses first (its user error is shown, nothing sent), then sends.
    fake.refuse_next("customerPaymentMethodSendUpdateEmail", "Payment method is revoked")
    refused = await press_button(shop_client, world)
    assert refused.status_code == 409
    assert "We could not send the link: Payment method is revoked." in refused.text
    assert fake.payment_update_emails == []
    sent = await press_button(shop_client, world)
    assert sent.status_code == 200
    assert "sent a secure link to update your card" in sent.text
    assert email_requests(fake)[-1] == {
        "query": SEND_UPDATE_EMAIL_MUTATION,
        "variables": {"customerPaymentMethodId": METHOD},
    }
    assert fake.payment_update_emails == [(SHOP, METHOD)]

    # A second click right away sends nothing more.
    again = await press_button(shop_client, world)
    assert again.status_code == 429
    assert "check your inbox" in again.text
    assert len(fake.payment_update_emails) == 1
    async with rt.sessionmaker() as session:
        outcomes = list(
            await session.scalars(
                select(SelfServiceAction.outcome)
                .where(SelfServiceAction.action == "payment_update_email")
                .order_by(SelfServiceAction.id)
            )
        )
    assert outcomes == ["refused", "done"]

    # The customer updates the card; the next run's retry is paid: the notice is gone.
    updated_at = datetime.combine(due + DAY, time(9), tzinfo=UTC)
    customer = {
        "customer_id": world.customer_id,
        "admin_graphql_api_customer_id": f"gid://shopify/Customer/{world.customer_id}",
    }
    await deliver_settled(rt, Event("customer_payment_methods/update", customer, at=updated_at))
    await bill_shop(rt, SHOP, due + DAY)
    for topic, body in fake.attempt_events():
        await deliver_settled(rt, Event(topic, body, at=updated_at + timedelta(hours=4)))
    after = await page(shop_client, world)
    assert after.status_code == 200
    assert 'id="vh-payment"' not in after.text and BUTTON not in after.text


async def test_a_retry_to_come_is_dated_and_the_json_says_the_same(
    rt: Runtime, fake: FakeShopify, shop_client: httpx.AsyncClient
) -> None:
    world, due = await failed_payment(rt, fake, "insufficient_funds")
    url = f"/api/portal/subscriptions/{world.contract_id}"

    shown = (await shop_client.get(url, headers=bearer(world.customer_id))).json()

    assert shown["payment_problem"] == {
        "failed_on": due.isoformat(),
        "reason": "there were not enough funds on the card",
        "next_retry_on": (due + DAY).isoformat(),
        "needs_new_card": False,
        "final_action": "pause",
        "message": f"Your payment on {due.isoformat()} didn't go through (there were not enough "
        f"funds on the card). We'll try again on {(due + DAY).isoformat()}.",
    }
    sent = await shop_client.post(
        url, json={"action": "payment_update_email"}, headers=bearer(world.customer_id)
    )
    assert sent.status_code == 200
    assert sent.json()["done"].startswith("We've sent a secure link")
    assert sent.json()["subscription"]["payment_problem"]["next_retry_on"] == (
        (due + DAY).isoformat()
    )
    again = await shop_client.post(
        url, json={"action": "payment_update_email"}, headers=bearer(world.customer_id)
    )
    assert again.status_code == 429
    assert again.json()["error"]["code"] == "rate_limited"


async def test_without_a_payment_problem_there_is_no_notice_and_no_email(
    rt: Runtime, fake: FakeShopify, shop_client: httpx.AsyncClient
) -> None:
    world = await self_service_world(rt, fake)
    url = f"/api/portal/subscriptions/{world.contract_id}"

    shown = (await shop_client.get(url, headers=bearer(world.customer_id))).json()
    assert shown["payment_problem"] is None
    assert BUTTON not in (await page(shop_client, world)).text
    refused = await shop_client.post(
        url, json={"action": "payment_update_email"}, headers=bearer(world.customer_id)
    )
    assert refused.status_code == 422
    assert "up to date" in refused.json()["error"]["message"]
    assert email_requests(fake) == []
