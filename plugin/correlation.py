"""The correlation id: one id per request, carried into the jobs it enqueues, on every log line.

A request takes the id its caller sent in `X-Request-Id` when that is a plain short token (a
load balancer's), or gets a new one. `plugin.queue` puts the current id beside the job's ids
(it is an id too: random, it names nothing and holds no data), and the worker binds it while
the job runs, so one `grep` finds a webhook's request and the job that applied it.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

HEADER = "x-request-id"
_current: ContextVar[str | None] = ContextVar("correlation_id", default=None)
_ACCEPTED = re.compile(r"^[A-Za-z0-9._-]{8,64}$")


def current() -> str | None:
    return _current.get()


def new_id() -> str:
    return uuid.uuid4().hex


def accept(raw: str | None) -> str:
    """The caller's id when it is a plain token of 8 to 64 characters, else a new one (so a
    header can never put markup, newlines or a secret-sized value into our logs)."""
    return raw if raw is not None and _ACCEPTED.match(raw) else new_id()


@contextmanager
def bound(correlation_id: str | None) -> Iterator[str | None]:
    token = _current.set(correlation_id)
    try:
        yield correlation_id
    finally:
        _current.reset(token)
