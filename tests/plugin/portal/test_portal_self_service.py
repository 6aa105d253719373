"""Subscriber self-service and the cancel flow on the app proxy pages, against the fake Shopify:
each change carried out and recorded as the subscriber's, refusals shown and recorded with the
contract unchanged, nobody reaching another subscriber's contract."""

from __future__ import annotations

import re
from typing import Any

import httpx
from sqlalchemy import select

from plugin.models import Cancellation, Contract, ContractChange
from plugin.models.self_service import CancelFlow, CancelFlowStep, SelfServiceAction
from plugin.runtime import Runtime
from tests.plugin.portal.portal_helpers import HTML, form_body, form_token_of, signed
from tests.support.fake_shopify import FakeShopify
from tests.support.self_service import SelfServiceWorld, self_service_world
from tests.support.signing import SHOP


async def page(
    shop_client: httpx.AsyncClient, world: SelfServiceWorld, path: str = ""
) -> httpx.Response:
    return await shop_client.get(
        signed(f"/proxy/subscriptions/{world.contract_id}{path}", world.customer_id), headers=HTML
    )


async def change(
    shop_client: httpx.AsyncClient, world: SelfServiceWorld, **fields: Any
) -> httpx.Response:
    shown = await page(shop_client, world)
    body = {"_ft": form_token_of(shown), **{k: str(v) for k, v in fields.items()}}
    return await shop_client.post(
        signed(f"/proxy/subscriptions/{world.contract_id}", world.customer_id), **form_body(body)
    )


async def rows(rt: Runtime, model: Any) -> list[Any]:
    async with rt.sessionmaker() as session:
        return list(await session.scalars(select(model).order_by(model.id)))


def next_cycle(response: httpx.Response) -> int:
    found = re.search(r'name="cycle" value="(\d+)"', response.text)
    assert found
    return int(found.group(1))


async def test_the_page_shows_the_next_delivery_and_the_plans_frequencies(
    rt: Runtime, fake: FakeShopify, shop_client: httpx.AsyncClient
) -> None:
    world = await self_service_world(rt, fake)
    response = await page(shop_client, world)
    assert response.status_code == 200
    date = fake.contracts[SHOP][world.gid].next_billing_date[:10]
    assert f'<p id="vh-next">{date}</p>' in response.text
    assert "Every 2 months" in response.text
    assert next_cycle(response) == 4


async def test_skipping_the_next_delivery_skips_it_in_shopify_and_counts_as_self_serve(
    rt: Runtime, fake: FakeShopify, shop_client: httpx.AsyncClient
) -> None:
    world = await self_service_world(rt, fake)
    response = await change(shop_client, world, action="skip", cycle=4)
    assert response.status_code == 200
    assert "is skipped" in response.text
    assert fake.changes == [("skip", world.gid, {"index": 4})]
    assert next_cycle(response) == 5  # the page now shows the following delivery
    [action] = await rows(rt, SelfServiceAction)
    assert (action.action, action.outcome, action.channel) == ("skip", "done", "proxy")
    [recorded] = await rows(rt, ContractChange)
    assert (recorded.kind, recorded.source) == ("skip", "subscriber")


async def test_a_skip_of_a_delivery_that_is_no_longer_next_is_refused_as_changed_meanwhile(
    rt: Runtime, fake: FakeShopify, shop_client: httpx.AsyncClient
) -> None:
    world = await self_service_world(rt, fake)
    shown = await page(shop_client, world)
    fake.contracts[SHOP][world.gid].skipped.add(4)  # skipped elsewhere meanwhile
    response = await shop_client.post(
        signed(f"/proxy/subscriptions/{world.contract_id}", world.customer_id),
        **form_body({"_ft": form_token_of(shown), "action": "skip", "cycle": "4"}),
    )
    assert response.status_code == 409
    assert "changed meanwhile" in response.text
    assert fake.changes == []


async def test_changing_the_frequency_moves_the_contract_to_the_other_plan(
    rt: Runtime, fake: FakeShopify, shop_client: httpx.AsyncClient
) -> None:
    world = await self_service_world(rt, fake)
    response = await change(shop_client, world, action="frequency", plan_id=7002)
    assert response.status_code == 200
    assert "every 2 months" in response.text
    assert fake.contracts[SHOP][world.gid].delivery == ("MONTH", 2)
    [recorded] = await rows(rt, ContractChange)
    assert (recorded.kind, recorded.source) == ("frequency_change", "subscriber")


async def test_a_frequency_outside_the_plans_options_is_refused_without_a_call(
    rt: Runtime, fake: FakeShopify, shop_client: httpx.AsyncClient
) -> None:
    world = await self_service_world(rt, fake)
    response = await change(shop_client, world, action="frequency", plan_id=9999)
    assert response.status_code == 422
    assert "Choose one of the frequencies offered." in response.text
    assert fake.changes == []


