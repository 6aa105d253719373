"""A shop's cancel-reason catalogue: versioned, merchant-editable, seeded from the default codes.

Each row of `cancel_reason_options` is one version of one code. The current entry of a code is
its highest version. A change of meaning (driver, whether a comment is required, the labels a
subscriber reads) makes a new version, never an edit in place, and every answer stores the
version it was given against. Ordering and retiring are not meaning changes and are made in
place on the current version.

The default codes and their value drivers come from `plugin.value.reasons.DEFAULT_REASONS`
(docs/design.md §6); system reasons (payment_failed, merchant_cancelled, expired, unknown) are never
offered to subscribers.
"""

from __future__ import annotations

import random
import re
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from plugin.domain.rows import insert_if_absent
from plugin.models import CancelReasonOption
from plugin.value.reasons import DEFAULT_REASONS, SYSTEM_CODES, VALUE_DRIVERS

_CODE = re.compile(r"^[a-z][a-z0-9_]{1,63}$")
_MAX_LABEL = 200
OTHER = "other"


class CatalogueError(ValueError):
    """A merchant's edit of the reason list is invalid; names what is wrong."""


async def ensure_catalogue(session: AsyncSession, shop_id: int) -> None:
    """Seed the default reasons (version 1) for a shop that has none. Safe to run concurrently:
    the unique (shop, code, version) key makes a second seeding a no-op."""
    has_any = await session.scalar(
        select(CancelReasonOption.id).where(CancelReasonOption.shop_id == shop_id).limit(1)
    )
    if has_any is not None:
        return
    for position, reason in enumerate(DEFAULT_REASONS):
        await insert_if_absent(
            session,
            CancelReasonOption,
            {
                "shop_id": shop_id,
                "code": reason.code,
                "version": 1,
                "driver": reason.driver or "other",
                "requires_comment": reason.requires_comment,
                "active": True,
                "position": position,
                "labels": {},
            },
            ("shop_id", "code", "version"),
        )


async def current_reasons(session: AsyncSession, shop_id: int) -> list[CancelReasonOption]:
    """The current version of every code of the shop (retired ones included), by position.
    A shop without a list gets the default one first."""
    reasons = await _latest_versions(session, shop_id)
    if not reasons:
        await ensure_catalogue(session, shop_id)
        reasons = await _latest_versions(session, shop_id)
    return reasons


async def _latest_versions(session: AsyncSession, shop_id: int) -> list[CancelReasonOption]:
    latest = (
        select(CancelReasonOption.code, func.max(CancelReasonOption.version).label("version"))
        .where(CancelReasonOption.shop_id == shop_id)
        .group_by(CancelReasonOption.code)
        .subquery()
    )
    rows = await session.scalars(
        select(CancelReasonOption)
        .join(
            latest,
            (CancelReasonOption.code == latest.c.code)
            & (CancelReasonOption.version == latest.c.version),
        )
        .where(CancelReasonOption.shop_id == shop_id)
        .order_by(CancelReasonOption.position, CancelReasonOption.code)
    )
    return list(rows)


async def offered_reasons(session: AsyncSession, shop_id: int) -> list[CancelReasonOption]:
    """What a subscriber may choose: current, active versions, in the merchant's order."""
    return [r for r in await current_reasons(session, shop_id) if r.active]


def display_order(
    reasons: Sequence[CancelReasonOption], *, randomise: bool, seed: str
) -> list[CancelReasonOption]:
    """The order shown to one subscriber. Randomised against order bias when the shop asks,
    stable per `seed` (the same subscriber sees the same order on reload); "other" stays last
    because it reads as the way out, not as an option among equals."""
    ordered = list(reasons)
    if not randomise:
        return ordered
    others = [r for r in ordered if r.code == OTHER]
    rest = [r for r in ordered if r.code != OTHER]
    random.Random(seed).shuffle(rest)
    return rest + others


