"""Reads of stored results, always scoped to one shop (admin API, review pack, CLI).

Nothing here recomputes: it reads `MetricSnapshot` and `SubscriberScore` as the last
recompute stored them. Subscriber listings use keyset pagination: the page after a cursor is
found by an index range scan, however deep the page, and rows with equal scores keep a
stable order through the subscriber id tiebreak. Subscribers without the sort key (no longer
subscribed, so not scored) come after all scored ones, ordered by id.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Literal

from sqlalchemy import Select, and_, exists, func, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from plugin.models import Contract, MetricSnapshot, Subscriber, SubscriberScore
from plugin.scoring.metrics_doc import OverviewDoc
from plugin.scoring.store import LATEST

Period = Literal["day", "month"]
SORTS: dict[str, tuple[str, bool]] = {
    "value": ("value_score", False),
    "-value": ("value_score", True),
    "risk": ("churn_risk", False),
    "-risk": ("churn_risk", True),
    "mrr": ("mrr", False),
    "-mrr": ("mrr", True),
}
# Tabs of the Subscribers page that are not one stored segment.
SEGMENT_GROUPS: dict[str, tuple[str, ...]] = {"healthy": ("champions", "loyal")}
NPS_CATEGORIES = ("promoter", "passive", "detractor", "none")
DEFAULT_SORT = "-value"
MAX_LIMIT = 200
DEFAULT_LIMIT = 50


class BadCursor(ValueError):
    """A cursor that is not one of ours, or was made for another sort or filter."""


async def latest_overview(session: AsyncSession, shop_id: int) -> OverviewDoc | None:
    """The shop's latest metrics document, None before its first recompute."""
    snap = MetricSnapshot.__table__
    metrics = await session.scalar(
        select(snap.c.metrics)
        .where(snap.c.shop_id == shop_id, snap.c.period == LATEST)
        .order_by(snap.c.period_start.desc())
        .limit(1)
    )
    return metrics  # type: ignore[no-any-return]


async def snapshot(
    session: AsyncSession, shop_id: int, period: Period, period_start: date
) -> OverviewDoc | None:
    """One stored snapshot (a month's figures for its review: period "month", its first day)."""
    snap = MetricSnapshot.__table__
    metrics = await session.scalar(
        select(snap.c.metrics).where(
            snap.c.shop_id == shop_id,
            snap.c.period == period,
            snap.c.period_start == period_start,
        )
    )
    return metrics  # type: ignore[no-any-return]


async def trend(
    session: AsyncSession, shop_id: int, path: str, period: Period, start: date, end: date
) -> list[tuple[date, float | None]]:
    """(period start, value) of one metric (dotted path in the document) over [start, end]."""
    snap = MetricSnapshot.__table__
    value = snap.c.metrics[tuple(path.split("."))].as_float()
    rows = await session.execute(
        select(snap.c.period_start, value)
        .where(
            snap.c.shop_id == shop_id,
            snap.c.period == period,
            snap.c.period_start >= start,
            snap.c.period_start <= end,
        )
        .order_by(snap.c.period_start)
    )
    return [(row[0], None if row[1] is None else float(row[1])) for row in rows]


# ---- subscribers ----------------------------------------------------------------------------


@dataclass(frozen=True)
class SubscriberFilter:
    """What the Subscribers page narrows a listing to; every field optional.

    segment: a stored segment, or "healthy" (champions + loyal), "new" (no renewal yet) or
        "paused" (holds a paused contract). plan: a contract's plan name. cadence:
        "<interval>:<count>" of a contract's billing policy ("month:1"). cohort: "YYYY-MM",
        the month of the subscriber's first contract. currency: the scored currency.
        nps: the latest answer's category (promoter, passive, detractor, none).
    """

    segment: str | None = None
    plan: str | None = None
    cadence: str | None = None
    cohort: str | None = None
    currency: str | None = None
    nps: str | None = None

    def fingerprint(self) -> str | None:
        """The filter as a short string a cursor carries (None when nothing is filtered)."""
        values = [self.segment, self.plan, self.cadence, self.cohort, self.currency, self.nps]
        if not any(values):
            return None
        if values[1:] == [None] * 5:
            return self.segment  # the shape cursors had before the other filters
        return json.dumps(values, separators=(",", ":"))


