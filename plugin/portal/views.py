"""What a subscriber is shown: their pending NPS survey, or the cancel-reason form of one of
their contracts, with labels in their language. Shared by the pages and the JSON API."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from plugin.models import (
    Cancellation,
    Contract,
    NpsInvitation,
    NpsResponse,
    ReasonSource,
    Shop,
    Subscriber,
)
from plugin.surveys.catalogue import display_order, offered_reasons
from plugin.surveys.i18n import reason_label
from plugin.surveys.invitations import pending_invitations
from plugin.surveys.settings import survey_settings


@dataclass(frozen=True)
class ReasonChoice:
    code: str
    label: str
    requires_comment: bool


@dataclass
class CancelView:
    contract_id: int
    reasons: list[ReasonChoice]
    answer: dict[str, Any] = field(default_factory=dict)


@dataclass
class NpsView:
    invitation_id: int
    expires_at: datetime
    answer: dict[str, Any] = field(default_factory=dict)
    final: bool = False  # answered and past its edit window


def nps_answer(response: NpsResponse | None) -> dict[str, Any]:
    if response is None:
        return {}
    return {
        "score": response.score,
        "value_for_money": response.value_for_money,
        "comment": response.comment,
    }


async def response_of(
    session: AsyncSession, shop_id: int, invitation_id: int
) -> NpsResponse | None:
    return await session.scalar(
        select(NpsResponse).where(
            NpsResponse.shop_id == shop_id, NpsResponse.invitation_id == invitation_id
        )
    )


async def pending_nps(
    session: AsyncSession, shop: Shop, subscriber: Subscriber, now: datetime
) -> NpsView | None:
    """The survey an answer now would go to: the oldest pending invitation."""
    pending = await pending_invitations(session, shop.id, subscriber.id, now)
    if not pending:
        return None
    return NpsView(pending[0].id, pending[0].expires_at)


async def invitation_view(
    session: AsyncSession, invitation: NpsInvitation, now: datetime
) -> NpsView:
    """One invitation with its answer so far (for the signed link, which names it)."""
    response = await response_of(session, invitation.shop_id, invitation.id)
    final = response is not None and now > response.editable_until
    return NpsView(invitation.id, invitation.expires_at, nps_answer(response), final)


async def cancel_view(
    session: AsyncSession, shop: Shop, subscriber: Subscriber, contract_id: int, locale: str
) -> CancelView | None:
    """The reasons to offer for one of the subscriber's contracts; None if it is not theirs."""
    row = (
        await session.execute(
            select(Contract.id, Cancellation.reason_code, Cancellation.comment)
            .outerjoin(
                Cancellation,
                (Cancellation.shop_id == Contract.shop_id)
                & (Cancellation.contract_pk == Contract.id)
                & (Cancellation.reason_source == ReasonSource.CUSTOMER),
            )
            .where(
                Contract.shop_id == shop.id,
                Contract.contract_id == contract_id,
                Contract.subscriber_id == subscriber.id,
            )
        )
    ).first()
    if row is None:
        return None
    contract_pk, given_reason, given_comment = row
    settings = survey_settings(shop)
    reasons = display_order(
        await offered_reasons(session, shop.id),
        randomise=settings.randomise_reason_order,
        seed=f"{shop.id}:{subscriber.id}:{contract_pk}",
    )
    choices = [
        ReasonChoice(r.code, reason_label(r.code, locale, r.labels), r.requires_comment)
        for r in reasons
    ]
    answer = {"reason": given_reason, "comment": given_comment} if given_reason else {}
    return CancelView(contract_id, choices, answer)
