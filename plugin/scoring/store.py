"""Store a recompute: shop snapshots and per-subscriber scores, in the caller's transaction.

- `MetricSnapshot` rows, unique per (shop, period, period_start):
    "latest": one per shop, period_start = the as-of day (older "latest" rows are removed);
    "day": one per as-of day; "month": one per month, period_start = its first day, holding
    the month's figures as of its last day once it is over (until then, as of today).
- `SubscriberScore` rows are replaced whole: one DELETE and one bulk write (COPY on
  PostgreSQL, executemany on SQLite), never an ORM object per subscriber.

The shop's `ShopRecomputeState` row is locked first, so two recomputes of one shop store one
after the other; each remembers the instant its data was read (`computed_at`), and a result
read earlier than the one already stored is dropped rather than allowed to overwrite it.
"""

from __future__ import annotations

import io
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, cast

import numpy as np
import numpy.typing as npt
from sqlalchemy import Table, delete, insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from plugin.domain.rows import insert_if_absent, locked_one
from plugin.models import MetricSnapshot, ShopRecomputeState, SubscriberScore
from plugin.scoring.metrics_doc import OverviewDoc
from plugin.value import SubscriberResults
from plugin.value.codes import RISK_METHOD_NAMES, SEGMENT_NAMES, RiskMethod
from plugin.value.score import COMPONENT_NAMES

LATEST, DAY, MONTH = "latest", "day", "month"
SNAPSHOTS = cast(Table, MetricSnapshot.__table__)
SCORES = cast(Table, SubscriberScore.__table__)

_SCORE_COLUMNS = (
    "shop_id",
    "subscriber_id",
    "value_score",
    "churn_risk",
    "risk_method",
    "expected_residual_value",
    "mrr",
    "currency",
    "tenure",
    "segment",
    "nps_last",
    "components",
    "computed_at",
)


@dataclass(frozen=True)
class SnapshotRow:
    period: str
    period_start: date
    metrics: OverviewDoc


async def claim_store(session: AsyncSession, shop_id: int, read_at: datetime) -> bool:
    """Lock the shop's recompute state; False when results read later are already stored."""
    await insert_if_absent(session, ShopRecomputeState, {"shop_id": shop_id}, ("shop_id",))
    state = await locked_one(
        session, select(ShopRecomputeState).where(ShopRecomputeState.shop_id == shop_id)
    )
    return state.computed_at is None or state.computed_at <= read_at


async def record_run(
    session: AsyncSession, shop_id: int, *, started_at: datetime, read_at: datetime, ms: int
) -> None:
    """Note the run on the (already locked) state row."""
    state = await session.get(ShopRecomputeState, shop_id)
    assert state is not None
    state.requested_at = started_at
    state.computed_at = read_at
    state.duration_ms = ms


async def store_snapshots(
    session: AsyncSession, shop_id: int, computed_at: datetime, rows: Sequence[SnapshotRow]
) -> None:
    """Upsert the snapshots; the shop keeps exactly one "latest"."""
    table = SNAPSHOTS
    latest = [r for r in rows if r.period == LATEST]
    if latest:
        await session.execute(
            delete(table).where(
                table.c.shop_id == shop_id,
                table.c.period == LATEST,
                table.c.period_start != latest[-1].period_start,
            )
        )
    dialect = session.get_bind().dialect.name
    upsert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    for row in rows:
        stmt = upsert(table).values(
            shop_id=shop_id,
            period=row.period,
            period_start=row.period_start,
            computed_at=computed_at,
            metrics=row.metrics,
        )
        await session.execute(
            stmt.on_conflict_do_update(
                index_elements=["shop_id", "period", "period_start"],
                set_={"computed_at": stmt.excluded.computed_at, "metrics": stmt.excluded.metrics},
            )
        )


def _nullable(values: npt.NDArray[np.float64], digits: int | None = None) -> list[Any]:
    """Floats as a list with NaN → None (optionally rounded, for Numeric columns)."""
    arr = np.round(values, digits) if digits is not None else values
    out: list[Any] = arr.tolist()
    for i in np.flatnonzero(~np.isfinite(values)).tolist():
        out[i] = None
    return out


def _json_number(values: npt.NDArray[np.floating[Any]]) -> list[str]:
    """JSON tokens for floats: shortest round-trip text, `null` for NaN."""
    return ["null" if not math.isfinite(v) else repr(v) for v in values.tolist()]


