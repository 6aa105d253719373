"""The payload of each Flow trigger, built from our rows, and the call that records it.

Features call these inside their transaction (`tx`); plugin.flow.outbox fires after commit.
Keys make each firing once-only: an NPS answer fires once however often it is edited; a
segment entry once per subscriber, segment and shop day; an initiative once per member; a
failed payment once per failed charge; the end of dunning once per case.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from decimal import Decimal
from typing import Any

from plugin.db.transaction import Tx
from plugin.flow.catalogue import (
    CANCEL_REASON_GIVEN,
    CUSTOMER,
    DUNNING_ENDED,
    INITIATIVE_ENDED,
    INITIATIVE_STARTED,
    NPS_ANSWERED,
    PAYMENT_FAILED,
    SEGMENT_ENTERED,
)
from plugin.flow.outbox import record_trigger
from plugin.value.nps import category as nps_category
from plugin.value.score import risk_band


def _text(value: Any) -> str:
    return "" if value is None else str(value)


async def segment_entered(
    tx: Tx,
    *,
    shop_id: int,
    subscriber_id: int,
    customer_id: int,
    segment: str,
    previous: str | None,
    churn_risk: float | None,
    value_score: float | None,
    mrr: Decimal | None,
    currency: str | None,
    reasons: Sequence[str],
    day: date,
) -> int | None:
    payload = {
        CUSTOMER: customer_id,
        "Segment": segment,
        "Previous segment": _text(previous),
        "Churn risk band": risk_band(churn_risk),
        "Value score": "" if value_score is None else f"{value_score:.0f}",
        "MRR": _text(mrr),
        "Currency": _text(currency),
        "Reasons": "; ".join(reasons),
    }
    key = f"{subscriber_id}:{segment}:{day.isoformat()}"
    return await record_trigger(tx, shop_id, SEGMENT_ENTERED.handle, key, payload)


async def nps_answered(
    tx: Tx,
    *,
    shop_id: int,
    response_id: int,
    customer_id: int,
    score: int,
    value_for_money: int | None,
    comment: str | None,
) -> int | None:
    payload = {
        CUSTOMER: customer_id,
        "Score": str(score),
        "Category": nps_category(score),
        "Value for money": _text(value_for_money),
        "Comment": _text(comment),
    }
    return await record_trigger(tx, shop_id, NPS_ANSWERED.handle, str(response_id), payload)


async def cancel_reason_given(
    tx: Tx,
    *,
    shop_id: int,
    cancellation_id: int,
    customer_id: int,
    reason: str,
    comment: str | None,
    contract_id: int,
) -> int | None:
    payload = {
        CUSTOMER: customer_id,
        "Reason": reason,
        "Comment": _text(comment),
        "Contract ID": str(contract_id),
    }
    return await record_trigger(
        tx, shop_id, CANCEL_REASON_GIVEN.handle, str(cancellation_id), payload
    )


async def initiative_changed(
    tx: Tx,
    *,
    shop_id: int,
    initiative_id: int,
    title: str,
    started: bool,
    treatment: Mapping[int, int],
    marker: str,
) -> int:
    """One firing per treatment member (subscriber id → customer id); the holdout gets none.
    Returns how many were newly recorded."""
    trigger = INITIATIVE_STARTED if started else INITIATIVE_ENDED
    recorded = 0
    for subscriber_id, customer_id in sorted(treatment.items()):
        payload = {
            CUSTOMER: customer_id,
            "Initiative ID": str(initiative_id),
            "Initiative": title,
            "Treatment marker": marker,
        }
        key = f"{initiative_id}:{subscriber_id}"
        if await record_trigger(tx, shop_id, trigger.handle, key, payload) is not None:
            recorded += 1
    return recorded


async def payment_failed(
    tx: Tx,
    *,
    shop_id: int,
    charge_id: int,
    customer_id: int,
    contract_id: int,
    amount: Decimal | None,
    currency: str | None,
    error_code: str | None,
    failed_on: date,
    next_retry_on: date | None,
    retries_left: int,
    needs_new_payment_method: bool,
    final_action: str,
) -> int | None:
    """One firing per failed charge (the scheduled one or a retry)."""
    payload = {
        CUSTOMER: customer_id,
        "Contract ID": str(contract_id),
        "Amount": _text(amount),
        "Currency": _text(currency),
        "Error code": _text(error_code),
        "Failed on": failed_on.isoformat(),
        "Next retry date": "" if next_retry_on is None else next_retry_on.isoformat(),
        "Retries left": str(retries_left),
        "Needs new payment method": "true" if needs_new_payment_method else "false",
        "Final action": final_action,
    }
    return await record_trigger(tx, shop_id, PAYMENT_FAILED.handle, f"charge:{charge_id}", payload)


async def dunning_ended(
    tx: Tx,
    *,
    shop_id: int,
    case_id: int,
    customer_id: int,
    contract_id: int,
    outcome: str,
    amount: Decimal | None,
    currency: str | None,
    failures: int,
) -> int | None:
    """One firing per dunning case, when it ends (recovered, paused, cancelled, closed)."""
    payload = {
        CUSTOMER: customer_id,
        "Contract ID": str(contract_id),
        "Outcome": outcome,
        "Amount": _text(amount),
        "Currency": _text(currency),
        "Failed attempts": str(failures),
    }
    return await record_trigger(tx, shop_id, DUNNING_ENDED.handle, f"case:{case_id}", payload)
