"""Plans are kept in Shopify as selling plan groups: exact documents, versions, user errors,
throttling, and nothing half-done when Shopify refuses a step."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select

from plugin.billing.plans import (
    PlanInvalid,
    PlanRejected,
    create_plan,
    parse_plan,
    update_plan,
)
from plugin.db.transaction import transaction
from plugin.models import Plan, PlanVersion, Shop
from plugin.runtime import Runtime
from plugin.shopify import selling_plans as sp
from plugin.shopify.graphql import admin_client_for
from tests.support.fake_shopify import FakeShopify

MONTHLY = {"interval": "month", "delivery_count": 1, "billing_count": 1}
BIWEEKLY = {"interval": "week", "delivery_count": 2, "billing_count": 2}
PREPAID = {"interval": "month", "delivery_count": 1, "billing_count": 3}


def body(**fields: Any) -> dict[str, Any]:
    return {
        "name": "Coffee club",
        "frequencies": [MONTHLY, BIWEEKLY],
        "discount": {"type": "percentage", "value": 10},
        "products": ["gid://shopify/Product/1"],
        "variants": [],
        **fields,
    }


async def create(rt: Runtime, shop: Shop, data: Any) -> tuple[Plan, PlanVersion]:
    async with transaction(rt.sessionmaker, None) as tx:
        client = await admin_client_for(rt, tx.session, await tx.session.get(Shop, shop.id))
        assert client is not None
        return await create_plan(tx.session, shop.id, client, data)


async def edit(rt: Runtime, shop: Shop, plan_id: int, data: Any) -> tuple[Plan, PlanVersion]:
    async with transaction(rt.sessionmaker, None) as tx:
        client = await admin_client_for(rt, tx.session, await tx.session.get(Shop, shop.id))
        assert client is not None
        return await update_plan(tx.session, shop.id, plan_id, client, data)


async def versions(rt: Runtime, plan_id: int) -> list[PlanVersion]:
    async with rt.sessionmaker() as session:
        found = await session.scalars(
            select(PlanVersion).where(PlanVersion.plan_id == plan_id).order_by(PlanVersion.version)
        )
        return list(found)


def graphql_calls(shopify: FakeShopify) -> list[dict[str, Any]]:
    return [r.json() for r in shopify.requests_to("/graphql.json")]


async def test_create_sends_one_group_with_its_plans_and_products(
    rt: Runtime, shop: Shop, shopify: FakeShopify
) -> None:
    shopify.add_products(1)
    plan, version = await create(rt, shop, body())

    (call,) = graphql_calls(shopify)
    assert call["query"] == sp.GROUP_CREATE
    assert call["variables"] == {
        "input": {
            "name": "Coffee club",
            "merchantCode": "valuehealth-coffee-club",
            "options": ["Delivery"],
            "sellingPlansToCreate": [
                {
                    "name": "Delivered every month",
                    "options": ["Delivered every month"],
                    "position": 1,
                    "category": "SUBSCRIPTION",
                    "billingPolicy": {"recurring": {"interval": "MONTH", "intervalCount": 1}},
                    "deliveryPolicy": {"recurring": {"interval": "MONTH", "intervalCount": 1}},
                    "pricingPolicies": [
                        {
                            "fixed": {
                                "adjustmentType": "PERCENTAGE",
                                "adjustmentValue": {"percentage": 10.0},
                            }
                        }
                    ],
                },
                {
                    "name": "Delivered every 2 weeks",
                    "options": ["Delivered every 2 weeks"],
                    "position": 2,
                    "category": "SUBSCRIPTION",
                    "billingPolicy": {"recurring": {"interval": "WEEK", "intervalCount": 2}},
                    "deliveryPolicy": {"recurring": {"interval": "WEEK", "intervalCount": 2}},
                    "pricingPolicies": [
                        {
                            "fixed": {
                                "adjustmentType": "PERCENTAGE",
                                "adjustmentValue": {"percentage": 10.0},
                            }
                        }
                    ],
                },
            ],
        },
        "resources": {"productIds": ["gid://shopify/Product/1"], "productVariantIds": []},
    }
    group = shopify.groups[shop.domain][str(plan.group_gid)]
    assert group.products == {"gid://shopify/Product/1"}
    assert version.version == 1 and version.discount_value == Decimal("10.00")
    assert set(version.selling_plans) == {"month-1-1", "week-2-2"}
    assert set(version.selling_plans.values()) == set(group.plans)


async def test_a_prepaid_frequency_bills_for_several_deliveries(
    rt: Runtime, shop: Shop, shopify: FakeShopify
) -> None:
    shopify.add_products(1)
    await create(
        rt, shop, body(frequencies=[PREPAID], discount={"type": "fixed_amount", "value": 2})
    )
    plan_input = graphql_calls(shopify)[0]["variables"]["input"]["sellingPlansToCreate"][0]
    assert plan_input["name"] == "Delivered every month, billed every 3 months"
    assert plan_input["billingPolicy"]["recurring"]["intervalCount"] == 3
    assert plan_input["deliveryPolicy"]["recurring"]["intervalCount"] == 1
    assert plan_input["pricingPolicies"] == [
        {"fixed": {"adjustmentType": "FIXED_AMOUNT", "adjustmentValue": {"fixedValue": "2.00"}}}
    ]


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"frequencies": [MONTHLY]}, "name"),
        (body(name="  "), "name"),
        (body(frequencies=[]), "frequencies"),
        (body(frequencies=[MONTHLY, MONTHLY]), "frequencies[1]"),
        (
            body(frequencies=[{"interval": "fortnight", "delivery_count": 1}]),
            "frequencies[0].interval",
        ),
        (
            body(frequencies=[{"interval": "week", "delivery_count": 2, "billing_count": 3}]),
            "frequencies[0].billing_count",
        ),
        (
            body(frequencies=[{"interval": "month", "delivery_count": 0}]),
            "frequencies[0].delivery_count",
        ),
        (body(frequencies=[MONTHLY] * 32), "frequencies"),
        (body(discount={"type": "percentage", "value": 100}), "discount.value"),
        (body(discount={"type": "percentage", "value": "ten"}), "discount.value"),
        (body(discount={"type": "bogof"}), "discount.type"),
        (body(products=["gid://shopify/Order/1"]), "products"),
        (body(variants="all"), "variants"),
        (body(shop_id=2), "shop_id"),
        ([], "body"),
    ],
)
def test_bad_input_names_the_field(data: Any, field: str) -> None:
    with pytest.raises(PlanInvalid) as caught:
        parse_plan(data)
    assert caught.value.field == field


async def test_bad_input_never_reaches_shopify(
    rt: Runtime, shop: Shop, shopify: FakeShopify
) -> None:
    with pytest.raises(PlanInvalid):
        await create(rt, shop, body(frequencies=[]))
    assert graphql_calls(shopify) == []
    async with rt.sessionmaker() as session:
        assert (await session.scalars(select(Plan))).all() == []


async def test_a_discount_change_is_a_new_version_and_updates_the_plans_in_place(
    rt: Runtime, shop: Shop, shopify: FakeShopify
) -> None:
    shopify.add_products(1)
    plan, first = await create(rt, shop, body())
    shopify.requests.clear()

    plan, second = await edit(
        rt,
        shop,
        plan.id,
        {"discount": {"type": "percentage", "value": 15}, "frequencies": [MONTHLY, PREPAID]},
    )

    (call,) = graphql_calls(shopify)
    assert call["query"] == sp.GROUP_UPDATE
    group_input = call["variables"]["input"]
    assert call["variables"]["id"] == plan.group_gid
    assert [p["id"] for p in group_input["sellingPlansToUpdate"]] == [
        first.selling_plans["month-1-1"]
    ]
    assert group_input["sellingPlansToUpdate"][0]["pricingPolicies"][0]["fixed"][
        "adjustmentValue"
    ] == {"percentage": 15.0}
    assert [p["name"] for p in group_input["sellingPlansToCreate"]] == [
        "Delivered every month, billed every 3 months"
    ]
    assert group_input["sellingPlansToDelete"] == [first.selling_plans["week-2-2"]]

    assert plan.current_version == 2 and second.version == 2
    assert second.selling_plans["month-1-1"] == first.selling_plans["month-1-1"]
    kept = await versions(rt, plan.id)
    assert [(v.version, v.discount_value) for v in kept] == [
        (1, Decimal("10.00")),
        (2, Decimal("15.00")),
    ]
    assert kept[0].frequencies == [MONTHLY, BIWEEKLY]  # the old offer stays as it was


async def test_a_name_or_product_change_is_not_a_new_version(
    rt: Runtime, shop: Shop, shopify: FakeShopify
) -> None:
    shopify.add_products(1, 2)
    plan, _ = await create(rt, shop, body())
    shopify.requests.clear()

    plan, version = await edit(
        rt, shop, plan.id, {"name": "Coffee lovers", "products": ["gid://shopify/Product/2"]}
    )

    calls = graphql_calls(shopify)
    assert [c["query"] for c in calls] == [sp.ADD_PRODUCTS, sp.REMOVE_PRODUCTS, sp.GROUP_UPDATE]
    assert calls[0]["variables"] == {
        "id": plan.group_gid,
        "productIds": ["gid://shopify/Product/2"],
    }
    assert calls[1]["variables"] == {
        "id": plan.group_gid,
        "productIds": ["gid://shopify/Product/1"],
    }
    assert calls[2]["variables"]["input"] == {
        "name": "Coffee lovers",
        "merchantCode": "valuehealth-coffee-lovers",
    }
    assert version.version == 1 and plan.current_version == 1
    assert shopify.groups[shop.domain][str(plan.group_gid)].products == {"gid://shopify/Product/2"}


async def test_a_refused_step_undoes_the_steps_before_it_and_stores_nothing(
    rt: Runtime, shop: Shop, shopify: FakeShopify
) -> None:
    shopify.add_products(1, 2, variants_each=1)
    plan, _ = await create(rt, shop, body())
    shopify.refuse_next(
        "sellingPlanGroupUpdate", "Selling plan names must be unique", field=["input"], code="TAKEN"
    )

    with pytest.raises(PlanRejected) as caught:
        await edit(
            rt,
            shop,
            plan.id,
            {
                "products": ["gid://shopify/Product/2"],
                "variants": ["gid://shopify/ProductVariant/101"],
                "discount": {"type": "percentage", "value": 20},
            },
        )

    assert "Selling plan names must be unique" in str(caught.value)
    group = shopify.groups[shop.domain][str(plan.group_gid)]
    assert group.products == {"gid://shopify/Product/1"}  # added 2 removed, removed 1 re-added
    assert group.variants == set()
    async with rt.sessionmaker() as session:
        stored = await session.get(Plan, plan.id)
        assert stored is not None
        assert stored.products == ["gid://shopify/Product/1"] and stored.current_version == 1
    assert len(await versions(rt, plan.id)) == 1


async def test_an_unknown_product_is_shopifys_user_error_with_its_message(
    rt: Runtime, shop: Shop, shopify: FakeShopify
) -> None:
    with pytest.raises(PlanRejected) as caught:
        await create(rt, shop, body(products=["gid://shopify/Product/404"]))
    assert "gid://shopify/Product/404 does not exist" in str(caught.value)
    assert caught.value.field == "products"
    assert shopify.groups == {}


async def test_throttled_calls_wait_and_go_through(
    rt: Runtime, shop: Shop, shopify: FakeShopify
) -> None:
    shopify.add_products(1)
    shopify.throttle(1, requested=20, available=0, restore_rate=1000)
    plan, _ = await create(rt, shop, body())
    assert plan.group_gid in shopify.groups[shop.domain]
    assert len(graphql_calls(shopify)) == 2  # the throttled try and the one that went through
