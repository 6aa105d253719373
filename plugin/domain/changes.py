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

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from plugin.domain.rows import insert_if_absent
from plugin.models import ContractChange

UNKNOWN = "unknown"
SAME_CHANGE_WINDOW = timedelta(minutes=15)


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
    nearby = (
        await session.scalars(
            select(ContractChange).where(
                ContractChange.shop_id == shop_id,
                ContractChange.contract_pk == contract_pk,
                ContractChange.kind == kind,
                ContractChange.occurred_at >= at - SAME_CHANGE_WINDOW,
                ContractChange.occurred_at <= at + SAME_CHANGE_WINDOW,
            )
        )
    ).all()
    if source == UNKNOWN:
        if nearby:
            return False
    else:
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
