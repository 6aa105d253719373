"""Subscribers' answers, the same for every channel (app proxy, extension API, signed link) and
for the demo generator: validate, find what the answer is for, store it.

- NPS: answers the given invitation, or the subscriber's oldest pending one. One answer per
  invitation: a second submit within the edit window updates it, after that it is refused
  (AnswerLocked). With nothing pending, a submit updates the subscriber's latest answer while
  it is still editable, else NoPendingSurvey.
- Cancel reason: joins the contract's cancellation row (see `cancellations`), whichever of the
  answer and the webhook comes first.

Comments are stored as plain text exactly as validated; every page escapes them when shown.
Nothing is stored when validation fails. Services never commit.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from plugin.domain.rows import locked
from plugin.models import (
    Cancellation,
    Contract,
    ContractStatus,
    InvitationStatus,
    NpsInvitation,
    NpsResponse,
    ReasonSource,
    Shop,
)
from plugin.surveys.cancellations import answer_window_closed, cancellation_of
from plugin.surveys.catalogue import offered_reasons
from plugin.surveys.errors import AnswerInvalid, AnswerLocked, NoPendingSurvey
from plugin.surveys.settings import survey_settings
from plugin.surveys.validation import (
    clean_comment,
    nps_input,
    parse_contract_id,
    parse_reason_code,
)

__all__ = [
    "AnswerInvalid",
    "AnswerLocked",
    "Channel",
    "NoPendingSurvey",
    "submit_cancel_reason",
    "submit_nps_answer",
]


class Channel:
    """Where an answer came from (stored with it)."""

    PROXY = "proxy"  # app proxy page in the storefront
    EXTENSION = "extension"  # customer-account UI extension, JSON API
    LINK = "link"  # signed link from an email
    ALL = frozenset({PROXY, EXTENSION, LINK})


def _dialect_insert(session: AsyncSession, model: type[NpsResponse | Cancellation]) -> Any:
    dialect = session.get_bind().dialect.name
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(model)


def _check_call(channel: str, now: datetime) -> None:
    if channel not in Channel.ALL:
        raise ValueError(f"unknown channel {channel!r}")
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")


async def _shop(session: AsyncSession, shop_id: int) -> Shop:
    shop = await session.get(Shop, shop_id)
    if shop is None:
        raise NoPendingSurvey("This store does not offer surveys.")
    return shop


async def _invitation_to_answer(
    session: AsyncSession,
    shop_id: int,
    subscriber_id: int,
    now: datetime,
    invitation_id: int | None,
) -> NpsInvitation:
    scope = (
        NpsInvitation.shop_id == shop_id,
        NpsInvitation.subscriber_id == subscriber_id,
    )
    if invitation_id is not None:
        invitation = await locked(
            session, select(NpsInvitation).where(NpsInvitation.id == invitation_id, *scope)
        )
        if invitation is None:
            raise NoPendingSurvey()
        if invitation.status == InvitationStatus.ANSWERED:
            return invitation
        if invitation.status == InvitationStatus.PENDING and invitation.expires_at > now:
            return invitation
        raise NoPendingSurvey("This survey is closed.")
    oldest = await locked(
        session,
        select(NpsInvitation)
        .where(
            *scope,
            NpsInvitation.status == InvitationStatus.PENDING,
            NpsInvitation.expires_at > now,
        )
        .order_by(NpsInvitation.sent_at, NpsInvitation.id)
        .limit(1),
    )
    if oldest is not None:
        return oldest
    latest = await locked(
        session,
        select(NpsInvitation)
        .join(NpsResponse, NpsResponse.invitation_id == NpsInvitation.id)
        .where(*scope, NpsInvitation.status == InvitationStatus.ANSWERED)
        .order_by(NpsResponse.answered_at.desc(), NpsResponse.id.desc())
        .limit(1),
    )
    if latest is not None:
        return latest
    raise NoPendingSurvey()


async def submit_nps_answer(
    session: AsyncSession,
    *,
    shop_id: int,
    subscriber_id: int,
    score: Any,
    value_for_money: Any,
    comment: Any,
    channel: str,
    now: datetime,
    invitation_id: int | None = None,
) -> NpsResponse:
    """Store (or, within the edit window, update) an NPS answer; returns the response row.

    Raises AnswerInvalid (422, field named), NoPendingSurvey (409), AnswerLocked (409).
    """
    _check_call(channel, now)
    answer = nps_input({"score": score, "value_for_money": value_for_money, "comment": comment})
    settings = survey_settings(await _shop(session, shop_id))
    invitation = await _invitation_to_answer(session, shop_id, subscriber_id, now, invitation_id)

    if invitation.status != InvitationStatus.ANSWERED:
        invitation.status = InvitationStatus.ANSWERED
        created = await session.scalar(
            _dialect_insert(session, NpsResponse)
            .values(
                shop_id=shop_id,
                invitation_id=invitation.id,
                subscriber_id=subscriber_id,
                score=answer.score,
                value_for_money=answer.value_for_money,
                comment=answer.comment,
                channel=channel,
                answered_at=now,
                updated_at=now,
                editable_until=now + settings.answer_edit_window,
            )
            # SQLite has no row locks: a concurrent submit may have inserted it first.
            .on_conflict_do_nothing(index_elements=["invitation_id"])
            .returning(NpsResponse)
        )
        if created is not None:
            await session.flush()
            return created
    response = await locked(
        session,
        select(NpsResponse).where(
            NpsResponse.shop_id == shop_id, NpsResponse.invitation_id == invitation.id
        ),
    )
    if response is None:  # erased (customers/redact) while the invitation stayed
        raise NoPendingSurvey("This survey is closed.")
    if now > response.editable_until:
        raise AnswerLocked()
    response.score = answer.score
    response.value_for_money = answer.value_for_money
    response.comment = answer.comment
    response.channel = channel
    response.updated_at = now
    await session.flush()
    return response


async def _customer_contract(
    session: AsyncSession, shop_id: int, subscriber_id: int, contract_id: int
) -> Contract:
    contract = await session.scalar(
        select(Contract).where(
            Contract.shop_id == shop_id,
            Contract.contract_id == contract_id,
            Contract.subscriber_id == subscriber_id,
        )
    )
    if contract is None:
        # Same answer for "no such contract" and "someone else's": nothing to learn by probing.
        raise AnswerInvalid("contract_id", "is not a subscription of yours")
    return contract


async def submit_cancel_reason(
    session: AsyncSession,
    *,
    shop_id: int,
    subscriber_id: int,
    contract_id: Any,
    reason: Any,
    comment: Any,
    channel: str,
    now: datetime,
) -> Cancellation:
    """Store (or, within the edit window, change) why a subscriber cancels a contract.

    `contract_id` is Shopify's id. Raises AnswerInvalid (unknown reason, missing comment for a
    reason that needs one, contract not theirs), AnswerLocked (answer final, or too long after
    the cancellation for a reason to be added).
    """
    _check_call(channel, now)
    shopify_contract_id = parse_contract_id(contract_id)
    code = parse_reason_code(reason)
    option = next((r for r in await offered_reasons(session, shop_id) if r.code == code), None)
    if option is None:
        raise AnswerInvalid("reason", "is not one of the offered reasons", code="reason_unknown")
    text = clean_comment(comment, required=option.requires_comment)
    contract = await _customer_contract(session, shop_id, subscriber_id, shopify_contract_id)
    settings = survey_settings(await _shop(session, shop_id))

    answer = {
        "reason_code": option.code,
        "reason_version": option.version,
        "reason_source": ReasonSource.CUSTOMER,
        "comment": text,
        "channel": channel,
    }
    ended = contract.status in ContractStatus.ENDED
    # Ended before we heard of it through the hook (e.g. imported history): join it here.
    ended_at = (contract.ended_at or contract.status_at) if ended else None
    if ended_at is None or now <= ended_at + settings.cancel_answer_window:
        # The usual case, the first answer for this contract: one statement.
        created = await session.scalar(
            _dialect_insert(session, Cancellation)
            .values(
                shop_id=shop_id,
                contract_pk=contract.id,
                subscriber_id=subscriber_id,
                cancelled_at=ended_at,
                end_status=contract.status if ended else None,
                answered_at=now,
                editable_until=now + settings.answer_edit_window,
                **answer,
            )
            .on_conflict_do_nothing(index_elements=["shop_id", "contract_pk"])
            .returning(Cancellation)
        )
        if created is not None:
            return created

    cancellation = await cancellation_of(session, shop_id, contract.id)
    if cancellation is None:
        raise AnswerLocked("It is too late to add a reason to this cancellation.")
    if not ended and cancellation.cancelled_at is not None:
        # The contract came back after an earlier end (e.g. reactivated after a failed
        # payment): that end's row gives way to the new answer.
        cancellation.cancelled_at = None
        cancellation.end_status = None
        cancellation.reason_source = None
    if cancellation.reason_source == ReasonSource.CUSTOMER:
        if cancellation.editable_until is not None and now > cancellation.editable_until:
            raise AnswerLocked()
    else:
        if answer_window_closed(cancellation, settings, now):
            raise AnswerLocked("It is too late to add a reason to this cancellation.")
        cancellation.answered_at = now
        cancellation.editable_until = now + settings.answer_edit_window
    for name, value in answer.items():
        setattr(cancellation, name, value)
    await session.flush()
    return cancellation
