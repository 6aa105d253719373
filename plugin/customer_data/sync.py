"""Write each subscriber's value data on their Shopify customer, only what changed.

Runs after each recompute (job `sync_customer_data`), in one transaction:
1. the "value segment entered" Flow trigger for subscribers whose segment moved (a first sync
   only learns the segments: no trigger for a whole shop "entering" on install);
2. without the `write_customers` scope nothing is written: the missing scope is recorded for
   the admin page, which asks the merchant for it (nothing fails);
3. the metafield definitions are created once per shop (a definition that exists is fine);
4. changed values are written with `metafieldsSet` (25 metafields a call) for up to
   DIRECT_LIMIT customers, else as one bulk mutation: the variables uploaded as JSONL
   (`stagedUploadsCreate`), `bulkOperationRunMutation`, then `finish_bulk_run` confirms each
   line from the result file. Values count as written only once Shopify confirmed them, so a
   refusal or a failed run is written again next time. Values that became unknown are deleted;
   tags (optional, off by default) follow the same diff.
Throttling is waited out by the GraphQL client; past its patience TransientError rolls the
transaction back and the job retries (metafieldsSet of the same values is idempotent).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import and_, select
from sqlalchemy.ext.asyncio import AsyncSession

from plugin.customer_data.fields import (
    DEFINITIONS,
    NAMESPACE,
    Values,
    changes,
    desired_tags,
    desired_values,
    metafield_inputs,
)
from plugin.db.transaction import Tx
from plugin.flow.events import segment_entered
from plugin.initiatives.catalogue import RUNNING
from plugin.initiatives.holdout import treatment_marker
from plugin.models import (
    CustomerDataShop,
    CustomerSyncRun,
    CustomerValueState,
    Initiative,
    InitiativeMember,
    Shop,
    Subscriber,
    SubscriberScore,
)
from plugin.models.base import utcnow
from plugin.models.initiative_members import TREATMENT
from plugin.runtime import Runtime
from plugin.scoring.localtime import local_today, shop_zone
from plugin.shopify.bulk import (
    bulk_failed,
    bulk_mutation_results,
    bulk_operation_status,
    stage_jsonl,
    start_bulk_mutation,
)
from plugin.shopify.errors import ShopifyGraphQLError
from plugin.shopify.graphql import AdminGraphQL, admin_client_for
from plugin.value.score import risk_band

log = logging.getLogger(__name__)

SYNC_CUSTOMER_DATA = "sync_customer_data"
FINISH_CUSTOMER_SYNC = "finish_customer_sync"
REQUIRED_SCOPES = ("write_customers",)
DIRECT_LIMIT = 100  # customers; above this one bulk mutation is cheaper than many calls
PER_CALL = 25  # metafieldsSet takes at most 25 metafields
FINISH_POLL_S = 10.0

METAFIELD_DEFINITION_CREATE = """
mutation MetafieldDefinitionCreate($definition: MetafieldDefinitionInput!) {
  metafieldDefinitionCreate(definition: $definition) {
    createdDefinition { id key }
    userErrors { field message code }
  }
}
"""
METAFIELDS_SET = """
mutation MetafieldsSet($metafields: [MetafieldsSetInput!]!) {
  metafieldsSet(metafields: $metafields) {
    metafields { key namespace }
    userErrors { field message code }
  }
}
"""
METAFIELDS_DELETE = """
mutation MetafieldsDelete($metafields: [MetafieldIdentifierInput!]!) {
  metafieldsDelete(metafields: $metafields) {
    deletedMetafields { key namespace }
    userErrors { field message }
  }
}
"""
TAGS_ADD = """
mutation TagsAdd($id: ID!, $tags: [String!]!) {
  tagsAdd(id: $id, tags: $tags) {
    node { id }
    userErrors { field message }
  }
}
"""
TAGS_REMOVE = """
mutation TagsRemove($id: ID!, $tags: [String!]!) {
  tagsRemove(id: $id, tags: $tags) {
    node { id }
    userErrors { field message }
  }
}
"""


@dataclass
class SyncOutcome:
    status: str  # synced | bulk_started | bulk_in_progress | missing_scopes | no_token
    written: int = 0
    refused: int = 0
    deleted: int = 0
    tagged: int = 0
    segment_triggers: int = 0
    run_id: int | None = None
    missing_scopes: list[str] = field(default_factory=list)


@dataclass
class _Row:
    subscriber_id: int
    customer_id: int
    segment: str | None
    churn_risk: float | None
    value_score: float | None
    nps_last: int | None
    mrr: Any
    currency: str | None
    state: CustomerValueState | None


def customer_gid(customer_id: int) -> str:
    return f"gid://shopify/Customer/{customer_id}"


def missing_scopes(granted: str) -> list[str]:
    held = {s.strip() for s in granted.split(",")}
    return [s for s in REQUIRED_SCOPES if s not in held]


async def shop_state(session: AsyncSession, shop_id: int) -> CustomerDataShop:
    state = await session.get(CustomerDataShop, shop_id)
    if state is None:
        state = CustomerDataShop(shop_id=shop_id, tags_enabled=False)
        session.add(state)
        await session.flush()
    return state


async def _rows(session: AsyncSession, shop_id: int) -> list[_Row]:
    """Scored, not redacted subscribers with their last known Shopify state."""
    result = await session.execute(
        select(
            SubscriberScore.subscriber_id,
            Subscriber.customer_id,
            SubscriberScore.segment,
            SubscriberScore.churn_risk,
            SubscriberScore.value_score,
            SubscriberScore.nps_last,
            SubscriberScore.mrr,
            SubscriberScore.currency,
            CustomerValueState,
        )
        .join(Subscriber, Subscriber.id == SubscriberScore.subscriber_id)
        .outerjoin(
            CustomerValueState,
            and_(
                CustomerValueState.shop_id == shop_id,
                CustomerValueState.subscriber_id == SubscriberScore.subscriber_id,
            ),
        )
        .where(
            SubscriberScore.shop_id == shop_id,
            Subscriber.shop_id == shop_id,
            Subscriber.redacted_at.is_(None),
        )
        .order_by(SubscriberScore.subscriber_id)
    )
    return [_Row(*row) for row in result]


async def _markers(session: AsyncSession, shop_id: int) -> dict[int, list[str]]:
    """Treatment markers of the running initiatives, per subscriber."""
    rows = await session.execute(
        select(InitiativeMember.subscriber_id, InitiativeMember.initiative_id)
        .join(Initiative, Initiative.id == InitiativeMember.initiative_id)
        .where(
            InitiativeMember.shop_id == shop_id,
            InitiativeMember.arm == TREATMENT,
            Initiative.shop_id == shop_id,
            Initiative.status == RUNNING,
        )
    )
    out: dict[int, list[str]] = {}
    for sid, initiative_id in rows:
        out.setdefault(sid, []).append(treatment_marker(initiative_id))
    return out


def _reasons(row: _Row) -> list[str]:
    reasons = []
    if row.churn_risk is not None:
        reasons.append(f"churn risk {row.churn_risk:.0%} ({risk_band(row.churn_risk)})")
    if row.value_score is not None:
        reasons.append(f"value score {row.value_score:.0f} of 100")
    reasons.append("no NPS answer" if row.nps_last is None else f"last NPS answer {row.nps_last}")
    return reasons


def _state(session: AsyncSession, shop_id: int, row: _Row) -> CustomerValueState:
    if row.state is None:
        row.state = CustomerValueState(shop_id=shop_id, subscriber_id=row.subscriber_id)
        session.add(row.state)
    return row.state


async def _announce_segments(tx: Tx, shop_id: int, rows: Sequence[_Row], day: date) -> int:
    fired = 0
    for row in rows:
        seen = row.state.segment_seen if row.state else None
        if row.segment is None or seen == row.segment:
            continue
        if seen is not None:
            recorded = await segment_entered(
                tx,
                shop_id=shop_id,
                subscriber_id=row.subscriber_id,
                customer_id=row.customer_id,
                segment=row.segment,
                previous=seen,
                churn_risk=row.churn_risk,
                value_score=row.value_score,
                mrr=row.mrr,
                currency=row.currency,
                reasons=_reasons(row),
                day=day,
            )
            fired += recorded is not None
        _state(tx.session, shop_id, row).segment_seen = row.segment
    return fired


async def ensure_definitions(client: AdminGraphQL) -> None:
    """Create our customer metafield definitions; one that exists already (TAKEN) is fine."""
    for definition in DEFINITIONS:
        data = await client.query(METAFIELD_DEFINITION_CREATE, {"definition": definition.input()})
        errors = (data.get("metafieldDefinitionCreate") or {}).get("userErrors") or []
        other = [e for e in errors if e.get("code") != "TAKEN"]
        if other:
            raise ShopifyGraphQLError(
                f"metafield definition {definition.key} refused: "
                + "; ".join(str(e.get("message")) for e in other),
                codes=tuple(str(e.get("code")) for e in other),
            )


def _confirm(state: CustomerValueState, written: Values, deleted: Sequence[str] = ()) -> None:
    published = dict(state.published or {})
    published.update(written)
    for key in deleted:
        published.pop(key, None)
    state.published = published  # a new object, so the JSON column is marked changed


async def _set_direct(
    client: AdminGraphQL, work: list[tuple[_Row, Values]]
) -> tuple[list[tuple[_Row, Values]], int]:
    """metafieldsSet in calls of at most PER_CALL metafields, whole customers per call. A call
    is all or nothing: on user errors the customers they name are refused and the rest of
    the call is sent again. Returns (written, refused count)."""
    written: list[tuple[_Row, Values]] = []
    refused = 0
    batch: list[tuple[_Row, Values]] = []
    batches: list[list[tuple[_Row, Values]]] = []
    size = 0
    for item in work:
        n = len(item[1])
        if batch and size + n > PER_CALL:
            batches.append(batch)
            batch, size = [], 0
        batch.append(item)
        size += n
    if batch:
        batches.append(batch)
    for batch in batches:
        while batch:
            inputs: list[dict[str, Any]] = []
            owners: list[int] = []  # index in batch of each input
            for i, (row, values) in enumerate(batch):
                for doc in metafield_inputs(customer_gid(row.customer_id), values):
                    inputs.append(doc)
                    owners.append(i)
            data = await client.query(METAFIELDS_SET, {"metafields": inputs})
            errors = (data.get("metafieldsSet") or {}).get("userErrors") or []
            if not errors:
                written.extend(batch)
                break
            bad = set()
            for error in errors:
                path = error.get("field") or []
                if len(path) >= 2 and str(path[1]).isdigit() and int(path[1]) < len(owners):
                    bad.add(owners[int(path[1])])
            if not bad:  # an error we cannot pin on a customer: give up on this call
                bad = set(range(len(batch)))
            log.warning(
                "metafieldsSet refused %d customer(s) of %s: %s",
                len(bad),
                client.shop,
                "; ".join(str(e.get("message")) for e in errors),
            )
            refused += len(bad)
            batch = [item for i, item in enumerate(batch) if i not in bad]
    return written, refused


async def _delete(client: AdminGraphQL, row: _Row, keys: Sequence[str]) -> None:
    gid = customer_gid(row.customer_id)
    await client.query(
        METAFIELDS_DELETE,
        {"metafields": [{"ownerId": gid, "namespace": NAMESPACE, "key": k} for k in keys]},
    )


async def _retag(client: AdminGraphQL, row: _Row, add: set[str], remove: set[str]) -> None:
    gid = customer_gid(row.customer_id)
    if add:
        await client.query(TAGS_ADD, {"id": gid, "tags": sorted(add)})
    if remove:
        await client.query(TAGS_REMOVE, {"id": gid, "tags": sorted(remove)})


async def sync_customer_data(runtime: Runtime, tx: Tx, shop_id: int) -> SyncOutcome:
    """One shop's sync (see the module docstring); the caller's transaction commits it."""
    session = tx.session
    shop = await session.get_one(Shop, shop_id)
    if shop.uninstalled_at is not None or shop.access_token_enc is None:
        # Nothing can reach Shopify (not opened yet, uninstalled, the demo): no writes at all.
        return SyncOutcome("no_token")
    state = await shop_state(session, shop_id)
    now = utcnow()
    rows = await _rows(session, shop_id)
    triggers = await _announce_segments(
        tx, shop_id, rows, local_today(shop_zone(shop.timezone), now)
    )
    state.last_synced_at = now

    def done(outcome: SyncOutcome) -> SyncOutcome:
        outcome.segment_triggers = triggers
        state.last_outcome = outcome.status
        return outcome

    missing = missing_scopes(shop.scopes)
    if missing:
        state.missing_scopes = ",".join(missing)
        return done(SyncOutcome("missing_scopes", missing_scopes=missing))
    running = await session.scalar(
        select(CustomerSyncRun.id).where(
            CustomerSyncRun.shop_id == shop_id, CustomerSyncRun.status == "running"
        )
    )
    if running is not None:
        return done(SyncOutcome("bulk_in_progress", run_id=running))
    client = await admin_client_for(runtime, session, shop)
    if client is None:
        return done(SyncOutcome("no_token"))
    markers = await _markers(session, shop_id)
    try:
        if state.definitions_at is None:
            await ensure_definitions(client)
            state.definitions_at = now
        outcome = await _write(tx, client, state, rows, markers)
    except ShopifyGraphQLError as exc:
        if "ACCESS_DENIED" not in exc.codes:
            raise
        # Scopes taken back since the last scopes_update we heard of.
        state.missing_scopes = ",".join(REQUIRED_SCOPES)
        return done(SyncOutcome("missing_scopes", missing_scopes=list(REQUIRED_SCOPES)))
    state.missing_scopes = None
    state.last_error = None
    return done(outcome)


async def _write(
    tx: Tx,
    client: AdminGraphQL,
    shop_state_row: CustomerDataShop,
    rows: Sequence[_Row],
    markers: dict[int, list[str]],
) -> SyncOutcome:
    session = tx.session
    outcome = SyncOutcome("synced")
    to_write: list[tuple[_Row, Values]] = []
    for row in rows:
        desired = desired_values(
            segment=row.segment,
            churn_risk=row.churn_risk,
            value_score=row.value_score,
            nps_last=row.nps_last,
            markers=markers.get(row.subscriber_id, ()),
        )
        to_set, to_delete = changes(desired, row.state.published if row.state else None)
        if to_delete:
            await _delete(client, row, to_delete)
            _confirm(_state(session, shop_state_row.shop_id, row), {}, to_delete)
            outcome.deleted += 1
        if to_set:
            to_write.append((row, to_set))
        wanted = desired_tags(desired, shop_state_row.tags_enabled)
        held = set(row.state.tags or []) if row.state else set()
        if wanted != held:
            await _retag(client, row, wanted - held, held - wanted)
            _state(session, shop_state_row.shop_id, row).tags = sorted(wanted)
            outcome.tagged += 1
    if len(to_write) <= DIRECT_LIMIT:
        written, outcome.refused = await _set_direct(client, to_write)
        for row, values in written:
            _confirm(_state(session, shop_state_row.shop_id, row), values)
        outcome.written = len(written)
        return outcome
    lines = [{"metafields": metafield_inputs(customer_gid(r.customer_id), v)} for r, v in to_write]
    path = await stage_jsonl(client, lines, "valuehealth-customer-values.jsonl")
    operation_id = await start_bulk_mutation(client, METAFIELDS_SET, path)
    run = CustomerSyncRun(
        shop_id=shop_state_row.shop_id,
        operation_id=operation_id,
        status="running",
        lines=[[r.subscriber_id, v] for r, v in to_write],
        confirmed=0,
        refused=0,
    )
    session.add(run)
    await session.flush()
    tx.enqueue_after_commit(FINISH_CUSTOMER_SYNC, run.id, delay_s=FINISH_POLL_S)
    outcome.status, outcome.run_id = "bulk_started", run.id
    return outcome


async def finish_bulk_run(runtime: Runtime, tx: Tx, run_id: int) -> str | None:
    """Poll a bulk run; when it completed, confirm each line Shopify wrote. Returns the run's
    status ("running" asks the caller to poll again later), None for an unknown run."""
    session = tx.session
    run = await session.get(CustomerSyncRun, run_id)
    if run is None or run.status != "running":
        return None if run is None else run.status
    shop = await session.get_one(Shop, run.shop_id)
    client = await admin_client_for(runtime, session, shop)
    if client is None:
        run.status, run.error, run.finished_at = "failed", "no usable offline token", utcnow()
        return run.status
    operation = await bulk_operation_status(client, run.operation_id)
    status = operation.get("status")
    if bulk_failed(status):
        run.status, run.finished_at = "failed", utcnow()
        run.error = f"{status} ({operation.get('errorCode') or 'no error code'})"
        return run.status
    if status != "COMPLETED":
        return "running"
    ids = [int(line[0]) for line in run.lines]
    states = {
        s.subscriber_id: s
        for s in await session.scalars(
            select(CustomerValueState).where(
                CustomerValueState.shop_id == run.shop_id,
                CustomerValueState.subscriber_id.in_(ids),
            )
        )
    }
    url = operation.get("url")
    if url:
        async for result in bulk_mutation_results(client, str(url)):
            number = result.get("__lineNumber")
            if not isinstance(number, int) or not 0 <= number < len(run.lines):
                continue
            payload = (result.get("data") or {}).get("metafieldsSet") or {}
            if payload.get("userErrors") or result.get("errors"):
                run.refused += 1
                continue
            sid, values = int(run.lines[number][0]), run.lines[number][1]
            state = states.get(sid)
            if state is None:
                state = CustomerValueState(shop_id=run.shop_id, subscriber_id=sid)
                session.add(state)
                states[sid] = state
            _confirm(state, values)
            run.confirmed += 1
    run.status, run.finished_at = "completed", utcnow()
    # Values that changed while the run was in flight are written by the next sync.
    tx.enqueue_after_commit(
        SYNC_CUSTOMER_DATA, run.shop_id, key=f"{SYNC_CUSTOMER_DATA}:{run.shop_id}"
    )
    return run.status
