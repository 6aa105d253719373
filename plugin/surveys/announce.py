"""Tell the merchant's email tool that an NPS survey is ready: a Shopify Flow trigger.

When an invitation is released, the `announce_nps_invitation` job fires the app's Flow trigger
"NPS survey ready" (`extensions/nps-survey-ready/shopify.extension.toml`) through the Admin API
`flowTriggerReceive` mutation. The merchant builds a Flow workflow on it (send a Shopify Email,
or hand it to Klaviyo and the like) whose message uses the trigger's fields:

- the customer (a customer reference: Flow loads name and email itself),
- `Survey URL`: the signed link (`/s/{token}`); appending `?score=N` (0–10) to it makes the
  one-click score buttons of the email,
- `Order ID`, `Survey expires at`.

Nothing is sent when the shop has no usable offline token (the merchant never opened the app,
or uninstalled it): the survey is still waiting in the portal.
"""

from __future__ import annotations

import logging

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from plugin.models import InvitationStatus, NpsInvitation, Shop, Subscriber
from plugin.runtime import Runtime
from plugin.shopify.graphql import admin_client_for
from plugin.surveys.links import survey_url

log = logging.getLogger(__name__)

FLOW_TRIGGER_HANDLE = "nps-survey-ready"
_MUTATION = """
mutation NpsSurveyReady($handle: String!, $payload: JSON!) {
  flowTriggerReceive(handle: $handle, payload: $payload) {
    userErrors { field message }
  }
}
"""


async def announce_invitation(runtime: Runtime, session: AsyncSession, invitation_id: int) -> bool:
    """Fire the Flow trigger for one released invitation; True when Shopify accepted it."""
    row = (
        await session.execute(
            select(NpsInvitation, Subscriber, Shop)
            .join(Subscriber, Subscriber.id == NpsInvitation.subscriber_id)
            .join(Shop, Shop.id == NpsInvitation.shop_id)
            .where(NpsInvitation.id == invitation_id, Subscriber.shop_id == NpsInvitation.shop_id)
        )
    ).first()
    if row is None:
        return False
    invitation, subscriber, shop = row
    if invitation.status != InvitationStatus.PENDING or shop.uninstalled_at is not None:
        return False
    client = await admin_client_for(runtime, session, shop)
    if client is None:
        log.info("shop %s: no offline token; invitation %s not announced", shop.id, invitation_id)
        return False
    payload = {
        "customer_id": subscriber.customer_id,
        "Survey URL": survey_url(
            runtime.settings,
            invitation_id=invitation.id,
            shop_id=shop.id,
            customer_id=subscriber.customer_id,
            expires_at=invitation.expires_at,
        ),
        "Order ID": str(invitation.order_id),
        "Survey expires at": invitation.expires_at.isoformat(),
    }
    data = await client.query(_MUTATION, {"handle": FLOW_TRIGGER_HANDLE, "payload": payload})
    errors = (data.get("flowTriggerReceive") or {}).get("userErrors") or []
    if errors:
        # Usually the trigger extension is not deployed or Flow is unavailable on the plan:
        # retrying cannot fix it, and the survey still waits in the portal.
        log.warning(
            "Flow refused the NPS survey trigger for shop %s: %s",
            shop.id,
            "; ".join(str(e.get("message")) for e in errors if isinstance(e, dict)),
        )
        return False
    return True
