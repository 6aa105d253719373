"""Logging: one JSON object per line, with the correlation id, and a filter that masks anything
that looks like a credential or a customer's contact.

The redaction is a second line of defence: code logs ids and reason codes, never payloads,
tokens or URLs with their query (the access log writes route templates, see
`plugin.access_log`). uvicorn's own access log, which prints full URLs (signed survey links,
`id_token`, app proxy signatures), is switched off by `valuehealth serve` and dropped here
in case the app is served some other way.
"""

from __future__ import annotations

import json
import logging
import re
from datetime import UTC, datetime
from typing import IO, Any

from plugin import correlation

_REDACTED = "[redacted]"
_SHOPIFY_TOKEN = re.compile(r"(shpat|shpca|shpss|shprt|shpua)_[A-Za-z0-9]+")
# A header or field naming a credential, and its whole value (an `Authorization` value is a
# scheme and a token: both go).
_NAMED = re.compile(
    r"(?i)(x-shopify-access-token|authorization|access_token|refresh_token|client_secret"
    r"|id_token|session_token|signature|hmac|password|secret)"
    r"([\"']?\s*[:=]\s*[\"']?)((?:bearer|basic)\s+)?([^\s\"'&,}]+)"
)
_JWT = re.compile(r"eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*")
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
_SIGNED_LINK = re.compile(r"/s/[A-Za-z0-9_-]{16,}")
_CUSTOMER_PARAM = re.compile(r"(?i)(logged_in_customer_id=)([0-9]+)")


def redact(text: str) -> str:
    text = _SHOPIFY_TOKEN.sub(lambda m: m.group(1) + "_" + _REDACTED, text)
    text = _NAMED.sub(lambda m: m.group(1) + m.group(2) + _REDACTED, text)
    text = _JWT.sub(_REDACTED, text)
    text = _EMAIL.sub("[email]", text)
    text = _SIGNED_LINK.sub("/s/{token}", text)
    return _CUSTOMER_PARAM.sub(lambda m: m.group(1) + _REDACTED, text)


class RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        if record.exc_info and not record.exc_text:
            # Tracebacks quote values (an SQL statement's parameters): redact them too.
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
        return True


class _DropUvicornAccess(logging.Filter):
    """uvicorn's access log prints full URLs: ours (plugin.access_log) replaces it."""

    def filter(self, record: logging.LogRecord) -> bool:
        return False


# Fields a record may carry through `extra=` that the JSON line shows.
_EXTRA_FIELDS = ("method", "route", "status", "duration_ms", "job", "job_try", "outcome")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        request_id = getattr(record, "request_id", None) or correlation.current()
        if request_id:
            entry["request_id"] = request_id
        for name in _EXTRA_FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                entry[name] = value
        if record.exc_info:
            entry["exc"] = record.exc_text or redact(self.formatException(record.exc_info))
        return json.dumps(entry, ensure_ascii=False, default=str)


def configure_logging(
    level: str = "INFO", *, json_lines: bool = True, stream: IO[str] | None = None
) -> logging.Handler:
    """Log to stderr (or `stream`) as JSON lines, redacted; returns the handler. Idempotent: a
    second call finds the handler already there."""
    root = logging.getLogger()
    for existing in root.handlers:
        if any(isinstance(f, RedactingFilter) for f in existing.filters):
            handler = existing
            break
    else:
        handler = logging.StreamHandler(stream)
        if json_lines:
            handler.setFormatter(JsonFormatter())
        else:
            handler.setFormatter(
                logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
            )
        handler.addFilter(RedactingFilter())
        root.addHandler(handler)
    root.setLevel(level)
    # httpx logs every request's full URL at INFO (a bulk result's signed link among them); our
    # clients log what a call meant, so only its warnings get through.
    for chatty in ("httpx", "httpcore"):
        logging.getLogger(chatty).setLevel(max(root.level, logging.WARNING))
    access = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, _DropUvicornAccess) for f in access.filters):
        access.addFilter(_DropUvicornAccess())
    return handler