@dataclass(frozen=True)
class Cursor:
    sort: str
    segment: str | None
    scored: bool  # still in the scored rows (else among the unscored, by id)
    key: float | None
    subscriber_id: int

    def encode(self) -> str:
        raw = json.dumps(
            [self.sort, self.segment, self.scored, self.key, self.subscriber_id],
            separators=(",", ":"),
        )
        return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")

    @classmethod
    def decode(cls, text: str, sort: str, segment: str | None) -> Cursor:
        try:
            raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
            s, g, scored, key, sid = json.loads(raw)
        except (binascii.Error, ValueError, TypeError) as exc:
            raise BadCursor("cursor is not valid") from exc
        if s != sort or g != segment:
            raise BadCursor("cursor was made for another sort or segment")
        if not isinstance(scored, bool) or not isinstance(sid, int) or isinstance(sid, bool):
            raise BadCursor("cursor is not valid")
        if scored and (not isinstance(key, int | float) or isinstance(key, bool)):
            raise BadCursor("cursor is not valid")
        return cls(sort, segment, scored, float(key) if scored else None, sid)


@dataclass(frozen=True)
class SubscriberPage:
    items: list[dict[str, Any]]
    next_cursor: str | None


def _month_bounds(month: str) -> tuple[datetime, datetime]:
    start = datetime.fromisoformat(f"{month}-01T00:00:00+00:00")
    end = (
        start.replace(year=start.year + 1, month=1)
        if start.month == 12
        else start.replace(month=start.month + 1)
    )
    return start, end


def _filtered(stmt: Select[Any], shop_id: int, f: SubscriberFilter) -> Select[Any]:
    sc = SubscriberScore.__table__
    c = Contract.__table__
    mine = (c.c.shop_id == shop_id) & (c.c.subscriber_id == sc.c.subscriber_id)
    if f.segment in SEGMENT_GROUPS:
        stmt = stmt.where(sc.c.segment.in_(SEGMENT_GROUPS[f.segment]))
    elif f.segment == "new":
        stmt = stmt.where(sc.c.tenure == 0, sc.c.segment != "churned")
    elif f.segment == "paused":
        stmt = stmt.where(exists().where(mine, c.c.status == "paused"))
    elif f.segment is not None:
        stmt = stmt.where(sc.c.segment == f.segment)
    if f.plan is not None:
        stmt = stmt.where(exists().where(mine, c.c.plan_name == f.plan))
    if f.cadence is not None:
        interval, _, count = f.cadence.partition(":")
        stmt = stmt.where(
            exists().where(
                mine, c.c.billing_interval == interval, c.c.billing_interval_count == int(count)
            )
        )
    if f.cohort is not None:
        start, end = _month_bounds(f.cohort)
        first = select(func.min(c.c.started_at)).where(mine).scalar_subquery()
        stmt = stmt.where(and_(first >= start, first < end))
    if f.currency is not None:
        stmt = stmt.where(sc.c.currency == f.currency)
    if f.nps == "promoter":
        stmt = stmt.where(sc.c.nps_last >= 9)
    elif f.nps == "passive":
        stmt = stmt.where(sc.c.nps_last.between(7, 8))
    elif f.nps == "detractor":
        stmt = stmt.where(sc.c.nps_last <= 6)
    elif f.nps == "none":
        stmt = stmt.where(sc.c.nps_last.is_(None))
    return stmt


def _listing(shop_id: int, segment: str | SubscriberFilter | None) -> Select[Any]:
    sc = SubscriberScore.__table__
    sub = Subscriber.__table__
    stmt = (
        select(
            sc.c.subscriber_id,
            sub.c.customer_id,
            sub.c.first_name,
            sub.c.last_name,
            sub.c.email,
            sc.c.value_score,
            sc.c.churn_risk,
            sc.c.risk_method,
            sc.c.expected_residual_value,
            sc.c.mrr,
            sc.c.currency,
            sc.c.tenure,
            sc.c.segment,
            sc.c.nps_last,
        )
        .select_from(sc.join(sub, (sub.c.id == sc.c.subscriber_id) & (sub.c.shop_id == shop_id)))
        .where(sc.c.shop_id == shop_id)
    )
    f = segment if isinstance(segment, SubscriberFilter) else SubscriberFilter(segment=segment)
    return _filtered(stmt, shop_id, f)


def _money(value: Any) -> float | None:
    return None if value is None else float(value)


def _name(first: str | None, last: str | None) -> str | None:
    name = " ".join(part for part in (first, last) if part)
    return name or None


def _item(row: Any, with_id: bool = False) -> dict[str, Any]:
    item = {
        "customer_id": row.customer_id,
        "name": _name(row.first_name, row.last_name),
        "email": row.email,
        "value_score": row.value_score,
        "churn_risk": row.churn_risk,
        "risk_method": row.risk_method,
        "expected_residual_value": _money(row.expected_residual_value),
        "mrr": _money(row.mrr),
        "currency": row.currency,
        "tenure": row.tenure,
        "segment": row.segment,
        "nps_last": row.nps_last,
    }
    if with_id:
        item["subscriber_id"] = row.subscriber_id
    return item


