"""Store a recompute: shop snapshots and per-subscriber scores, in the caller's transaction.

- `MetricSnapshot` rows, unique per (shop, period, period_start):
    "latest": one per shop, period_start = the as-of day (older "latest" rows are removed);
    "day": one per as-of day; "month": one per month, period_start = its first day, holding
    the month's figures as of its last day once it is over (until then, as of today).
- `SubscriberScore` rows: only those whose values changed are written. Each row carries a
  fingerprint of its values; the stored fingerprints are read back (one numeric COPY),
  compared in numpy with the new ones, and only the changed rows are deleted and written
  again (COPY on PostgreSQL, executemany on SQLite), rows of subscribers no longer scored
  are deleted, never an ORM object per subscriber. Most of a steady-state recompute's rows
  are unchanged, and rewriting them was most of its time (index upkeep, foreign keys).

The shop's `ShopRecomputeState` row is locked first, so two recomputes of one shop store one
after the other; each remembers the instant its data was read (`computed_at`), and a result
read earlier than the one already stored is dropped rather than allowed to overwrite it.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import date, datetime
from typing import Any, cast

import numpy as np
import numpy.typing as npt
from sqlalchemy import BigInteger, Table, any_, bindparam, delete, insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from plugin.domain.rows import insert_if_absent, locked_one
from plugin.models import MetricSnapshot, ShopRecomputeState, SubscriberScore
from plugin.scoring.fetch import INT_NULL, columns, ident, maybe_int
from plugin.scoring.loaders import row_position
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
    "fingerprint",
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


def _nullable(values: npt.NDArray[np.float64]) -> list[Any]:
    """Floats as a list with NaN → None."""
    out: list[Any] = values.tolist()
    for i in np.flatnonzero(~np.isfinite(values)).tolist():
        out[i] = None
    return out


def _json_number(values: npt.NDArray[np.floating[Any]]) -> list[str]:
    """JSON tokens for floats: shortest round-trip text, `null` for NaN."""
    return ["null" if not math.isfinite(v) else repr(v) for v in values.tolist()]


@dataclass(frozen=True)
class ScoreValues:
    """The values of score rows as stored (rounded as their columns keep them), one array per
    value, row i = subscriber i. Every field is written and every field is fingerprinted:
    a value added here is compared too."""

    value_score: npt.NDArray[np.float64]
    churn_risk: npt.NDArray[np.float64]
    risk_method: npt.NDArray[np.int8]
    expected_residual_value: npt.NDArray[np.float64]
    mrr: npt.NDArray[np.float64]
    currency: npt.NDArray[np.str_]
    renewals: npt.NDArray[np.int64]
    segment: npt.NDArray[np.int8]
    nps_last: npt.NDArray[np.float64]
    # The `components` document: [n, 3] component values (NaN when absent), then the rest.
    components: npt.NDArray[np.float64]
    is_active: npt.NDArray[np.bool_]
    is_paused: npt.NDArray[np.bool_]
    nps_last_on: npt.NDArray[np.datetime64]
    customer_value_per_cycle: npt.NDArray[np.float64]
    customer_value_cumulative: npt.NDArray[np.float64]

    @classmethod
    def of(cls, s: SubscriberResults) -> ScoreValues:
        present: npt.NDArray[np.float64] = np.where(s.value_present, s.value_components, np.nan)
        components: npt.NDArray[np.float64] = np.round(present, 6)
        return cls(
            value_score=np.round(s.value_score, 4),
            churn_risk=np.round(s.churn_risk, 6),
            risk_method=s.risk_method,
            expected_residual_value=np.round(s.expected_residual_value, 2),
            mrr=np.round(s.mrr, 2),
            currency=s.currency,
            renewals=s.renewals,
            segment=s.segment,
            nps_last=s.nps_last,
            components=components,
            is_active=s.is_active,
            is_paused=s.is_paused,
            nps_last_on=s.nps_last_on.astype("datetime64[D]"),
            customer_value_per_cycle=np.round(s.customer_value_per_cycle, 2),
            customer_value_cumulative=np.round(s.customer_value_cumulative, 2),
        )

    def take(self, rows: npt.NDArray[np.int64]) -> ScoreValues:
        return ScoreValues(**{f.name: getattr(self, f.name)[rows] for f in fields(self)})

    def fingerprints(self) -> npt.NDArray[np.int64]:
        """A 64-bit hash of each row's values (never INT_NULL, which stands for "unknown").
        Rows with equal values get equal fingerprints; -0.0 and 0.0, and every NaN, are one
        value each, as in the stored row."""
        h = np.full(self.renewals.size, _FINGERPRINT_SEED, dtype=np.uint64)
        for f in fields(self):
            for lane in _lanes(getattr(self, f.name)):
                h = _mix(h ^ lane)
        out = h.view(np.int64)
        out[out == INT_NULL] += 1
        return out


# Bump when what a stored row holds changes without changing `ScoreValues` (say, how a value
# is written): every row then counts as changed once and is rewritten.
FINGERPRINT_VERSION = 1
_FINGERPRINT_SEED = np.uint64(0x5648_5343_0000_0000 + FINGERPRINT_VERSION)


def _lanes(values: npt.NDArray[Any]) -> list[npt.NDArray[np.uint64]]:
    """The 64-bit words that stand for each row's value(s) of one array."""
    if values.ndim == 2:
        return [lane for k in range(values.shape[1]) for lane in _lanes(values[:, k])]
    if values.dtype.kind in "US":
        names, codes = np.unique(values, return_inverse=True)
        stable = [
            int.from_bytes(hashlib.blake2b(str(v).encode(), digest_size=8).digest(), "big")
            for v in names.tolist()
        ]
        return [np.array(stable, dtype=np.uint64)[codes.reshape(-1)]]
    if values.dtype.kind == "f":
        canonical = np.where(np.isnan(values), np.nan, values + 0.0)  # one NaN; -0.0 → 0.0
        return [canonical.astype(np.float64).view(np.uint64)]
    if values.dtype.kind == "M":
        return [values.view(np.int64).view(np.uint64)]
    return [values.astype(np.int64).view(np.uint64)]


