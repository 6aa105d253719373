"""Fetch a numeric SELECT straight into numpy arrays, in chunks, on either backend.

Every column the loaders select is a number: text is coded in SQL (`coded`), NULLs are
replaced in SQL by a sentinel (`INT_NULL` for integers and instants, NaN for floats), and
instants come as epoch seconds (PostgreSQL sends its own 8-byte timestamps, converted here,
which spares the server a conversion per row). So PostgreSQL can send the rows with
`COPY (SELECT …) TO STDOUT (FORMAT binary)`, whose tuples all have one fixed layout that
numpy reads in place (`np.frombuffer` on each chunk as it arrives): no Python object per
row or per value, which is what decoding rows through the driver costs (microseconds a row,
so seconds on a large shop). SQLite (the demo, laptops) streams rows in chunks instead.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
from sqlalchemy import (
    BigInteger,
    Float,
    FromClause,
    Select,
    case,
    cast,
    func,
    literal,
    literal_column,
    select,
)
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.elements import ColumnElement

from plugin.scoring.sql import instant_value

CHUNK_ROWS = 50_000
INT_NULL = np.iinfo(np.int64).min
Kind = Literal["i8", "f8", "ts"]
_SIGNATURE = b"PGCOPY\n\xff\r\n\x00"
# PostgreSQL's binary timestamptz: microseconds since 2000-01-01 UTC; -infinity is int64 min.
_PG_EPOCH_S = 946_684_800


@dataclass(frozen=True)
class Col:
    """One selected column and how its values arrive."""

    expr: ColumnElement[Any]
    kind: Kind


def _int(value: int) -> ColumnElement[int]:
    # Our own integers (codes, the NULL sentinel) are inlined: a CASE over many values then
    # binds no parameters, and the sentinel stays a bigint (a numeric would slow every row).
    text = "(-9223372036854775807 - 1)" if value == INT_NULL else str(int(value))
    return literal_column(text, BigInteger)


def ident(expr: ColumnElement[Any]) -> Col:
    """A NOT NULL integer column (ids, counts)."""
    return Col(cast(expr, BigInteger), "i8")


def maybe_int(expr: ColumnElement[Any]) -> Col:
    """A nullable integer column, NULL as INT_NULL."""
    return Col(cast(func.coalesce(expr, _int(INT_NULL)), BigInteger), "i8")


def real(expr: ColumnElement[Any]) -> Col:
    """A float column, NULL as NaN."""
    return Col(cast(func.coalesce(cast(expr, Float), literal(float("nan"), Float)), Float), "f8")


def instant(expr: ColumnElement[Any]) -> Col:
    """A UtcDateTime column as whole epoch seconds, NULL as INT_NULL."""
    return Col(instant_value(expr), "ts")


def coded(expr: ColumnElement[Any], codes: Mapping[str, int], default: int) -> Col:
    """A text column as the integer code of its value (`default` for others and NULL)."""
    if not codes:
        return Col(cast(_int(default), BigInteger), "i8")
    whens = {key: _int(code) for key, code in codes.items()}
    return Col(cast(case(whens, value=expr, else_=_int(default)), BigInteger), "i8")


async def columns(
    conn: AsyncConnection,
    cols: Sequence[Col],
    *where: ColumnElement[bool],
    select_from: FromClause | None = None,
    order_by: ColumnElement[Any] | None = None,
) -> list[npt.NDArray[Any]]:
    """One array per column: int64 for "i8" and "ts" (epoch seconds), float64 for "f8"."""
    stmt = select(*(c.expr for c in cols)).where(*where)
    if select_from is not None:
        stmt = stmt.select_from(select_from)
    if order_by is not None:
        stmt = stmt.order_by(order_by)
    kinds = [c.kind for c in cols]
    if conn.dialect.name == "postgresql":
        return await _copy_binary(conn, stmt, kinds)
    return await _stream(conn, stmt, kinds)


def _dtype(kind: Kind) -> type[np.generic]:
    return np.float64 if kind == "f8" else np.int64


async def _stream(
    conn: AsyncConnection, stmt: Select[Any], kinds: Sequence[Kind]
) -> list[npt.NDArray[Any]]:
    dtypes = [_dtype(k) for k in kinds]
    parts: list[list[npt.NDArray[Any]]] = [[] for _ in kinds]
    result = await conn.stream(stmt.execution_options(yield_per=CHUNK_ROWS))
    async for rows in result.partitions(CHUNK_ROWS):
        # SQLite hands a float NaN back as NULL (None): numpy's float conversion makes it NaN.
        for i, values in enumerate(zip(*rows, strict=True)):
            parts[i].append(np.array(values, dtype=dtypes[i]))
    return [
        np.concatenate(chunks) if chunks else np.empty(0, dtype=dtype)
        for chunks, dtype in zip(parts, dtypes, strict=True)
    ]


async def _copy_binary(
    conn: AsyncConnection, stmt: Select[Any], kinds: Sequence[Kind]
) -> list[npt.NDArray[Any]]:
    compiled = stmt.compile(dialect=conn.dialect)
    params = compiled.construct_params()
    args = [params[name] for name in compiled.positiontup or ()]
    n = len(kinds)
    # Each tuple: int16 field count, then per field int32 length + 8 bytes of value.
    layout: list[tuple[str, str]] = [("fields", ">i2")]
    for i, kind in enumerate(kinds):
        layout += [(f"len{i}", ">i4"), (f"v{i}", ">f8" if kind == "f8" else ">i8")]
    record = np.dtype(layout)
    parts: list[list[npt.NDArray[Any]]] = [[] for _ in kinds]
    state = {"pending": b"", "header": False}

    def take(data: bytes) -> None:
        buf = state["pending"] + data  # type: ignore[operator]
        if not state["header"]:
            if len(buf) < 19:
                state["pending"] = buf
                return
            if buf[:11] != _SIGNATURE:
                raise ValueError("unexpected COPY stream")
            extension = int.from_bytes(buf[15:19], "big")
            if len(buf) < 19 + extension:
                state["pending"] = buf
                return
            buf = buf[19 + extension :]
            state["header"] = True
        whole = len(buf) // record.itemsize
        if whole:
            rows = np.frombuffer(buf, dtype=record, count=whole)
            if np.any(rows["fields"] != n) or any(np.any(rows[f"len{i}"] != 8) for i in range(n)):
                raise ValueError("a NULL or a non-8-byte value in a numeric COPY column")
            for i, kind in enumerate(kinds):
                values = rows[f"v{i}"].astype(_dtype(kind))
                if kind == "ts":
                    stamped = values != INT_NULL
                    values[stamped] = values[stamped] // 1_000_000 + _PG_EPOCH_S
                parts[i].append(values)
        state["pending"] = buf[whole * record.itemsize :]

    async def sink(data: bytes) -> None:
        take(data)

    raw = await conn.get_raw_connection()
    driver: Any = raw.driver_connection
    await driver.copy_from_query(str(compiled), *args, output=sink, format="binary")
    if state["pending"] not in (b"\xff\xff", b""):
        raise ValueError("COPY stream ended inside a tuple")
    return [
        np.concatenate(chunks) if chunks else np.empty(0, _dtype(k))
        for chunks, k in zip(parts, kinds, strict=True)
    ]