async def subscriber_page(
    session: AsyncSession,
    shop_id: int,
    *,
    sort: str = DEFAULT_SORT,
    segment: str | None = None,
    cursor: str | None = None,
    limit: int = DEFAULT_LIMIT,
    filters: SubscriberFilter | None = None,
    with_ids: bool = False,
) -> SubscriberPage:
    """One page of the shop's scored subscribers. Raises BadCursor.

    `filters` replaces `segment` when given (its segment field is the segment)."""
    column, descending = SORTS[sort]
    sc = SubscriberScore.__table__
    key = sc.c[column]
    sid = sc.c.subscriber_id
    where = filters if filters is not None else SubscriberFilter(segment=segment)
    scope = where.fingerprint()
    segment_arg = where
    after = Cursor.decode(cursor, sort, scope) if cursor else None
    rows: list[Any] = []
    if after is None or after.scored:
        stmt = _listing(shop_id, segment_arg).where(key.is_not(None))
        if after is not None:
            pair = tuple_(key, sid)
            mark = tuple_(after.key, after.subscriber_id)
            stmt = stmt.where(pair < mark if descending else pair > mark)
        order = (key.desc(), sid.desc()) if descending else (key.asc(), sid.asc())
        rows = list((await session.execute(stmt.order_by(*order).limit(limit + 1))).all())
    if len(rows) <= limit:
        start = after.subscriber_id if after is not None and not after.scored else None
        stmt = _listing(shop_id, segment_arg).where(key.is_(None))
        if start is not None:
            stmt = stmt.where(sid > start)
        more = await session.execute(stmt.order_by(sid.asc()).limit(limit + 1 - len(rows)))
        rows.extend(more.all())
    page, rest = rows[:limit], rows[limit:]
    next_cursor = None
    if rest:
        last = page[-1]
        last_key = getattr(last, column)
        if last_key is not None:
            last_key = float(last_key)  # Numeric MRR: a JSON number in the cursor
        next_cursor = Cursor(
            sort, scope, last_key is not None, last_key, last.subscriber_id
        ).encode()
    return SubscriberPage([_item(row, with_ids) for row in page], next_cursor)


def _iso(value: datetime | date | None) -> str | None:
    return None if value is None else value.isoformat()


async def subscriber_detail(
    session: AsyncSession, shop_id: int, customer_id: int
) -> dict[str, Any] | None:
    """A subscriber's scores and contracts in this shop; None when not this shop's customer."""
    sub = Subscriber.__table__
    found = (
        await session.execute(
            select(sub.c.id, sub.c.first_name, sub.c.last_name, sub.c.email).where(
                sub.c.shop_id == shop_id, sub.c.customer_id == customer_id
            )
        )
    ).first()
    if found is None:
        return None
    sc = SubscriberScore.__table__
    score = (
        await session.execute(
            select(sc).where(sc.c.shop_id == shop_id, sc.c.subscriber_id == found.id)
        )
    ).first()
    c = Contract.__table__
    contracts = (
        await session.execute(
            select(
                c.c.contract_id,
                c.c.status,
                c.c.plan_name,
                c.c.currency,
                c.c.recurring_amount,
                c.c.billing_interval,
                c.c.billing_interval_count,
                c.c.started_at,
                c.c.ended_at,
                c.c.next_billing_date,
                c.c.origin_order_id,
            )
            .where(c.c.shop_id == shop_id, c.c.subscriber_id == found.id)
            .order_by(c.c.started_at, c.c.contract_id)
        )
    ).all()
    return {
        "subscriber_id": found.id,
        "customer_id": customer_id,
        "name": _name(found.first_name, found.last_name),
        "email": found.email,
        "value_score": score.value_score if score else None,
        "churn_risk": score.churn_risk if score else None,
        "risk_method": score.risk_method if score else None,
        "expected_residual_value": _money(score.expected_residual_value) if score else None,
        "mrr": _money(score.mrr) if score else None,
        "currency": score.currency if score else None,
        "tenure": score.tenure if score else None,
        "segment": score.segment if score else None,
        "nps_last": score.nps_last if score else None,
        "components": score.components if score else None,
        "computed_at": _iso(score.computed_at) if score else None,
        "contracts": [
            {
                "contract_id": row.contract_id,
                "status": row.status,
                "plan": row.plan_name,
                "currency": row.currency,
                "recurring_amount": _money(row.recurring_amount),
                "billing_interval": row.billing_interval,
                "billing_interval_count": row.billing_interval_count,
                "started_at": _iso(row.started_at),
                "ended_at": _iso(row.ended_at),
                "next_billing_date": _iso(row.next_billing_date),
                "origin_order_id": row.origin_order_id,
            }
            for row in contracts
        ],
    }