def _check_code(code: str) -> None:
    if not _CODE.match(code):
        raise CatalogueError(f"reason code {code!r} must be lowercase letters, digits and _")
    if code in SYSTEM_CODES:
        raise CatalogueError(f"reason code {code!r} is reserved for system reasons")


def _check_driver(driver: str) -> None:
    if driver not in VALUE_DRIVERS:
        raise CatalogueError(f"driver {driver!r} is not one of {', '.join(VALUE_DRIVERS)}")


def _check_labels(labels: Mapping[str, Any]) -> dict[str, str]:
    clean: dict[str, str] = {}
    for locale, text in labels.items():
        if not isinstance(locale, str) or not isinstance(text, str) or not text.strip():
            raise CatalogueError("labels must map a locale to a non-empty text")
        if len(text) > _MAX_LABEL:
            raise CatalogueError(f"label for {locale!r} is longer than {_MAX_LABEL} characters")
        clean[locale.lower()] = text.strip()
    return clean


async def _current(session: AsyncSession, shop_id: int, code: str) -> CancelReasonOption:
    for reason in await current_reasons(session, shop_id):
        if reason.code == code:
            return reason
    raise CatalogueError(f"no reason {code!r} in this shop's list")


async def add_reason(
    session: AsyncSession,
    shop_id: int,
    code: str,
    driver: str,
    *,
    requires_comment: bool = False,
    labels: Mapping[str, str] | None = None,
) -> CancelReasonOption:
    """A new code (version 1) at the end of the list, before "other"."""
    _check_code(code)
    _check_driver(driver)
    reasons = await current_reasons(session, shop_id)
    if any(r.code == code for r in reasons):
        raise CatalogueError(f"reason {code!r} already exists; revise it instead")
    option = CancelReasonOption(
        shop_id=shop_id,
        code=code,
        version=1,
        driver=driver,
        requires_comment=requires_comment,
        active=True,
        position=max((r.position for r in reasons if r.code != OTHER), default=-1) + 1,
        labels=_check_labels(labels or {}),
    )
    for reason in reasons:
        if reason.code == OTHER and reason.position <= option.position:
            reason.position = option.position + 1
    session.add(option)
    await session.flush()
    return option


async def revise_reason(
    session: AsyncSession,
    shop_id: int,
    code: str,
    *,
    driver: str | None = None,
    requires_comment: bool | None = None,
    labels: Mapping[str, str] | None = None,
) -> CancelReasonOption:
    """A new version of `code` with the given changes; earlier answers keep their version."""
    current = await _current(session, shop_id, code)
    if driver is not None:
        _check_driver(driver)
    revised = CancelReasonOption(
        shop_id=shop_id,
        code=code,
        version=current.version + 1,
        driver=driver if driver is not None else current.driver,
        requires_comment=(
            requires_comment if requires_comment is not None else current.requires_comment
        ),
        active=current.active,
        position=current.position,
        labels=_check_labels(labels) if labels is not None else dict(current.labels or {}),
    )
    session.add(revised)
    await session.flush()
    return revised


async def set_reason_active(
    session: AsyncSession, shop_id: int, code: str, active: bool
) -> CancelReasonOption:
    """Retire a reason (no longer offered; past answers keep it) or offer it again."""
    current = await _current(session, shop_id, code)
    current.active = active
    await session.flush()
    return current


async def reorder_reasons(session: AsyncSession, shop_id: int, codes: Sequence[str]) -> None:
    """Put the listed codes first, in this order; unlisted codes keep their relative order."""
    reasons = await current_reasons(session, shop_id)
    known = {r.code for r in reasons}
    unknown = [c for c in codes if c not in known]
    if unknown:
        raise CatalogueError(f"no reason {unknown[0]!r} in this shop's list")
    rank = {code: i for i, code in enumerate(dict.fromkeys(codes))}
    ordered = sorted(reasons, key=lambda r: (rank.get(r.code, len(rank)), r.position))
    for position, reason in enumerate(ordered):
        reason.position = position
    await session.flush()
