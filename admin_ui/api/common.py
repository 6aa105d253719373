"""What the admin API handlers share: JSON responses and parameter errors."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

from plugin.portal.common import error_body


def ok(body: Any) -> JSONResponse:
    return JSONResponse(body)


def invalid(field: str, message: str) -> JSONResponse:
    """422 naming the parameter at fault."""
    return JSONResponse(error_body("invalid_parameter", message, field), status_code=422)


def not_found(message: str) -> JSONResponse:
    return JSONResponse(error_body("not_found", message), status_code=404)


MAX_BODY_BYTES = 16_384


class BodyInvalid(Exception):
    """An unreadable request body or field (HTTP 422 naming the field); nothing was stored."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


async def json_body(request: Request, limit: int = MAX_BODY_BYTES) -> Any:
    """The request's JSON document, read up to `limit` bytes; BodyInvalid otherwise."""
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media != "application/json":
        raise BodyInvalid("body", "must be JSON (Content-Type: application/json)")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyInvalid("body", f"must be at most {limit} bytes")
        chunks.append(chunk)
    try:
        return json.loads(b"".join(chunks))
    except (ValueError, RecursionError):
        raise BodyInvalid("body", "is not valid JSON") from None
