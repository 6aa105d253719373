"""Selling plan groups in Shopify: the documents we send and how their answers are read.

One plan of ours is one selling plan group with one selling plan per frequency offered. The
group is created with its products in one mutation (atomic in Shopify); later edits are the
group update (frequencies, discount, name: atomic on its own) and the product and variant
add/remove mutations, each a separate call so that one refused step can be undone by the
caller (`plugin.billing.plans`).
"""

from __future__ import annotations

from typing import Any

from plugin.shopify.graphql import AdminGraphQL
from plugin.shopify.mutations import mutate

MAX_PLANS_PER_GROUP = 31  # Shopify's limit of selling plans in one group

_USER_ERRORS = "userErrors { field message code }"

GROUP_CREATE = f"""mutation SellingPlanGroupCreate(
  $input: SellingPlanGroupInput!, $resources: SellingPlanGroupResourceInput
) {{
  sellingPlanGroupCreate(input: $input, resources: $resources) {{
    sellingPlanGroup {{ id sellingPlans(first: {MAX_PLANS_PER_GROUP}) {{ nodes {{ id name }} }} }}
    {_USER_ERRORS}
  }}
}}"""

GROUP_UPDATE = f"""mutation SellingPlanGroupUpdate($id: ID!, $input: SellingPlanGroupInput!) {{
  sellingPlanGroupUpdate(id: $id, input: $input) {{
    sellingPlanGroup {{ id sellingPlans(first: {MAX_PLANS_PER_GROUP}) {{ nodes {{ id name }} }} }}
    deletedSellingPlanIds
    {_USER_ERRORS}
  }}
}}"""

ADD_PRODUCTS = f"""mutation SellingPlanGroupAddProducts($id: ID!, $productIds: [ID!]!) {{
  sellingPlanGroupAddProducts(id: $id, productIds: $productIds) {{
    sellingPlanGroup {{ id }}
    {_USER_ERRORS}
  }}
}}"""

REMOVE_PRODUCTS = f"""mutation SellingPlanGroupRemoveProducts($id: ID!, $productIds: [ID!]!) {{
  sellingPlanGroupRemoveProducts(id: $id, productIds: $productIds) {{
    removedProductIds
    {_USER_ERRORS}
  }}
}}"""

ADD_VARIANTS = f"""mutation SellingPlanGroupAddProductVariants(
  $id: ID!, $productVariantIds: [ID!]!
) {{
  sellingPlanGroupAddProductVariants(id: $id, productVariantIds: $productVariantIds) {{
    sellingPlanGroup {{ id }}
    {_USER_ERRORS}
  }}
}}"""

REMOVE_VARIANTS = f"""mutation SellingPlanGroupRemoveProductVariants(
  $id: ID!, $productVariantIds: [ID!]!
) {{
  sellingPlanGroupRemoveProductVariants(id: $id, productVariantIds: $productVariantIds) {{
    removedProductVariantIds
    {_USER_ERRORS}
  }}
}}"""


def plan_gids(group: dict[str, Any]) -> dict[str, str]:
    """Selling plan name -> GID, from a returned group."""
    nodes = (group.get("sellingPlans") or {}).get("nodes") or []
    return {str(n["name"]): str(n["id"]) for n in nodes if isinstance(n, dict)}


async def create_group(
    client: AdminGraphQL, group_input: dict[str, Any], products: list[str], variants: list[str]
) -> tuple[str, dict[str, str]]:
    """Create the group with its products; returns its GID and its plans' GIDs by name."""
    payload = await mutate(
        client,
        GROUP_CREATE,
        "sellingPlanGroupCreate",
        {
            "input": group_input,
            "resources": {"productIds": products, "productVariantIds": variants},
        },
    )
    group = payload.get("sellingPlanGroup") or {}
    return str(group["id"]), plan_gids(group)


async def update_group(
    client: AdminGraphQL, group_gid: str, group_input: dict[str, Any]
) -> dict[str, str]:
    payload = await mutate(
        client, GROUP_UPDATE, "sellingPlanGroupUpdate", {"id": group_gid, "input": group_input}
    )
    return plan_gids(payload.get("sellingPlanGroup") or {})


# (document, payload field, variables key) of each resource change, by (resource, verb).
RESOURCE_MUTATIONS: dict[tuple[str, str], tuple[str, str, str]] = {
    ("products", "add"): (ADD_PRODUCTS, "sellingPlanGroupAddProducts", "productIds"),
    ("products", "remove"): (REMOVE_PRODUCTS, "sellingPlanGroupRemoveProducts", "productIds"),
    ("variants", "add"): (
        ADD_VARIANTS,
        "sellingPlanGroupAddProductVariants",
        "productVariantIds",
    ),
    ("variants", "remove"): (
        REMOVE_VARIANTS,
        "sellingPlanGroupRemoveProductVariants",
        "productVariantIds",
    ),
}


async def change_resources(
    client: AdminGraphQL, group_gid: str, resource: str, verb: str, gids: list[str]
) -> None:
    document, field, key = RESOURCE_MUTATIONS[(resource, verb)]
    await mutate(client, document, field, {"id": group_gid, key: gids})
