"""Subscription contract details that webhooks do not carry (lines, prices, next billing date).

One field selection and one parser serve both the single-contract query (worker enrichment) and
the bulk backfill, so both produce identical `ContractDetails`. Enumerations are lower-cased to
match the webhook payloads (`status: "active"`, `interval: "month"`).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from plugin.shopify.bulk import CHILDREN, PARENT, run_bulk_query
from plugin.shopify.errors import ShopifyGraphQLError
from plugin.shopify.gid import parse_gid
from plugin.shopify.graphql import AdminGraphQL, Sleep

LINES_PAGE_SIZE = 100

_CONTRACT_FIELDS = """
      id
      status
      createdAt
      currencyCode
      nextBillingDate
      customer { id }
      originOrder { id }
      billingPolicy { interval intervalCount }
      deliveryPolicy { interval intervalCount }
"""
_LINE_FIELDS = "id quantity sellingPlanId sellingPlanName currentPrice { amount currencyCode }"

CONTRACT_QUERY = f"""
query SubscriptionContractDetails($id: ID!, $after: String) {{
  subscriptionContract(id: $id) {{
{_CONTRACT_FIELDS}
      lines(first: {LINES_PAGE_SIZE}, after: $after) {{
        nodes {{ {_LINE_FIELDS} }}
        pageInfo {{ hasNextPage endCursor }}
      }}
  }}
}}
"""

# Bulk queries take connections as edges/node and no page sizes.
CONTRACTS_BULK_QUERY = f"""
{{
  subscriptionContracts {{
    edges {{
      node {{
{_CONTRACT_FIELDS}
        lines {{ edges {{ node {{ {_LINE_FIELDS} }} }} }}
      }}
    }}
  }}
}}
"""


@dataclass(frozen=True)
class ContractDetails:
    contract_gid: str
    status: str
    currency: str
    recurring_amount: Decimal  # Σ line price × quantity per billing cycle; no shipping, no tax
    plan_name: str | None
    next_billing_date: date | None  # the UTC date of Shopify's nextBillingDate
    billing_interval: str
    billing_interval_count: int
    delivery_interval: str
    delivery_interval_count: int
    customer_id: int
    origin_order_id: int | None
    # When the subscriber subscribed: a backfilled contract starts here, not on import day.
    created_at: datetime | None = None
    # The selling plan the contract was bought through: ours when it is one of our plans'.
    selling_plan_gid: str | None = None


async def fetch_contract_details(client: AdminGraphQL, contract_gid: str) -> ContractDetails | None:
    """The contract's current details, or None when Shopify does not know the contract."""
    node: dict[str, Any] | None = None
    lines: list[dict[str, Any]] = []
    after: str | None = None
    while True:
        data = await client.query(CONTRACT_QUERY, {"id": contract_gid, "after": after})
        page = data.get("subscriptionContract")
        if page is None:
            return None
        node = node or page
        connection = page.get("lines") or {}
        lines.extend(connection.get("nodes") or [])
        info = connection.get("pageInfo") or {}
        if not info.get("hasNextPage"):
            break
        after = info.get("endCursor")
    return parse_contract_node(node, lines)


async def iter_contract_details(
    client: AdminGraphQL,
    *,
    poll_interval: float = 5.0,
    sleep: Sleep = asyncio.sleep,
    on_progress: Callable[[dict[str, Any]], None] | None = None,
) -> AsyncIterator[ContractDetails]:
    """Every subscription contract of the shop, through one bulk operation (the backfill)."""
    async for record in run_bulk_query(
        client,
        CONTRACTS_BULK_QUERY,
        poll_interval=poll_interval,
        sleep=sleep,
        on_progress=on_progress,
    ):
        lines = [child for child in record[CHILDREN] if child.get(PARENT) == record["id"]]
        yield parse_contract_node(record, lines)


def parse_contract_node(node: dict[str, Any], lines: Iterable[dict[str, Any]]) -> ContractDetails:
    """Build ContractDetails from a contract object and its line objects (either query shape)."""
    gid = node.get("id")
    try:
        customer_id = parse_gid((node.get("customer") or {}).get("id"), "Customer")
        if not isinstance(gid, str) or customer_id is None:
            raise ValueError("contract without id or customer")
        billing = node["billingPolicy"]
        delivery = node["deliveryPolicy"]
        line_list = list(lines)
        amount = sum(
            (
                Decimal(str(line["currentPrice"]["amount"])) * int(line["quantity"])
                for line in line_list
            ),
            Decimal(0),
        )
        return ContractDetails(
            contract_gid=gid,
            status=str(node["status"]).lower(),
            currency=str(node["currencyCode"]),
            recurring_amount=amount,
            plan_name=next(
                (line["sellingPlanName"] for line in line_list if line.get("sellingPlanName")),
                None,
            ),
            next_billing_date=_utc_date(node.get("nextBillingDate")),
            billing_interval=str(billing["interval"]).lower(),
            billing_interval_count=int(billing["intervalCount"]),
            delivery_interval=str(delivery["interval"]).lower(),
            delivery_interval_count=int(delivery["intervalCount"]),
            customer_id=customer_id,
            origin_order_id=parse_gid((node.get("originOrder") or {}).get("id"), "Order"),
            created_at=_utc_moment(node.get("createdAt")),
            selling_plan_gid=next(
                (str(line["sellingPlanId"]) for line in line_list if line.get("sellingPlanId")),
                None,
            ),
        )
    except (KeyError, TypeError, ValueError, InvalidOperation) as exc:
        raise ShopifyGraphQLError(f"unexpected subscription contract shape for {gid}") from exc


def _utc_date(value: Any) -> date | None:
    moment = _utc_moment(value)
    return moment.date() if moment is not None else None


def _utc_moment(value: Any) -> datetime | None:
    if not value:
        return None
    moment = datetime.fromisoformat(str(value))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)
