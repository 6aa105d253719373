"""The save offers a merchant configures: one per cancel reason, and the holdout.

Offer kinds (what the subscriber is shown after giving that reason):
- `skip`: skip the next delivery;
- `cadence`: change to another frequency of their plan;
- `pause`: no delivery and no charge for 1–3 months (the next billing date moves that far);
- `discount`: a percentage off the next N orders (1–100 %, 1–12 orders);
- no entry: no offer, the subscriber goes straight to confirming.

The holdout is fixed per subscriber: a keyed hash (HMAC-SHA256 with the shop's own random key,
made once) of the Shopify customer id, read as a number in [0, 1), is below the holdout share.
The same subscriber is in the same arm in every flow, and nobody can pick their arm.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from plugin.domain.rows import insert_if_absent
from plugin.models.self_service import SaveOfferSettings

KINDS = ("skip", "cadence", "pause", "discount")
DEFAULT_HOLDOUT = 0.10
MIN_HOLDOUT, MAX_HOLDOUT = 0.0, 0.5
MAX_OFFERS = 64


class OfferInvalid(ValueError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def _bounded_int(raw: Any, field: str, low: int, high: int) -> int:
    if isinstance(raw, bool) or not isinstance(raw, int) or not low <= raw <= high:
        raise OfferInvalid(field, f"must be a whole number from {low} to {high}")
    return raw


def clean_offer(raw: Any, field: str) -> dict[str, Any]:
    """One offer as stored: its kind and only the parameters that kind takes."""
    if not isinstance(raw, dict):
        raise OfferInvalid(field, "must be an object with a kind")
    kind = raw.get("kind")
    if kind not in KINDS:
        raise OfferInvalid(f"{field}.kind", f"must be one of {', '.join(KINDS)}")
    if kind == "pause":
        return {"kind": kind, "months": _bounded_int(raw.get("months"), f"{field}.months", 1, 3)}
    if kind == "discount":
        return {
            "kind": kind,
            "percentage": _bounded_int(raw.get("percentage"), f"{field}.percentage", 1, 100),
            "orders": _bounded_int(raw.get("orders"), f"{field}.orders", 1, 12),
        }
    return {"kind": kind}


def clean_offers(raw: Any, reason_codes: set[str]) -> dict[str, dict[str, Any]]:
    """reason code -> offer; a reason without an entry (or with null) has no offer."""
    if not isinstance(raw, dict) or len(raw) > MAX_OFFERS:
        raise OfferInvalid("offers", "must be an object of reason code to offer")
    cleaned = {}
    for code, offer in raw.items():
        if code not in reason_codes:
            raise OfferInvalid(f"offers.{code}", "is not one of the shop's cancel reasons")
        if offer is not None:
            cleaned[str(code)] = clean_offer(offer, f"offers.{code}")
    return cleaned


def clean_holdout(raw: Any) -> float:
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        raise OfferInvalid("holdout_share", "must be a number")
    if not MIN_HOLDOUT <= float(raw) <= MAX_HOLDOUT:
        raise OfferInvalid("holdout_share", f"must be from {MIN_HOLDOUT} to {MAX_HOLDOUT}")
    return float(raw)


def describe(offer: dict[str, Any] | None) -> str:
    """The offer in the subscriber's words (English)."""
    if not offer:
        return "No offer"
    kind = offer["kind"]
    if kind == "skip":
        return "Skip your next delivery instead"
    if kind == "cadence":
        return "Get your deliveries less often instead"
    if kind == "pause":
        months = offer["months"]
        return f"Pause for {months} month{'s' if months > 1 else ''} instead"
    return f"{offer['percentage']}% off your next {offer['orders']} orders if you stay"


def label(offer: dict[str, Any] | None) -> str:
    """A short name for the report: kind and its parameters."""
    if not offer:
        return "none"
    kind = offer["kind"]
    if kind == "pause":
        return f"pause_{offer['months']}m"
    if kind == "discount":
        return f"discount_{offer['percentage']}pct_{offer['orders']}x"
    return str(kind)


async def offer_settings(session: AsyncSession, shop_id: int) -> SaveOfferSettings:
    """The shop's settings row, made with the defaults (and a fresh holdout key) on first use."""
    await insert_if_absent(
        session,
        SaveOfferSettings,
        {
            "shop_id": shop_id,
            "holdout_share": DEFAULT_HOLDOUT,
            "holdout_key": secrets.token_hex(32),
            "offers": {},
        },
        ("shop_id",),
    )
    row = await session.scalar(
        select(SaveOfferSettings).where(SaveOfferSettings.shop_id == shop_id)
    )
    assert row is not None
    return row


def holdout_position(key: str, customer_id: int) -> float:
    """Where a subscriber falls in [0, 1): fixed for the shop's key and the customer."""
    digest = hmac.new(key.encode(), str(customer_id).encode(), hashlib.sha256).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def in_holdout(settings: SaveOfferSettings, customer_id: int) -> bool:
    return holdout_position(settings.holdout_key, customer_id) < settings.holdout_share
