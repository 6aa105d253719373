"""The baseline: a bare Starlette endpoint that reads the body and answers 200, no other work.

Served by the same uvicorn configuration as the real app, so the ratio between the two is the
cost of verify + store + enqueue alone.
"""

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route


async def accept(request: Request) -> Response:
    await request.body()
    return Response(b'{"status":"accepted"}', media_type="application/json")


app = Starlette(routes=[Route("/webhooks", accept, methods=["POST"])])
