"""`/api/admin/save-offers`: offers per reason and the holdout, validated; the report's figures
from stored cancel flows, scoped to the token's shop."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from plugin.db.transaction import transaction
from plugin.models import Contract, Shop, Subscriber
from plugin.models.base import utcnow
from plugin.models.self_service import CancelFlow
from plugin.runtime import Runtime
from tests.support.signing import session_token

SHOP = "save-offers-api.myshopify.com"
OTHER = "someone-else.myshopify.com"
URL = "/api/admin/save-offers"


def auth(shop: str = SHOP) -> dict[str, str]:
    return {"Authorization": f"Bearer {session_token(shop=shop)}"}


async def put(client: httpx.AsyncClient, body: Any, shop: str = SHOP) -> httpx.Response:
    return await client.put(URL, json=body, headers=auth(shop))


async def test_offers_are_saved_per_reason_and_described(client: httpx.AsyncClient) -> None:
    response = await put(
        client,
        {
            "holdout_share": 0.2,
            "offers": {
                "too_expensive": {"kind": "discount", "percentage": 15, "orders": 2, "x": 1},
                "deliveries_too_often": {"kind": "cadence"},
                "taking_a_break": {"kind": "pause", "months": 3},
                "budget": None,
            },
        },
    )
    assert response.status_code == 200, response.text
    body = (await client.get(URL, headers=auth())).json()
    assert body["holdout_share"] == 0.2
    offers = {r["code"]: (r["offer"], r["offer_text"]) for r in body["reasons"]}
    assert offers["too_expensive"] == (
        {"kind": "discount", "percentage": 15, "orders": 2},
        "15% off your next 2 orders if you stay",
    )
    assert offers["taking_a_break"][1] == "Pause for 3 months instead"
    assert offers["budget"] == (None, "No offer")
    assert body["report"]["rows"] == []
    assert "not staying" in body["definitions"]["accepted"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (
            {"offers": {"too_expensive": {"kind": "pause", "months": 4}}},
            "offers.too_expensive.months",
        ),
        ({"offers": {"too_expensive": {"kind": "gift"}}}, "offers.too_expensive.kind"),
        ({"offers": {"not_a_reason": {"kind": "skip"}}}, "offers.not_a_reason"),
        (
            {"offers": {"too_expensive": {"kind": "discount", "percentage": 0, "orders": 1}}},
            "offers.too_expensive.percentage",
        ),
        ({"holdout_share": 0.9}, "holdout_share"),
        ({"holdout_share": True}, "holdout_share"),
        ([1, 2], "body"),
    ],
)
async def test_bad_input_is_refused_naming_the_field_and_changes_nothing(
    client: httpx.AsyncClient, body: Any, field: str
) -> None:
    await put(client, {"offers": {"too_expensive": {"kind": "skip"}}, "holdout_share": 0.1})
    response = await put(
        client,
        {**body, "holdout_share": 0.3} if isinstance(body, dict) and "offers" in body else body,
    )
    assert response.status_code == 422
    assert response.json()["error"]["field"] == field
    after = (await client.get(URL, headers=auth())).json()
    assert after["holdout_share"] == 0.1
    assert next(r for r in after["reasons"] if r["code"] == "too_expensive")["offer"] == {
        "kind": "skip"
    }


async def test_the_report_counts_flows_of_this_shop_only_with_their_save_rate(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    await put(client, {"offers": {"too_expensive": {"kind": "skip"}}})
    await put(client, {"offers": {"too_expensive": {"kind": "skip"}}}, shop=OTHER)
    now = utcnow()
    # Offered: 4 flows 100 days old, 3 accepted, one contract ended on day 10 (an acceptor).
    # Holdout: 2 flows, one ended on day 20. At 30 days: kept 3/4 vs 1/2, save rate 0.25.
    plan = [
        (False, "accepted", 10),
        (False, "accepted", None),
        (False, "accepted", None),
        (False, "cancelled", None),
        (True, "cancelled", 20),
        (True, "cancelled", None),
    ]
    async with transaction(runtime.sessionmaker, None) as tx:
        for domain in (SHOP, OTHER):
            shop = await tx.session.scalar(select(Shop).where(Shop.domain == domain))
            assert shop is not None
            for n, (holdout, outcome, ended_day) in enumerate(plan):
                started = now - timedelta(days=100)
                sub = Subscriber(shop_id=shop.id, customer_id=1000 + n, first_seen_at=started)
                tx.session.add(sub)
                await tx.session.flush()
                ended = started + timedelta(days=ended_day) if ended_day else None
                contract = Contract(
                    shop_id=shop.id,
                    contract_id=2000 + n,
                    subscriber_id=sub.id,
                    status="cancelled" if ended else "active",
                    status_at=ended or started,
                    started_at=started - timedelta(days=200),
                    ended_at=ended,
                )
                tx.session.add(contract)
                await tx.session.flush()
                tx.session.add(
                    CancelFlow(
                        shop_id=shop.id,
                        contract_pk=contract.id,
                        subscriber_id=sub.id,
                        reason_code="too_expensive",
                        channel="proxy",
                        holdout=holdout,
                        offer={"kind": "skip"},
                        offer_shown=not holdout,
                        outcome=outcome,
                        started_at=started,
                    )
                )
    body = (await client.get(URL, headers=auth())).json()
    [row] = body["report"]["rows"]
    assert (row["reason"], row["offer"], row["offered"], row["accepted"], row["holdout"]) == (
        "too_expensive",
        "skip",
        4,
        3,
        2,
    )
    h30 = row["horizons"][0]
    assert (h30["days"], h30["offered_kept"], h30["offered_n"], h30["holdout_kept"]) == (
        30,
        3,
        4,
        1,
    )
    assert h30["save_rate"] == pytest.approx(0.25)
    assert h30["ci_low"] < 0.25 < h30["ci_high"]
    assert row["acceptance_rate"] == pytest.approx(0.75)
    assert (row["reason_label"], row["offer_text"]) == (
        "It is too expensive",
        "Skip your next delivery instead",
    )
