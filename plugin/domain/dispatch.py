"""Which service handles each webhook topic: a handler of one row (`HANDLERS`) or of a run of
rows at once (`RUN_HANDLERS`). Together they cover exactly plugin.topics.TOPICS (tested)."""

from __future__ import annotations

from plugin.domain.billing import (
    ATTEMPT_TOPIC_STATUS,
    CYCLE_TOPIC_KIND,
    apply_billing_attempts,
    handle_billing_cycle,
)
from plugin.domain.bulk_operations import handle_bulk_operation_finish
from plugin.domain.context import Handler, RunHandler
from plugin.domain.contract_creates import CREATE_TOPICS, apply_contract_creates
from plugin.domain.contracts import TOPIC_STATUS, handle_contract_event
from plugin.domain.order_events import ORDER_TOPICS, apply_order_events
from plugin.domain.payment_methods import handle_payment_method_update
from plugin.domain.privacy import handle_customer_redact, handle_data_request, handle_shop_redact
from plugin.domain.shops import handle_app_uninstalled, handle_scopes_update
from plugin.domain.subscribers import handle_customer_update

HANDLERS: dict[str, Handler] = {
    **{topic: handle_contract_event for topic in TOPIC_STATUS if topic not in CREATE_TOPICS},
    **{topic: handle_billing_cycle for topic in CYCLE_TOPIC_KIND},
    "customers/update": handle_customer_update,
    "app/uninstalled": handle_app_uninstalled,
    "app/scopes_update": handle_scopes_update,
    "bulk_operations/finish": handle_bulk_operation_finish,
    "customer_payment_methods/update": handle_payment_method_update,
    "customers/data_request": handle_data_request,
    "customers/redact": handle_customer_redact,
    "shop/redact": handle_shop_redact,
}

# The bulk of a shop's events, applied a run at a time (one statement per kind of row).
RUN_HANDLERS: dict[str, RunHandler] = {
    **{topic: apply_contract_creates for topic in CREATE_TOPICS},
    **{topic: apply_billing_attempts for topic in ATTEMPT_TOPIC_STATUS},
    **{topic: apply_order_events for topic in ORDER_TOPICS},
}
# Where a batch applies each run handler's rows in a stretch between rows that read marks
# (`plugin.inbox.batches.arranged`): new contracts before the stretch's other rows, which may
# refer to them; what refers to contracts after them.
RUNS_FIRST: tuple[RunHandler, ...] = (apply_contract_creates,)
RUNS_LAST: tuple[RunHandler, ...] = (apply_billing_attempts, apply_order_events)