def _mix(x: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint64]:
    """splitmix64's finaliser: every input bit moves every output bit (wrapping arithmetic)."""
    x = x ^ (x >> np.uint64(30))
    x = x * np.uint64(0xBF58476D1CE4E5B9)
    x = x ^ (x >> np.uint64(27))
    x = x * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def components_json(v: ScoreValues) -> list[str]:
    """Each row's `components` document as JSON text (built with one format per row:
    json.dumps of a dict per row costs several times more on a million subscribers)."""
    cols = [_json_number(v.components[:, k]) for k in range(len(COMPONENT_NAMES))]
    per_cycle = _json_number(v.customer_value_per_cycle)
    cumulative = _json_number(v.customer_value_cumulative)
    answered = [
        "null" if d == "NaT" else f'"{d}"' for d in np.datetime_as_string(v.nps_last_on, "D")
    ]
    orders = (v.renewals + 1).tolist()
    active = ["true" if a else "false" for a in v.is_active.tolist()]
    paused = ["true" if p else "false" for p in v.is_paused.tolist()]
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
    v: ScoreValues,
    computed_at: datetime,
) -> list[list[Any]]:
    """One list per column of `_SCORE_COLUMNS` (components as JSON text), None for NULL."""
    n = subscriber_ids.size
    method_names = {int(k): v for k, v in RISK_METHOD_NAMES.items() if k != RiskMethod.NONE}
    return [
        [shop_id] * n,
        subscriber_ids.tolist(),
        _nullable(v.value_score),
        _nullable(v.churn_risk),
        [method_names.get(m) for m in v.risk_method.tolist()],
        _nullable(v.expected_residual_value),
        _nullable(v.mrr),
        [c or None for c in v.currency.tolist()],
        v.renewals.tolist(),
        [SEGMENT_NAMES[g] for g in v.segment.tolist()],
        [None if math.isnan(x) else int(x) for x in v.nps_last.tolist()],
        components_json(v),
        [computed_at] * n,
        v.fingerprints().tolist(),
    ]


@dataclass(frozen=True)
class ScoresStored:
    """What `store_scores` wrote: rows written (new or changed) and rows removed (gone)."""

    written: int
    removed: int


