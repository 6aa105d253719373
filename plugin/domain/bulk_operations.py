"""bulk_operations/finish: the inbox row is the record; `valuehealth backfill` polls as well."""

from __future__ import annotations

import logging

from plugin.domain.context import EventContext
from plugin.domain.errors import MalformedPayload
from plugin.domain.payloads import text
from plugin.models import InboxStatus

log = logging.getLogger(__name__)


async def handle_bulk_operation_finish(ctx: EventContext) -> str:
    operation = text(ctx.payload.get("admin_graphql_api_id"), 255)
    if operation is None:
        raise MalformedPayload("bulk_operations/finish has no admin_graphql_api_id")
    log.info(
        "shop %s: bulk operation %s finished (%s)",
        ctx.shop_id,
        operation,
        text(ctx.payload.get("status"), 32) or "unknown status",
    )
    return InboxStatus.HANDLED
