"""Shop lifecycle from webhooks: uninstall, reinstall and granted scopes."""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from plugin.domain.context import EventContext
from plugin.domain.errors import MalformedPayload
from plugin.models import InboxStatus, Shop, WebhookInbox
from plugin.shopify.tokens import clear_tokens

log = logging.getLogger(__name__)

# Topics that prove nothing about the app being installed when they fire: the compliance
# topics are sent after an uninstall too, and a bulk operation may finish after one.
NO_INSTALL_EVIDENCE = frozenset(
    {
        "app/uninstalled",
        "bulk_operations/finish",
        "customers/data_request",
        "customers/redact",
        "shop/redact",
    }
)


def mark_installed(shop: Shop, at: datetime) -> bool:
    """The app is installed as of `at`; clears an earlier uninstall. True on a reinstall."""
    if shop.uninstalled_at is None or at <= shop.uninstalled_at:
        return False
    shop.uninstalled_at = None
    shop.installed_at = at
    return True


def note_install_evidence(ctx: EventContext) -> None:
    """Shopify sends regular webhooks only to installed apps: one fired after our recorded
    uninstall means the merchant installed the app again."""
    if ctx.topic not in NO_INSTALL_EVIDENCE and mark_installed(ctx.shop, ctx.occurred_at):
        log.info("shop %s reinstalled (event %s)", ctx.shop_id, ctx.event_key)


async def _installed_after(session: AsyncSession, shop_id: int, at: datetime) -> bool:
    """Whether an event we processed shows the app installed after `at` (a reinstall)."""
    fired_at = func.coalesce(WebhookInbox.triggered_at, WebhookInbox.received_at)
    found = await session.execute(
        select(WebhookInbox.id)
        .where(
            WebhookInbox.shop_id == shop_id,
            WebhookInbox.status == InboxStatus.HANDLED,
            WebhookInbox.topic.not_in(NO_INSTALL_EVIDENCE),
            fired_at > at,
        )
        .limit(1)
    )
    return found.first() is not None


def _token_granted_after(shop: Shop, at: datetime) -> bool:
    """The merchant reinstalled and opened the app (token exchange) after `at`, so an
    uninstall fired earlier is an old one delivered late.

    `installed_at` starts as the row's creation time and moves later only on a reinstall
    (`mark_installed`), which is why it must be past `created_at` to count as evidence."""
    return (
        shop.access_token_enc is not None
        and shop.installed_at > at
        and shop.installed_at > shop.created_at
    )


async def handle_app_uninstalled(ctx: EventContext) -> str:
    shop = ctx.shop
    if shop.uninstalled_at is None and (
        _token_granted_after(shop, ctx.occurred_at)
        or await _installed_after(ctx.session, ctx.shop_id, ctx.occurred_at)
    ):
        # A late delivery from before a reinstall: the fresh install stays intact.
        return InboxStatus.HANDLED
    if shop.uninstalled_at is None or shop.uninstalled_at < ctx.occurred_at:
        shop.uninstalled_at = ctx.occurred_at
    # Shopify revokes the tokens on uninstall; keeping ciphertext of dead tokens serves nothing.
    clear_tokens(shop)
    return InboxStatus.HANDLED


async def handle_scopes_update(ctx: EventContext) -> str:
    current = ctx.payload.get("current")
    if not isinstance(current, list) or not all(isinstance(s, str) for s in current):
        raise MalformedPayload("app/scopes_update needs `current`, a list of scope names")
    shop = ctx.shop
    if shop.scopes_updated_at is not None and ctx.occurred_at < shop.scopes_updated_at:
        return InboxStatus.HANDLED  # a newer scopes update is already applied
    shop.scopes = ",".join(scope.strip() for scope in current if scope.strip())
    shop.scopes_updated_at = ctx.occurred_at
    return InboxStatus.HANDLED