async def store_scores(
    session: AsyncSession,
    shop_id: int,
    subscriber_ids: npt.NDArray[np.int64],
    results: SubscriberResults,
    computed_at: datetime,
) -> ScoresStored:
    """Make the shop's score rows those of `subscriber_ids`, writing only what changed: the
    stored fingerprints are read (in the caller's transaction, after `claim_store` locked the
    shop), rows whose fingerprint differs or is missing are rewritten, rows of subscribers no
    longer scored are removed, and the rest are left untouched (no new row version, no index
    entry: on a recompute where little moved, most rows)."""
    values = ScoreValues.of(results)
    prints = values.fingerprints()
    conn = await session.connection()
    table = SCORES
    stored_ids, stored_prints = await columns(
        conn,
        [ident(table.c.subscriber_id), maybe_int(table.c.fingerprint)],
        table.c.shop_id == shop_id,
    )
    # Sorted here: an ORDER BY may make the server sort on disk (its estimate of a shop's
    # rows is far off right after a first recompute wrote them all).
    by_id = np.argsort(stored_ids, kind="stable")
    stored_ids, stored_prints = stored_ids[by_id], stored_prints[by_id]
    at = row_position(subscriber_ids, stored_ids)
    kept = np.zeros(prints.size, dtype=bool)
    found = at >= 0
    kept[found] = stored_prints[at[found]] == prints[found]
    rows = np.flatnonzero(~kept)
    gone = stored_ids[~np.isin(stored_ids, subscriber_ids)]
    replaced = subscriber_ids[rows[at[rows] >= 0]]
    cols = score_columns(shop_id, subscriber_ids[rows], values.take(rows), computed_at)
    if session.get_bind().dialect.name == "postgresql":
        await _rewrite_postgresql(session, shop_id, gone, replaced, cols)
    else:
        await _rewrite_sqlite(session, shop_id, gone, replaced, cols)
    return ScoresStored(written=int(rows.size), removed=int(gone.size))


async def _rewrite_postgresql(
    session: AsyncSession,
    shop_id: int,
    gone: npt.NDArray[np.int64],
    replaced: npt.NDArray[np.int64],
    cols: list[list[Any]],
) -> None:
    """Delete the `gone` rows; write the rows of `cols`, of which `replaced` exist already.

    Rows arrive by COPY (text built here: a tab-joined line per row costs a fraction of
    having the driver encode every value of every tuple), in the session's own transaction.
    When some exist, they go to a temporary table first and then in with one upsert: an
    update that keeps a row's keys skips its foreign-key checks, which were half the cost of
    writing it again (docs/benchmarks.md)."""
    table = SCORES
    if gone.size:
        ids = bindparam("ids", gone.tolist(), type_=postgresql.ARRAY(BigInteger))
        await session.execute(
            delete(table).where(table.c.shop_id == shop_id, table.c.subscriber_id == any_(ids))
        )
    if not cols[0]:
        return
    conn = await session.connection()
    raw = await conn.get_raw_connection()
    driver: Any = raw.driver_connection
    target = table.name
    if replaced.size:
        target = "score_changes"
        await driver.execute(f"CREATE TEMPORARY TABLE {target} (LIKE {table.name}) ON COMMIT DROP")
    await driver.copy_to_table(
        target, source=io.BytesIO(_copy_text(cols)), columns=list(_SCORE_COLUMNS), format="text"
    )
    if replaced.size:
        names = ", ".join(_SCORE_COLUMNS)
        updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in _SCORE_COLUMNS[2:])
        await driver.execute(
            f"INSERT INTO {table.name} ({names}) SELECT {names} FROM {target} "  # noqa: S608
            f"ON CONFLICT (shop_id, subscriber_id) DO UPDATE SET {updates}"
        )


async def _rewrite_sqlite(
    session: AsyncSession,
    shop_id: int,
    gone: npt.NDArray[np.int64],
    replaced: npt.NDArray[np.int64],
    cols: list[list[Any]],
) -> None:
    """Delete the `gone` and `replaced` rows, then insert the rows of `cols` (the demo's
    shops are small)."""
    table = SCORES
    ids = [*gone.tolist(), *replaced.tolist()]
    for i in range(0, len(ids), _SQLITE_IDS_PER_STATEMENT):
        chunk = ids[i : i + _SQLITE_IDS_PER_STATEMENT]
        await session.execute(
            delete(table).where(table.c.shop_id == shop_id, table.c.subscriber_id.in_(chunk))
        )
    batch = [
        {**dict(zip(_SCORE_COLUMNS, row, strict=True)), "components": json.loads(row[11])}
        for row in zip(*cols, strict=True)
    ]
    if batch:
        await session.execute(insert(table), batch)


# SQLite binds at most 32,766 parameters per statement.
_SQLITE_IDS_PER_STATEMENT = 10_000


def _copy_text(cols: list[list[Any]]) -> bytes:
    """Columns in COPY's text format. Values are numbers, our own names, timestamps and the
    components JSON (numbers, booleans, dates): none holds a tab, newline or backslash."""
    if not cols or not cols[0]:
        return b""
    text = [[r"\N" if v is None else str(v) for v in col] for col in cols]
    return ("\n".join(map("\t".join, zip(*text, strict=True))) + "\n").encode()
