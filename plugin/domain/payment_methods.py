"""customer_payment_methods/update: a customer's card was replaced or updated.

Dunning holds back retries that only a new payment method can make succeed; this event lets
them run again (plugin.billing.dunning.on_payment_method_updated).
"""

from __future__ import annotations

from plugin.billing.dunning import on_payment_method_updated
from plugin.domain.context import EventContext
from plugin.domain.payloads import require_id
from plugin.models import InboxStatus


async def handle_payment_method_update(ctx: EventContext) -> str:
    customer_id = require_id(ctx.payload, "customer_id", "admin_graphql_api_customer_id")
    await on_payment_method_updated(ctx.session, ctx.shop, customer_id, ctx.occurred_at)
    return InboxStatus.HANDLED
