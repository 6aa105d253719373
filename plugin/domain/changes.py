"""One home for recording a contract change (pause, resume, skip, frequency change …) with who
made it, from either side: the app that carried it out (self-service: source known) and the
webhook Shopify sends about it afterwards (source usually unknown).

Both describe the same change, so the second to arrive must not count it again: a change of
the same kind on the same contract within `SAME_CHANGE_WINDOW` of the other is the same
change. When the webhook came first, the app's record upgrades its source instead of adding a
row; when the app came first, the webhook's row is not added.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Insert,
    String,
    Table,
    bindparam,
    exists,
    select,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from plugin.domain.rows import insert_if_absent
from plugin.models import ContractChange
from plugin.models.base import UtcDateTime

UNKNOWN = "unknown"
SAME_CHANGE_WINDOW = timedelta(minutes=15)


def _same_change(
    shop_id: Any, contract_pk: Any, kind: Any, since: Any, until: Any
) -> list[ColumnElement[bool]]:
    """A change of this kind on the contract between `since` and `until` (values or binds)."""
    return [
        ContractChange.shop_id == shop_id,
        ContractChange.contract_pk == contract_pk,
        ContractChange.kind == kind,
        ContractChange.occurred_at >= since,
        ContractChange.occurred_at <= until,
    ]


_CHANGES = cast(Table, ContractChange.__table__)
_COLUMNS = ("shop_id", "contract_pk", "kind", "source", "occurred_at")
# INSERT … SELECT the values WHERE NOT EXISTS (the same change) ON CONFLICT DO NOTHING, per
# dialect: an anonymous change in one statement, not a look-up and then an insert.
_anonymous_inserts: dict[str, Insert] = {}


def _anonymous_insert(dialect: str) -> Insert:
    statement = _anonymous_inserts.get(dialect)
    if statement is None:
        values = select(
            bindparam("shop_id", type_=BigInteger),
            bindparam("contract_pk", type_=BigInteger),
            bindparam("kind", type_=String),
            bindparam("source", type_=String),
            bindparam("occurred_at", type_=UtcDateTime),
        ).where(
            ~exists().where(
                *_same_change(
                    bindparam("shop_id"),
                    bindparam("contract_pk"),
                    bindparam("kind"),
                    bindparam("since", type_=UtcDateTime),
                    bindparam("until", type_=UtcDateTime),
                )
            )
        )
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        # The table, not the entity: a Core statement (the ORM would take the parameters for
        # rows to insert).
        statement = _anonymous_inserts[dialect] = (
            insert(_CHANGES)
            .from_select(list(_COLUMNS), values)
            .on_conflict_do_nothing(index_elements=["contract_pk", "kind", "occurred_at"])
            .returning(_CHANGES.c.id)
        )
    return statement


async def record_change(
    session: AsyncSession,
    *,
    shop_id: int,
    contract_pk: int,
    kind: str,
    at: datetime,
    source: str = UNKNOWN,
) -> bool:
    """Record one change; False when it was already known (then at most its source is set)."""
    since, until = at - SAME_CHANGE_WINDOW, at + SAME_CHANGE_WINDOW
    if source == UNKNOWN:  # known in any form already: nothing to add
        statement = _anonymous_insert(session.get_bind().dialect.name)
        values = dict(zip(_COLUMNS, (shop_id, contract_pk, kind, source, at), strict=True))
        result = await session.execute(statement, {**values, "since": since, "until": until})
        return result.first() is not None
    nearby = (
        await session.scalars(
            select(ContractChange).where(*_same_change(shop_id, contract_pk, kind, since, until))
        )
    ).all()
    anonymous = next((c for c in nearby if c.source == UNKNOWN), None)
    if anonymous is not None:
        anonymous.source = source
        return False
    if any(c.source == source for c in nearby):
        return False
    return await insert_if_absent(
        session,
        ContractChange,
        {
            "shop_id": shop_id,
            "contract_pk": contract_pk,
            "kind": kind,
            "source": source,
            "occurred_at": at,
        },
        ("contract_pk", "kind", "occurred_at"),
    )
