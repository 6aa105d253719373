"""A change the subscriber made through the app and the webhook Shopify sends about it are one
change, whichever is recorded first; the app's record carries who made it."""

from __future__ import annotations

from datetime import timedelta

from plugin.db.transaction import transaction
from plugin.domain.changes import SAME_CHANGE_WINDOW, record_change
from plugin.models import Contract, ContractChange
from plugin.runtime import Runtime
from tests.plugin.domain.domain_helpers import one, rows
from tests.support.payloads import T0, Event, billing_cycle, contract, deliver, next_id

SKIP = "subscription_billing_cycles/skip"
PAUSE = "subscription_contracts/pause"


async def new_contract(rt: Runtime) -> Contract:
    cid = next_id()
    await deliver(rt, Event("subscription_contracts/create", contract(cid, 501), at=T0))
    return await one(rt, Contract, Contract.contract_id == cid)


async def by_app(rt: Runtime, c: Contract, kind: str, at: object) -> bool:
    async with transaction(rt.sessionmaker, None) as tx:
        return await record_change(
            tx.session,
            shop_id=c.shop_id,
            contract_pk=c.id,
            kind=kind,
            at=at,  # type: ignore[arg-type]
            source="subscriber",
        )


async def test_the_webhook_after_a_self_serve_skip_adds_nothing(rt: Runtime) -> None:
    c = await new_contract(rt)
    assert await by_app(rt, c, "skip", T0 + timedelta(days=3))
    await deliver(
        rt, Event(SKIP, billing_cycle(c.contract_id, 4), at=T0 + timedelta(days=3, minutes=1))
    )
    changes = await rows(rt, ContractChange)
    assert [(x.kind, x.source) for x in changes] == [("skip", "subscriber")]


async def test_a_webhook_before_the_apps_record_gets_the_apps_source(rt: Runtime) -> None:
    c = await new_contract(rt)
    await deliver(
        rt, Event(PAUSE, contract(c.contract_id, 501, status="paused"), at=T0 + timedelta(days=2))
    )
    assert not await by_app(rt, c, "pause", T0 + timedelta(days=2, seconds=20))
    changes = await rows(rt, ContractChange)
    assert [(x.kind, x.source) for x in changes] == [("pause", "subscriber")]


async def test_the_same_kind_outside_the_window_is_another_change(rt: Runtime) -> None:
    c = await new_contract(rt)
    at = T0 + timedelta(days=3)
    await by_app(rt, c, "skip", at)
    later = at + SAME_CHANGE_WINDOW + timedelta(minutes=1)
    await deliver(rt, Event(SKIP, billing_cycle(c.contract_id, 5), at=later))
    changes = await rows(rt, ContractChange)
    assert [(x.kind, x.source) for x in changes] == [("skip", "subscriber"), ("skip", "unknown")]
