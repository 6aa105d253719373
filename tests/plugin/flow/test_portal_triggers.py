"""The portal's answers record their Flow triggers in the answer's own transaction."""

from __future__ import annotations

import httpx
from sqlalchemy import select

from plugin.models import FlowTriggerEvent
from plugin.runtime import Runtime
from tests.plugin.portal.portal_helpers import bearer
from tests.plugin.portal.test_portal_api import invited


async def test_an_nps_answer_and_a_cancel_reason_each_record_one_firing(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    w = await invited(runtime)
    nps = await client.post(
        "/api/portal/nps",
        json={"score": 6, "value_for_money": 2, "comment": "Late box"},
        headers=bearer(w.customer_id),
    )
    assert nps.status_code == 201, nps.text
    reason = await client.post(
        "/api/portal/cancel-reason",
        json={"contract_id": w.contract_id, "reason": "shipping_problems", "comment": "slow"},
        headers=bearer(w.customer_id),
    )
    assert reason.status_code == 201, reason.text
    async with runtime.sessionmaker() as session:
        rows = list(await session.scalars(select(FlowTriggerEvent).order_by(FlowTriggerEvent.id)))
    assert [(r.handle, r.shop_id) for r in rows] == [
        ("nps-answered", w.shop_id),
        ("cancel-reason-given", w.shop_id),
    ]
    assert rows[0].payload == {
        "customer_id": w.customer_id,
        "Score": "6",
        "Category": "detractor",
        "Value for money": "2",
        "Comment": "Late box",
    }
    assert rows[1].payload == {
        "customer_id": w.customer_id,
        "Reason": "shipping_problems",
        "Comment": "slow",
        "Contract ID": str(w.contract_id),
    }
    # No offline token in this shop: the firings are settled as skipped, not left pending.
    assert {r.status for r in rows} <= {"pending", "skipped"}
