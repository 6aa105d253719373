"""Logging configuration with a filter that masks anything that looks like a secret."""

from __future__ import annotations

import logging
import re

_SECRET_PATTERNS = [
    re.compile(r"(shpat|shpca|shpss|shprt|shpua)_[A-Za-z0-9]+"),
    re.compile(
        r"(?i)(x-shopify-access-token|authorization|access_token|refresh_token|client_secret)"
        r"([\"']?\s*[:=]\s*[\"']?)([^\s\"',}]+)"
    ),
]


def redact(text: str) -> str:
    text = _SECRET_PATTERNS[0].sub(lambda m: m.group(1) + "_[redacted]", text)
    return _SECRET_PATTERNS[1].sub(lambda m: m.group(1) + m.group(2) + "[redacted]", text)


class RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


def configure_logging(level: str = "INFO") -> None:
    root = logging.getLogger()
    if not any(isinstance(f, RedactingFilter) for h in root.handlers for f in h.filters):
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        handler.addFilter(RedactingFilter())
        root.addHandler(handler)
    root.setLevel(level)