async def test_pause_then_resume(
    rt: Runtime, fake: FakeShopify, shop_client: httpx.AsyncClient
) -> None:
    world = await self_service_world(rt, fake)
    paused = await change(shop_client, world, action="pause")
    assert "Your subscription is paused" in paused.text
    assert "Resume subscription" in paused.text
    resumed = await change(shop_client, world, action="resume")
    assert "active again" in resumed.text
    assert [c[0] for c in fake.changes] == ["pause", "activate"]
    kinds = [(c.kind, c.source) for c in await rows(rt, ContractChange)]
    assert kinds == [("pause", "subscriber"), ("resume", "subscriber")]


async def test_a_quantity_change_and_a_refused_quantity(
    rt: Runtime, fake: FakeShopify, shop_client: httpx.AsyncClient
) -> None:
    world = await self_service_world(rt, fake)
    assert (
        await change(shop_client, world, action="quantity", line=1, quantity=3)
    ).status_code == 200
    assert fake.contracts[SHOP][world.gid].lines[0].quantity == 3
    refused = await change(shop_client, world, action="quantity", line=1, quantity=0)
    assert refused.status_code == 422
    assert "Choose a quantity from 1 to 99." in refused.text
    assert fake.contracts[SHOP][world.gid].lines[0].quantity == 3


async def test_a_shopify_refusal_is_shown_recorded_and_changes_nothing(
    rt: Runtime, fake: FakeShopify, shop_client: httpx.AsyncClient
) -> None:
    world = await self_service_world(rt, fake)
    fake.change_contract_before_next_commit(world.gid)
    response = await change(shop_client, world, action="quantity", line=1, quantity=2)
    assert response.status_code == 409
    assert "changed by someone else" in response.text
    assert fake.contracts[SHOP][world.gid].lines[0].quantity == 1
    [action] = await rows(rt, SelfServiceAction)
    assert (action.outcome, action.error_code) == ("refused", "CONCURRENT_CONTRACT_UPDATE")
    assert await rows(rt, ContractChange) == []


async def test_another_subscribers_contract_is_not_found_and_shopify_is_not_asked(
    rt: Runtime, fake: FakeShopify, shop_client: httpx.AsyncClient
) -> None:
    world = await self_service_world(rt, fake)
    await self_service_world(rt, fake, customer_id=502, contract_id=602)
    fake.requests.clear()
    response = await shop_client.get(
        signed(f"/proxy/subscriptions/{world.contract_id}", 502), headers=HTML
    )
    assert response.status_code == 404
    assert fake.requests == []


async def test_an_unsigned_request_is_refused(
    rt: Runtime, fake: FakeShopify, shop_client: httpx.AsyncClient
) -> None:
    world = await self_service_world(rt, fake)
    query = signed(f"/proxy/subscriptions/{world.contract_id}", world.customer_id)
    response = await shop_client.get(query.replace("signature=", "signature=0"), headers=HTML)
    assert response.status_code == 401


async def test_the_list_links_to_each_live_subscription(
    rt: Runtime, fake: FakeShopify, shop_client: httpx.AsyncClient
) -> None:
    world = await self_service_world(rt, fake)
    response = await shop_client.get(
        signed("/proxy/subscriptions", world.customer_id), headers=HTML
    )
    assert f'href="/apps/valuehealth/subscriptions/{world.contract_id}"' in response.text


# ---- the cancel flow ----------------------------------------------------------------------


async def give_reason(
    shop_client: httpx.AsyncClient, world: SelfServiceWorld, reason: str = "too_expensive"
) -> httpx.Response:
    form = await shop_client.get(
        signed("/proxy/cancel", world.customer_id, {"contract_id": world.contract_id}),
        headers=HTML,
    )
    assert form.status_code == 200
    body = {"_ft": form_token_of(form), "contract_id": str(world.contract_id), "reason": reason}
    return await shop_client.post(signed("/proxy/cancel", world.customer_id), **form_body(body))


async def decide(
    shop_client: httpx.AsyncClient,
    world: SelfServiceWorld,
    offer_page: httpx.Response,
    decision: str,
) -> httpx.Response:
    found = re.search(r'action="/apps/valuehealth/cancel/(\d+)"', offer_page.text)
    assert found
    body = {"_ft": form_token_of(offer_page), "decision": decision}
    return await shop_client.post(
        signed(f"/proxy/cancel/{found.group(1)}", world.customer_id), **form_body(body)
    )


async def steps(rt: Runtime) -> list[str]:
    return [s.step for s in await rows(rt, CancelFlowStep)]


async def test_reason_offer_accept_skips_the_delivery_and_keeps_the_subscription(
    rt: Runtime, fake: FakeShopify, shop_client: httpx.AsyncClient
) -> None:
    world = await self_service_world(rt, fake, offers={"too_expensive": {"kind": "skip"}})
    offer = await give_reason(shop_client, world)
    assert offer.status_code == 200
    assert "Skip your next delivery instead" in offer.text
    done = await decide(shop_client, world, offer, "accept")
    assert "Thank you for staying" in done.text
    assert fake.changes == [("skip", world.gid, {"index": 4})]
    assert fake.contracts[SHOP][world.gid].status == "ACTIVE"
    [flow] = await rows(rt, CancelFlow)
    assert (flow.outcome, flow.holdout, flow.offer_shown) == ("accepted", False, True)
    assert await steps(rt) == ["reason_given", "offer_shown", "offer_accepted"]
    [answer] = await rows(rt, Cancellation)
    assert answer.reason_code == "too_expensive"