def components_json(s: SubscriberResults) -> list[str]:
    """Each subscriber's `components` document as JSON text (built with one format per row:
    json.dumps of a dict per row costs several times more on a million subscribers)."""
    comps = np.where(s.value_present, s.value_components, np.nan)
    cols = [_json_number(np.round(comps[:, k], 6)) for k in range(len(COMPONENT_NAMES))]
    per_cycle = _json_number(np.round(s.customer_value_per_cycle, 2))
    cumulative = _json_number(np.round(s.customer_value_cumulative, 2))
    answered = [
        "null" if d == "NaT" else f'"{d}"' for d in np.datetime_as_string(s.nps_last_on, "D")
    ]
    orders = (s.renewals + 1).tolist()
    active = ["true" if a else "false" for a in s.is_active.tolist()]
    paused = ["true" if p else "false" for p in s.is_paused.tolist()]
    names = COMPONENT_NAMES
    template = (
        f'{{"{names[0]}":%s,"{names[1]}":%s,"{names[2]}":%s,"orders":%d,"active":%s,'
        '"paused":%s,"nps_last_on":%s,"customer_value_per_cycle":%s,'
        '"customer_value_cumulative":%s}'
    )
    return [
        template % row
        for row in zip(
            cols[0],
            cols[1],
            cols[2],
            orders,
            active,
            paused,
            answered,
            per_cycle,
            cumulative,
            strict=True,
        )
    ]


def score_columns(
    shop_id: int,
    subscriber_ids: npt.NDArray[np.int64],
    s: SubscriberResults,
    computed_at: datetime,
) -> list[list[Any]]:
    """One list per column of `_SCORE_COLUMNS` (components as JSON text), None for NULL."""
    n = subscriber_ids.size
    method_names = {int(k): v for k, v in RISK_METHOD_NAMES.items() if k != RiskMethod.NONE}
    return [
        [shop_id] * n,
        subscriber_ids.tolist(),
        _nullable(np.round(s.value_score, 4)),
        _nullable(np.round(s.churn_risk, 6)),
        [method_names.get(m) for m in s.risk_method.tolist()],
        _nullable(s.expected_residual_value, 2),
        _nullable(s.mrr, 2),
        [c or None for c in s.currency.tolist()],
        s.renewals.tolist(),
        [SEGMENT_NAMES[g] for g in s.segment.tolist()],
        [None if math.isnan(v) else int(v) for v in s.nps_last.tolist()],
        components_json(s),
        [computed_at] * n,
    ]


async def replace_scores(
    session: AsyncSession,
    shop_id: int,
    subscriber_ids: npt.NDArray[np.int64],
    results: SubscriberResults,
    computed_at: datetime,
) -> int:
    """Replace the shop's subscriber scores; returns how many rows were written."""
    table = SCORES
    await session.execute(delete(table).where(table.c.shop_id == shop_id))
    cols = score_columns(shop_id, subscriber_ids, results, computed_at)
    if session.get_bind().dialect.name == "postgresql":
        conn = await session.connection()
        raw = await conn.get_raw_connection()
        driver: Any = raw.driver_connection
        # COPY in the session's own transaction: the DELETE above and this commit together.
        # Sent as text built here: a tab-joined line per row costs a fraction of having the
        # driver encode every value of every tuple.
        await driver.copy_to_table(
            table.name,
            source=io.BytesIO(_copy_text(cols)),
            columns=list(_SCORE_COLUMNS),
            format="text",
        )
    else:
        batch = [
            {**dict(zip(_SCORE_COLUMNS, row, strict=True)), "components": json.loads(row[11])}
            for row in zip(*cols, strict=True)
        ]
        if batch:
            await session.execute(insert(table), batch)
    return int(subscriber_ids.size)


def _copy_text(cols: list[list[Any]]) -> bytes:
    """Columns in COPY's text format. Values are numbers, our own names, timestamps and the
    components JSON (numbers, booleans, dates): none holds a tab, newline or backslash."""
    if not cols or not cols[0]:
        return b""
    text = [[r"\N" if v is None else str(v) for v in col] for col in cols]
    return ("\n".join(map("\t".join, zip(*text, strict=True))) + "\n").encode()
