"""The one validator of survey answers, used by every channel (app proxy, extension API, signed
link) and by the services themselves: JSON values and form strings arrive here untrusted.

Rules (docs/design.md §6): score a whole number 0–10 (required); value for money 1–5 (optional);
comment plain text of at most 2,000 characters (stored as given, escaped wherever shown);
contract id a positive Shopify id; reason a code of the shop's catalogue, checked by the
service against the current list.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from plugin.surveys.errors import AnswerInvalid

MAX_COMMENT_CHARS = 2000
_MAX_ID = 2**63 - 1
_INTEGER = re.compile(r"^[+-]?[0-9]{1,19}$")
_REASON_CODE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
# C0/C1 control characters except tab and newline; they have no place in a comment and some
# (NUL) are refused by PostgreSQL text columns.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


@dataclass(frozen=True)
class NpsInput:
    score: int
    value_for_money: int | None
    comment: str | None


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _whole_number(field: str, value: Any) -> int:
    if isinstance(value, bool):
        raise AnswerInvalid(field, "must be a whole number")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and _INTEGER.match(value.strip()):
        return int(value.strip())
    raise AnswerInvalid(field, "must be a whole number")


def parse_score(value: Any) -> int:
    if _blank(value):
        raise AnswerInvalid("score", "is required", code="score_required")
    try:
        score = _whole_number("score", value)
    except AnswerInvalid:
        raise AnswerInvalid("score", "must be a whole number from 0 to 10") from None
    if not 0 <= score <= 10:
        raise AnswerInvalid("score", "must be a whole number from 0 to 10")
    return score


def parse_value_for_money(value: Any) -> int | None:
    if _blank(value):
        return None
    try:
        answer = _whole_number("value_for_money", value)
    except AnswerInvalid:
        raise AnswerInvalid("value_for_money", "must be a whole number from 1 to 5") from None
    if not 1 <= answer <= 5:
        raise AnswerInvalid("value_for_money", "must be a whole number from 1 to 5")
    return answer


def clean_comment(value: Any, *, required: bool = False) -> str | None:
    """Plain text: NFC-normalised, CRLF → LF, control characters removed, trimmed; never
    truncated silently (too long is an error the subscriber can fix)."""
    if _blank(value):
        if required:
            raise AnswerInvalid("comment", "is required for this reason", code="comment_required")
        return None
    if not isinstance(value, str):
        raise AnswerInvalid("comment", "must be text")
    text = unicodedata.normalize("NFC", value.replace("\r\n", "\n").replace("\r", "\n"))
    text = _CONTROL.sub("", text).strip()
    if not text:
        if required:
            raise AnswerInvalid("comment", "is required for this reason", code="comment_required")
        return None
    if len(text) > MAX_COMMENT_CHARS:
        raise AnswerInvalid(
            "comment", f"must be at most {MAX_COMMENT_CHARS} characters", code="comment_too_long"
        )
    return text


def parse_contract_id(value: Any) -> int:
    """A Shopify contract id: 123, "123" or "gid://shopify/SubscriptionContract/123"."""
    if _blank(value):
        raise AnswerInvalid("contract_id", "is required", code="contract_id_required")
    if isinstance(value, str) and value.startswith("gid://shopify/SubscriptionContract/"):
        value = value.rsplit("/", 1)[1]
    number = _whole_number("contract_id", value)
    if not 0 < number <= _MAX_ID:
        raise AnswerInvalid("contract_id", "is not a subscription id")
    return number


def parse_optional_id(field: str, value: Any) -> int | None:
    """An id the page sent back to us (e.g. which invitation is being answered), if any."""
    if _blank(value):
        return None
    number = _whole_number(field, value)
    if not 0 < number <= _MAX_ID:
        raise AnswerInvalid(field, "is not an id")
    return number


def parse_reason_code(value: Any) -> str:
    if _blank(value):
        raise AnswerInvalid("reason", "is required", code="reason_required")
    if not isinstance(value, str) or not _REASON_CODE.match(value.strip()):
        raise AnswerInvalid("reason", "is not a reason code", code="reason_unknown")
    return value.strip()


def nps_input(data: Mapping[str, Any]) -> NpsInput:
    """An NPS answer from a JSON object or form fields."""
    return NpsInput(
        score=parse_score(data.get("score")),
        value_for_money=parse_value_for_money(data.get("value_for_money")),
        comment=clean_comment(data.get("comment")),
    )


def single_values(items: Iterable[tuple[str, Any]], fields: Iterable[str]) -> dict[str, Any]:
    """Form fields as a dict; a survey field sent twice (score=1&score=9) is refused rather
    than resolved by a guess about which one the subscriber meant."""
    wanted = set(fields)
    out: dict[str, Any] = {}
    for key, value in items:
        if key not in wanted:
            continue
        if key in out:
            raise AnswerInvalid(key, "was given more than once", code="field_repeated")
        out[key] = value
    return out
