"""SQL expressions the loaders share, compiled for PostgreSQL and SQLite.

Loaders select instants as numbers rather than `datetime` objects, so they travel straight
into numpy arrays (see `fetch.instant`).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement


class instant_value(FunctionElement[Any]):
    """A UtcDateTime column for `fetch.instant`, NULL replaced by a sentinel.

    PostgreSQL: the timestamp itself (binary COPY sends it as 8 bytes), NULL as -infinity.
    SQLite: epoch seconds, NULL as the smallest int64.
    """

    inherit_cache = True
    name = "instant_value"


@compiles(instant_value, "postgresql")
def _instant_pg(element: instant_value, compiler: Any, **kw: Any) -> str:
    (arg,) = element.clauses
    return f"COALESCE({compiler.process(arg, **kw)}, '-infinity'::timestamptz)"


@compiles(instant_value, "sqlite")
def _instant_sqlite(element: instant_value, compiler: Any, **kw: Any) -> str:
    (arg,) = element.clauses
    seconds = f"CAST(strftime('%s', {compiler.process(arg, **kw)}) AS INTEGER)"
    return f"COALESCE({seconds}, -9223372036854775807 - 1)"
