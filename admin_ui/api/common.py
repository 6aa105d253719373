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


class BodyInvalid(ValueError):
    """The request body is not a JSON document of acceptable size; `field` is "body"."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.field = "body"
        self.message = message


async def json_body(request: Request, max_bytes: int) -> Any:
    """The request's JSON document, read up to `max_bytes`; BodyInvalid when it is not one."""
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media != "application/json":
        raise BodyInvalid("must be JSON (Content-Type: application/json)")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            raise BodyInvalid(f"must be at most {max_bytes} bytes")
        chunks.append(chunk)
    try:
        return json.loads(b"".join(chunks))
    except ValueError:
        raise BodyInvalid("is not valid JSON") from None
