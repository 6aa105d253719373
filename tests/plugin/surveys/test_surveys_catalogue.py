"""The reason catalogue: seeded from the default codes, versioned on every change of meaning."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from plugin.db.transaction import transaction
from plugin.models import CancelReasonOption
from plugin.runtime import Runtime
from plugin.surveys.catalogue import (
    CatalogueError,
    add_reason,
    current_reasons,
    display_order,
    ensure_catalogue,
    offered_reasons,
    reorder_reasons,
    revise_reason,
    set_reason_active,
)
from plugin.value.reasons import DEFAULT_REASONS
from tests.plugin.surveys.survey_factories import add_shop, count


async def test_seeded_once_from_the_default_codes(runtime: Runtime) -> None:
    async with transaction(runtime.sessionmaker, None) as tx:
        shop = await add_shop(tx.session)
        await ensure_catalogue(tx.session, shop.id)
        await ensure_catalogue(tx.session, shop.id)
        reasons = await offered_reasons(tx.session, shop.id)
    assert [(r.code, r.driver, r.requires_comment, r.version) for r in reasons] == [
        (d.code, d.driver, d.requires_comment, 1) for d in DEFAULT_REASONS
    ]
    assert await count(runtime, CancelReasonOption) == len(DEFAULT_REASONS)


async def test_changes_of_meaning_make_versions_the_rest_is_in_place(runtime: Runtime) -> None:
    async with transaction(runtime.sessionmaker, None) as tx:
        shop = await add_shop(tx.session)
        revised = await revise_reason(
            tx.session, shop.id, "too_expensive", labels={"en": "Too pricey"}
        )
        assert revised.version == 2 and revised.driver == "price_value"
        again = await revise_reason(tx.session, shop.id, "too_expensive", requires_comment=True)
        assert (again.version, again.labels, again.requires_comment) == (
            3,
            {"en": "Too pricey"},
            True,
        )
        await set_reason_active(tx.session, shop.id, "budget", False)
        added = await add_reason(tx.session, shop.id, "moved_abroad", "life_change")
        await reorder_reasons(tx.session, shop.id, ["moved_abroad", "too_expensive"])
        offered = await offered_reasons(tx.session, shop.id)
        everything = await current_reasons(tx.session, shop.id)
        versions = list(
            await tx.session.scalars(
                select(CancelReasonOption.version)
                .where(CancelReasonOption.code == "too_expensive")
                .order_by(CancelReasonOption.version)
            )
        )
    codes = [r.code for r in offered]
    assert codes[:2] == ["moved_abroad", "too_expensive"]
    assert "budget" not in codes and "budget" in [r.code for r in everything]
    assert codes[-1] == "other"  # a new reason goes before "other"
    assert added.version == 1
    assert versions == [1, 2, 3]  # old versions stay for the answers given against them
    assert next(r for r in offered if r.code == "too_expensive").version == 3


async def test_bad_edits_are_refused(runtime: Runtime) -> None:
    async with transaction(runtime.sessionmaker, None) as tx:
        shop = await add_shop(tx.session)
        for call in (
            add_reason(tx.session, shop.id, "Bad Code", "cadence"),
            add_reason(tx.session, shop.id, "payment_failed", "cadence"),
            add_reason(tx.session, shop.id, "too_expensive", "cadence"),
            add_reason(tx.session, shop.id, "new_code", "vibes"),
            revise_reason(tx.session, shop.id, "nope"),
            revise_reason(tx.session, shop.id, "budget", labels={"en": ""}),
            reorder_reasons(tx.session, shop.id, ["nope"]),
        ):
            with pytest.raises(CatalogueError):
                await call


async def test_randomised_order_is_stable_per_subscriber_and_keeps_other_last(
    runtime: Runtime,
) -> None:
    async with transaction(runtime.sessionmaker, None) as tx:
        shop = await add_shop(tx.session)
        reasons = await offered_reasons(tx.session, shop.id)
    assert display_order(reasons, randomise=False, seed="x") == reasons
    orders = {
        tuple(r.code for r in display_order(reasons, randomise=True, seed=f"1:{n}:2"))
        for n in range(20)
    }
    assert len(orders) > 1
    assert all(
        order[-1] == "other" and sorted(order) == sorted(r.code for r in reasons)
        for order in orders
    )
    first = display_order(reasons, randomise=True, seed="1:7:2")
    assert display_order(reasons, randomise=True, seed="1:7:2") == first