async def test_reason_offer_decline_cancels_the_contract(
    rt: Runtime, fake: FakeShopify, shop_client: httpx.AsyncClient
) -> None:
    world = await self_service_world(rt, fake, offers={"too_expensive": {"kind": "skip"}})
    offer = await give_reason(shop_client, world)
    done = await decide(shop_client, world, offer, "cancel")
    assert "Your subscription is cancelled" in done.text
    assert fake.changes == [("cancel", world.gid, {})]
    [flow] = await rows(rt, CancelFlow)
    assert flow.outcome == "cancelled"
    assert await steps(rt) == ["reason_given", "offer_shown", "cancel_confirmed"]


async def test_the_holdout_sees_no_offer_but_the_flow_keeps_the_offer_it_would_have_seen(
    rt: Runtime, fake: FakeShopify, shop_client: httpx.AsyncClient
) -> None:
    # A share of 1 puts everyone in the holdout (the API allows up to 0.5; tests may go further).
    world = await self_service_world(
        rt, fake, offers={"too_expensive": {"kind": "skip"}}, holdout_share=1.0
    )
    offer = await give_reason(shop_client, world)
    assert "Skip your next delivery" not in offer.text
    assert "Confirm cancellation" in offer.text
    [flow] = await rows(rt, CancelFlow)
    assert (flow.holdout, flow.offer_shown, flow.offer) == (True, False, {"kind": "skip"})
    assert await steps(rt) == ["reason_given", "held_out"]


async def test_a_refused_offer_leaves_the_contract_unchanged_and_the_flow_open(
    rt: Runtime, fake: FakeShopify, shop_client: httpx.AsyncClient
) -> None:
    world = await self_service_world(
        rt, fake, offers={"too_expensive": {"kind": "discount", "percentage": 20, "orders": 3}}
    )
    offer = await give_reason(shop_client, world)
    assert "20% off your next 3 orders if you stay" in offer.text
    fake.refuse_next("subscriptionDraftCommit", "Discount could not be applied")
    refused = await decide(shop_client, world, offer, "accept")
    assert refused.status_code == 409
    assert "Shopify could not make this change: Discount could not be applied." in refused.text
    assert fake.contracts[SHOP][world.gid].discounts == []
    [flow] = await rows(rt, CancelFlow)
    assert flow.outcome == "open"
    assert await steps(rt) == ["reason_given", "offer_shown", "offer_failed"]
    # The subscriber can still accept once Shopify agrees.
    accepted = await decide(shop_client, world, refused, "accept")
    assert "20% off your next 3 orders is applied." in accepted.text
    [discount] = fake.contracts[SHOP][world.gid].discounts
    assert (discount["value"], discount["recurringCycleLimit"]) == ({"percentage": 20}, 3)


async def test_a_pause_offer_moves_the_next_billing_date_by_its_months(
    rt: Runtime, fake: FakeShopify, shop_client: httpx.AsyncClient
) -> None:
    world = await self_service_world(
        rt, fake, offers={"too_expensive": {"kind": "pause", "months": 2}}
    )
    before = fake.contracts[SHOP][world.gid].next_billing_date
    offer = await give_reason(shop_client, world)
    await decide(shop_client, world, offer, "accept")
    after = fake.contracts[SHOP][world.gid].next_billing_date
    year, month = int(before[:4]), int(before[5:7]) + 2
    year, month = year + (month - 1) // 12, (month - 1) % 12 + 1
    assert after == f"{year:04d}-{month:02d}-{min(int(before[8:10]), 28):02d}T00:00:00Z"
    [flow] = await rows(rt, CancelFlow)
    assert flow.resume_on is not None and flow.resume_on.isoformat() == after[:10]


async def test_an_ended_subscription_starts_no_flow_and_a_huge_id_is_not_found(
    rt: Runtime, fake: FakeShopify, shop_client: httpx.AsyncClient
) -> None:
    world = await self_service_world(rt, fake, offers={"too_expensive": {"kind": "skip"}})
    form = await shop_client.get(
        signed("/proxy/cancel", world.customer_id, {"contract_id": world.contract_id}),
        headers=HTML,
    )
    async with rt.sessionmaker() as session:
        contract = await session.get_one(Contract, world.contract_pk)
        contract.status = "cancelled"
        await session.commit()
    body = {"_ft": form_token_of(form), "contract_id": str(world.contract_id), "reason": "budget"}
    response = await shop_client.post(signed("/proxy/cancel", world.customer_id), **form_body(body))
    assert response.status_code == 409
    assert "already ended" in response.text
    assert await rows(rt, CancelFlow) == []
    huge = await shop_client.get(signed(f"/proxy/subscriptions/{2**70}", world.customer_id))
    assert huge.status_code == 404
