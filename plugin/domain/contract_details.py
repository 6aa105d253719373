"""Contract details webhooks do not carry (recurring amount, plan, next billing date), fetched
from the Admin GraphQL API while processing the contract's event.

Without a usable token (not opened yet, uninstalled, revoked) the details are left for
`valuehealth backfill` and the event is processed anyway. Throttling and Shopify outages raise
TransientError from the client: the whole event is retried, so nothing is half-applied.
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from plugin.billing.plans import plan_name_of_selling_plan
from plugin.domain.context import EventContext
from plugin.models import Contract
from plugin.models.base import utcnow
from plugin.shopify.contracts import ContractDetails, fetch_contract_details
from plugin.shopify.errors import ShopifyAuthError, ShopifyError
from plugin.shopify.graphql import admin_client_for
from plugin.shopify.tokens import TokenCipherError

log = logging.getLogger(__name__)

UPDATE_TOPIC = "subscription_contracts/update"


def details_due(contract: Contract, topic: str, occurred_at: datetime) -> bool:
    """Missing details are fetched once; an `update` newer than our copy means an edit
    (price, plan, next date) that our copy predates."""
    fetched = contract.details_fetched_at
    if fetched is None:
        return True
    return topic == UPDATE_TOPIC and occurred_at > fetched


async def refresh_details(ctx: EventContext, contract: Contract, contract_gid: str) -> bool:
    """Fetch and store the contract's details if due; True when they were stored."""
    if not details_due(contract, ctx.topic, ctx.occurred_at):
        return False
    details = await fetch_details(ctx, contract_gid)
    if details is None:
        return False
    await store_details(ctx.session, contract, details, utcnow())
    return True


async def fetch_details(ctx: EventContext, contract_gid: str) -> ContractDetails | None:
    """The contract's details from the Admin API; None when they cannot be had now (no usable
    token, uninstalled, a permanent error: left for the backfill). Raises TransientError when
    Shopify is throttling or unavailable (the event is retried)."""
    if ctx.shop.uninstalled_at is not None:
        return None
    try:
        client = await admin_client_for(ctx.runtime, ctx.session, ctx.shop)
        if client is None:
            return None
        return await fetch_contract_details(client, contract_gid)
    except ShopifyAuthError:
        log.warning("shop %s: token refused; contract details left for backfill", ctx.shop_id)
        return None
    except (ShopifyError, TokenCipherError) as exc:
        # A permanent answer (the contract is gone, a token we cannot read) must not hold up
        # the contract's status history: the details wait for the backfill.
        log.error("shop %s: contract details not fetched: %s", ctx.shop_id, exc)
        return None


async def store_details(
    session: AsyncSession, contract: Contract, details: ContractDetails, fetched_at: datetime
) -> None:
    """Keep the details Shopify reported at `fetched_at` (worker fetch, backfill or demo).

    fetched_at is when Shopify's copy was read, not an event time: an `update` fired after it
    means an edit our copy predates. A contract bought through one of our plans is named after
    the plan; any other after its selling plan.
    """
    plan_name = details.plan_name
    if details.selling_plan_gid is not None:
        ours = await plan_name_of_selling_plan(session, contract.shop_id, details.selling_plan_gid)
        plan_name = ours or plan_name
    contract.recurring_amount = details.recurring_amount
    contract.plan_name = plan_name[:255] if plan_name else None
    contract.next_billing_date = details.next_billing_date
    contract.details_fetched_at = fetched_at
