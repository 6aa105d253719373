"""The initiatives backlog of one shop: create, read, change. Never commits (the boundary does)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from plugin.initiatives.catalogue import (
    DEFAULT_WINDOW_DAYS,
    DONE,
    DROPPED,
    IDEA,
    RUNNING,
    TRANSITIONS,
)
from plugin.initiatives.holdout import draw_members, get_audience
from plugin.initiatives.metrics import MEMBER_METRICS, metric_unit
from plugin.initiatives.uplift import DEFAULT_HOLDOUT_SHARE
from plugin.initiatives.validation import InitiativeInvalid, parse_fields
from plugin.models.base import utcnow
from plugin.models.initiative_members import InitiativeAudience
from plugin.models.initiatives import Initiative

# Sizes no change of that unit can have: a share moves by at most 1 (0.02 is 2 points), NPS
# by at most 200 points. Typing "2" for 2 points of a share is the usual slip.
_MAX_CHANGE = {"share": 1.0, "points": 200.0}
_LIMIT_MESSAGES = {
    "share": "is a share of 1: at most 1 (write 0.02 for 2 points)",
    "points": "is in NPS points: at most 200",
}


class InitiativeNotFound(Exception):
    """No initiative with that id in this shop (HTTP 404): another shop's looks the same."""


async def list_initiatives(session: AsyncSession, shop_id: int) -> list[Initiative]:
    rows = await session.scalars(
        select(Initiative)
        .where(Initiative.shop_id == shop_id)
        .order_by(Initiative.created_at.desc(), Initiative.id.desc())
    )
    return list(rows)


async def get_initiative(session: AsyncSession, shop_id: int, initiative_id: int) -> Initiative:
    found = await session.scalar(
        select(Initiative).where(Initiative.shop_id == shop_id, Initiative.id == initiative_id)
    )
    if found is None:
        raise InitiativeNotFound(initiative_id)
    return found


async def create_initiative(
    session: AsyncSession, shop_id: int, data: Mapping[str, Any], today: date
) -> Initiative:
    """Add an initiative from untrusted input; `today` is the shop's current day."""
    fields = parse_fields(data, creating=True)
    targeting = _targeting(fields)
    initiative = Initiative(
        shop_id=shop_id,
        status=IDEA,
        window_days=DEFAULT_WINDOW_DAYS,
        starts_on=None,
        ends_on=None,
    )
    _apply(initiative, fields, today, previous_status=None)
    session.add(initiative)
    await session.flush()
    await _target(session, initiative, None, targeting, previous_status=None)
    return initiative


async def update_initiative(
    session: AsyncSession,
    shop_id: int,
    initiative_id: int,
    data: Mapping[str, Any],
    today: date,
) -> Initiative:
    """Change the fields given; status moves only forward (catalogue.TRANSITIONS)."""
    initiative = await get_initiative(session, shop_id, initiative_id)
    fields = parse_fields(data, creating=False)
    targeting = _targeting(fields)
    audience = await get_audience(session, shop_id, initiative_id)
    if targeting and audience is not None and audience.drawn_at is not None:
        raise InitiativeInvalid(
            next(iter(targeting)), "is fixed once the initiative has started (members are drawn)"
        )
    previous_status = initiative.status
    _apply(initiative, fields, today, previous_status=previous_status)
    await session.flush()
    await _target(session, initiative, audience, targeting, previous_status)
    return initiative


def _targeting(fields: dict[str, Any]) -> dict[str, Any]:
    """Take the audience fields out of `fields` (they live on InitiativeAudience)."""
    return {name: fields.pop(name) for name in ("audience", "holdout_share") if name in fields}


async def _target(
    session: AsyncSession,
    initiative: Initiative,
    audience: InitiativeAudience | None,
    targeting: dict[str, Any],
    previous_status: str | None,
) -> None:
    """Store the audience as asked, check the metric fits it, draw members on the start."""
    if "audience" in targeting and targeting["audience"] is None and audience is not None:
        await session.delete(audience)
        audience = None
    elif targeting.get("audience") is not None:
        if audience is None:
            audience = InitiativeAudience(
                initiative_id=initiative.id,
                shop_id=initiative.shop_id,
                holdout_share=DEFAULT_HOLDOUT_SHARE,
                members=0,
            )
            session.add(audience)
        audience.filter = targeting["audience"]
    if "holdout_share" in targeting:
        if audience is None:
            raise InitiativeInvalid(
                "holdout_share", "needs an audience (a holdout is drawn from it)"
            )
        audience.holdout_share = targeting["holdout_share"]
    member_metric = initiative.target_metric in MEMBER_METRICS
    if audience is None and member_metric:
        raise InitiativeInvalid(
            "target_metric", "is measured on members: give the initiative an audience"
        )
    if audience is not None and not member_metric:
        raise InitiativeInvalid(
            "target_metric",
            f"a targeted initiative is measured on its members: one of {', '.join(MEMBER_METRICS)}",
        )
    await session.flush()
    if (
        audience is not None
        and initiative.status == RUNNING
        and previous_status != RUNNING
        and audience.drawn_at is None
    ):
        await draw_members(session, initiative, audience, utcnow())
        await session.flush()


def _apply(
    initiative: Initiative, fields: dict[str, Any], today: date, previous_status: str | None
) -> None:
    """Check the initiative as it would be, then change it: a refusal leaves it untouched."""
    status = fields.get("status", initiative.status)
    if (
        previous_status is not None
        and status != previous_status
        and status not in TRANSITIONS[previous_status]
    ):
        raise InitiativeInvalid("status", f"cannot move from {previous_status} to {status}")
    starts_on: date | None = fields.get("starts_on", initiative.starts_on)
    ends_on: date | None = fields.get("ends_on", initiative.ends_on)
    if status == RUNNING and starts_on is None:
        starts_on = today
    if status != previous_status and status in (DONE, DROPPED) and ends_on is None:
        ends_on = today

    if status == RUNNING and starts_on is not None and starts_on > today:
        raise InitiativeInvalid("starts_on", "is in the future, but the initiative is running")
    if status == DONE and starts_on is None:
        raise InitiativeInvalid("starts_on", "is required for a done initiative")
    if starts_on is not None and ends_on is not None and ends_on < starts_on:
        raise InitiativeInvalid("ends_on", "must not be before starts_on")
    unit = metric_unit(fields.get("target_metric", initiative.target_metric))
    size = fields.get("expected_change", initiative.expected_change)
    limit = _MAX_CHANGE.get(unit) if unit else None
    if unit is not None and limit is not None and size > limit:
        raise InitiativeInvalid("expected_change", _LIMIT_MESSAGES[unit])

    for name, value in fields.items():
        setattr(initiative, name, value)
    initiative.starts_on = starts_on
    initiative.ends_on = ends_on
