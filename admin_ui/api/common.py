"""What the admin API handlers share: JSON responses and parameter errors."""

from __future__ import annotations

from typing import Any

from starlette.responses import JSONResponse

from plugin.portal.common import error_body


def ok(body: Any) -> JSONResponse:
    return JSONResponse(body)


def invalid(field: str, message: str) -> JSONResponse:
    """422 naming the parameter at fault."""
    return JSONResponse(error_body("invalid_parameter", message, field), status_code=422)


def not_found(message: str) -> JSONResponse:
    return JSONResponse(error_body("not_found", message), status_code=404)
