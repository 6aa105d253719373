"""Which service handles each webhook topic. Covers exactly plugin.topics.TOPICS (tested)."""

from __future__ import annotations

from plugin.domain.billing import (
    ATTEMPT_TOPIC_STATUS,
    CYCLE_TOPIC_KIND,
    handle_billing_attempt,
    handle_billing_cycle,
)
from plugin.domain.bulk_operations import handle_bulk_operation_finish
from plugin.domain.context import Handler
from plugin.domain.contracts import TOPIC_STATUS, handle_contract_event
from plugin.domain.fulfillments import handle_fulfillment_event
from plugin.domain.orders import handle_order
from plugin.domain.payment_methods import handle_payment_method_update
from plugin.domain.privacy import handle_customer_redact, handle_data_request, handle_shop_redact
from plugin.domain.shops import handle_app_uninstalled, handle_scopes_update
from plugin.domain.subscribers import handle_customer_update

HANDLERS: dict[str, Handler] = {
    **{topic: handle_contract_event for topic in TOPIC_STATUS},
    **{topic: handle_billing_attempt for topic in ATTEMPT_TOPIC_STATUS},
    **{topic: handle_billing_cycle for topic in CYCLE_TOPIC_KIND},
    "orders/create": handle_order,
    "orders/fulfilled": handle_order,
    "fulfillment_events/create": handle_fulfillment_event,
    "customers/update": handle_customer_update,
    "app/uninstalled": handle_app_uninstalled,
    "app/scopes_update": handle_scopes_update,
    "bulk_operations/finish": handle_bulk_operation_finish,
    "customer_payment_methods/update": handle_payment_method_update,
    "customers/data_request": handle_data_request,
    "customers/redact": handle_customer_redact,
    "shop/redact": handle_shop_redact,
}
