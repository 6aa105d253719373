"""The one validator every channel uses: each bad value is refused with its field named."""

from __future__ import annotations

from typing import Any

import pytest

from plugin.surveys.errors import AnswerInvalid
from plugin.surveys.validation import (
    MAX_COMMENT_CHARS,
    clean_comment,
    nps_input,
    parse_contract_id,
    parse_reason_code,
    parse_score,
    parse_value_for_money,
    single_values,
)


@pytest.mark.parametrize("raw", [11, -1, "ten", "9.5", 9.5, True, "1e1", "", None, [9], "٣"])
def test_bad_scores_are_refused_naming_the_field(raw: Any) -> None:
    with pytest.raises(AnswerInvalid) as caught:
        parse_score(raw)
    assert caught.value.field == "score"


@pytest.mark.parametrize(("raw", "score"), [(0, 0), (10, 10), ("7", 7), (" 9 ", 9), (8.0, 8)])
def test_good_scores(raw: Any, score: int) -> None:
    assert parse_score(raw) == score


def test_value_for_money_is_optional_and_bounded() -> None:
    assert parse_value_for_money(None) is None
    assert parse_value_for_money("") is None
    assert parse_value_for_money("5") == 5
    for raw in (0, 6, "good", False):
        with pytest.raises(AnswerInvalid) as caught:
            parse_value_for_money(raw)
        assert caught.value.field == "value_for_money"


def test_comments_are_plain_text_within_the_cap() -> None:
    assert clean_comment("  fine\r\nthanks\x00\x07 ") == "fine\nthanks"
    assert clean_comment("Cafe\u0301") == "Café"  # NFC: one code point, as stored and counted
    assert clean_comment("<b>{{ x }}</b>") == "<b>{{ x }}</b>"  # stored as given, escaped on show
    assert clean_comment("   ") is None
    assert len(clean_comment("é" * MAX_COMMENT_CHARS) or "") == MAX_COMMENT_CHARS
    with pytest.raises(AnswerInvalid) as caught:
        clean_comment("x" * (MAX_COMMENT_CHARS + 1))
    assert (caught.value.field, caught.value.code) == ("comment", "comment_too_long")
    with pytest.raises(AnswerInvalid) as caught:
        clean_comment(" ", required=True)
    assert caught.value.code == "comment_required"
    with pytest.raises(AnswerInvalid):
        clean_comment(42)


def test_contract_ids_and_reason_codes() -> None:
    assert parse_contract_id("gid://shopify/SubscriptionContract/42") == 42
    assert parse_contract_id(42) == 42
    for raw in (None, "", "abc", 0, -3, 2**63):
        with pytest.raises(AnswerInvalid) as caught:
            parse_contract_id(raw)
        assert caught.value.field == "contract_id"
    assert parse_reason_code(" too_expensive ") == "too_expensive"
    for raw in ("", "DROP TABLE", 3, "x" * 70):
        with pytest.raises(AnswerInvalid) as caught:
            parse_reason_code(raw)
        assert caught.value.field == "reason"


def test_a_field_sent_twice_is_refused() -> None:
    assert single_values([("score", "9"), ("x", "1"), ("x", "2")], ["score"]) == {"score": "9"}
    with pytest.raises(AnswerInvalid) as caught:
        single_values([("score", "1"), ("score", "9")], ["score"])
    assert (caught.value.field, caught.value.code) == ("score", "field_repeated")


def test_nps_input_reads_a_whole_answer() -> None:
    answer = nps_input({"score": "9", "value_for_money": "", "comment": "Great"})
    assert (answer.score, answer.value_for_money, answer.comment) == (9, None, "Great")
