"""How a job's failure is classified and described, shared by the inbox and the scoring jobs."""

from __future__ import annotations

import httpx
from sqlalchemy.exc import DBAPIError, IntegrityError, InterfaceError, OperationalError

from plugin.queue import TransientError

# PostgreSQL: serialization failure, deadlock, lock not available.
_RETRYABLE_SQLSTATES = frozenset({"40001", "40P01", "55P03"})
_DESCRIPTION_CHARS = 1000


def is_transient(exc: BaseException) -> bool:
    """Worth retrying as is: the failure is in a dependency, not in the event or our code."""
    if isinstance(exc, TransientError | httpx.TransportError | ConnectionError | TimeoutError):
        return True
    # A unique key taken by a concurrent writer: the retry sees the committed row.
    if isinstance(exc, OperationalError | InterfaceError | IntegrityError):
        return True
    if isinstance(exc, DBAPIError):
        if exc.connection_invalidated:
            return True
        orig = exc.orig
        sqlstate = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
        return sqlstate in _RETRYABLE_SQLSTATES
    return False


def describe(exc: BaseException) -> str:
    """A one-line error for the row and logs, without SQL parameters (they hold customer data)."""
    source = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
    lines = str(source).strip().splitlines()
    message = lines[0] if lines else ""
    return f"{type(source).__name__}: {message}"[:_DESCRIPTION_CHARS]
