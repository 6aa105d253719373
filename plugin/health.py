"""GET /healthz (process up) and GET /readyz (database, Redis, webhook backlog)."""

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route


async def healthz(_request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


ROUTES: list[BaseRoute] = [Route("/healthz", healthz, methods=["GET"])]
