"""Record Flow trigger firings with the business change, fire them after commit.

A firing is a row (FlowTriggerEvent) unique on (shop, handle, key), inserted in the same
transaction as the change it reports: if that rolls back, nothing is fired; recording the
same thing twice stores it once. After commit a job fires it (`fire_event`); throttling and
5xx are retried by the GraphQL client, then by the job's retry policy (TransientError); a
sweeper re-queues firings still pending after a few minutes (lost job, Redis down). A firing
is marked sent in the job's transaction after Shopify accepted it: a crash between the two
fires it once more (at least once, as Shopify's own webhooks).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from plugin.db.transaction import Tx
from plugin.flow.catalogue import CUSTOMER, TRIGGERS
from plugin.models import FlowTriggerEvent, FlowTriggerStatus, Shop
from plugin.models.base import utcnow
from plugin.runtime import Runtime
from plugin.shopify.errors import ShopifyAuthError
from plugin.shopify.graphql import admin_client_for

log = logging.getLogger(__name__)

FIRE_FLOW_TRIGGER = "fire_flow_trigger"
SWEEP_FLOW_TRIGGERS = "sweep_flow_triggers"
SWEEP_AFTER = timedelta(minutes=3)
# A firing still pending after a day (Shopify down all that time) is left: a day-old
# "NPS answered" would reach the merchant's workflow too late to act on.
SWEEP_UNTIL = timedelta(days=1)
SWEEP_BATCH = 500
MAX_KEY = 128

FLOW_TRIGGER_RECEIVE = """
mutation FlowTriggerReceive($handle: String!, $payload: JSON!) {
  flowTriggerReceive(handle: $handle, payload: $payload) {
    userErrors { field message }
  }
}
"""


def fire_key(event_id: int) -> str:
    return f"{FIRE_FLOW_TRIGGER}:{event_id}"


async def record_trigger(
    tx: Tx, shop_id: int, handle: str, key: str, payload: Mapping[str, Any]
) -> int | None:
    """Store one firing and have it fired after commit; None when it was recorded before."""
    trigger = TRIGGERS[handle]
    expected = {CUSTOMER, *trigger.fields}
    if set(payload) != expected:
        raise ValueError(f"{handle}: payload keys {sorted(payload)} != {sorted(expected)}")
    if len(key) > MAX_KEY:
        raise ValueError(f"{handle}: key longer than {MAX_KEY}")
    session = tx.session
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    event_id = await session.scalar(
        insert(FlowTriggerEvent)
        .values(
            shop_id=shop_id,
            handle=handle,
            key=key,
            payload=dict(payload),
            status=FlowTriggerStatus.PENDING,
            attempts=0,
            created_at=utcnow(),
        )
        .on_conflict_do_nothing(index_elements=["shop_id", "handle", "key"])
        .returning(FlowTriggerEvent.id)
    )
    if event_id is not None:
        tx.enqueue_after_commit(FIRE_FLOW_TRIGGER, event_id, key=fire_key(event_id))
    return event_id


async def fire_event(runtime: Runtime, session: AsyncSession, event_id: int) -> str | None:
    """Send one pending firing; returns its new status (None: not pending any more)."""
    query = select(FlowTriggerEvent).where(FlowTriggerEvent.id == event_id)
    if session.get_bind().dialect.name == "postgresql":
        # Two jobs for one firing (the sweeper's and the first): one sends, one finds it locked.
        query = query.with_for_update(skip_locked=True)
    event = await session.scalar(query)
    if event is None or event.status != FlowTriggerStatus.PENDING:
        return None
    shop = await session.get_one(Shop, event.shop_id)
    event.attempts += 1
    client = (
        None if shop.uninstalled_at is not None else await admin_client_for(runtime, session, shop)
    )
    if client is None:
        event.status, event.error = FlowTriggerStatus.SKIPPED, "no usable offline token"
        return event.status
    try:
        data = await client.query(
            FLOW_TRIGGER_RECEIVE, {"handle": event.handle, "payload": event.payload}
        )
    except ShopifyAuthError:
        event.status, event.error = FlowTriggerStatus.SKIPPED, "Shopify refused the token"
        return event.status
    errors = (data.get("flowTriggerReceive") or {}).get("userErrors") or []
    if errors:
        # Usually the extension is not deployed, or Flow is not on the shop's plan: a retry
        # cannot fix it.
        event.status = FlowTriggerStatus.REFUSED
        event.error = "; ".join(str(e.get("message")) for e in errors if isinstance(e, dict))
        log.warning("Flow refused trigger %s for shop %s: %s", event.handle, shop.id, event.error)
        return event.status
    event.status, event.sent_at, event.error = FlowTriggerStatus.SENT, utcnow(), None
    return event.status


async def stale_pending(session: AsyncSession, now: datetime) -> list[int]:
    """Firings pending for longer than SWEEP_AFTER (their job was lost) but less than
    SWEEP_UNTIL, oldest first."""
    rows = await session.scalars(
        select(FlowTriggerEvent.id)
        .where(
            FlowTriggerEvent.status == FlowTriggerStatus.PENDING,
            FlowTriggerEvent.created_at < now - SWEEP_AFTER,
            FlowTriggerEvent.created_at >= now - SWEEP_UNTIL,
        )
        .order_by(FlowTriggerEvent.created_at)
        .limit(SWEEP_BATCH)
    )
    return list(rows)
