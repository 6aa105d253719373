"""Parsing untrusted request input without surprises: ids that are ASCII digits in the range
the database stores, JSON that cannot exhaust the parser's recursion. One home, so that every
route refuses odd input the same way (a 4xx naming the field) instead of failing with a 500."""

from __future__ import annotations

import json
from typing import Any

# PostgreSQL's bigint, and SQLite's INTEGER: a larger id names no row and cannot be bound.
MAX_ID = 2**63 - 1
_MAX_ID_DIGITS = len(str(MAX_ID))


def parse_id(raw: str | None, *, maximum: int = MAX_ID) -> int | None:
    """A whole number written in ASCII digits, 0..maximum; None for anything else.

    `str.isdigit` alone accepts "²" and other Unicode digits that `int` then refuses, and
    `int` refuses strings over 4,300 digits: both used to end in a 500."""
    if not raw or len(raw) > _MAX_ID_DIGITS or not (raw.isascii() and raw.isdigit()):
        return None
    value = int(raw)
    return value if value <= maximum else None


def loads_json(data: str | bytes) -> Any:
    """`json.loads`, with nesting too deep for the parser reported as ValueError like any
    other malformed document (it raises RecursionError, which is not one)."""
    try:
        return json.loads(data)
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None
