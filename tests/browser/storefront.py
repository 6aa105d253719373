"""A stand-in for a Shopify storefront in front of the app proxy, for the browser test.

Like Shopify: `/apps/valuehealth/…` is forwarded to the app's `/proxy/…` with the visitor's
query plus `shop`, `logged_in_customer_id` (the storefront's logged-in customer), `path_prefix`,
`timestamp` and `signature`; the body and content headers pass through; an
`application/liquid` answer is placed inside the theme's layout (no Liquid is evaluated: the
app's pages contain none, and that is part of what the test checks).
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qsl

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from tests.support.signing import SHOP, proxy_query

PREFIX = "/apps/valuehealth"
THEME = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Test store</title>
<style>body{{font-family:Georgia,serif;margin:0}}header{{background:#f4efe6;padding:1rem}}</style>
</head><body><header><strong>Test store</strong></header><main>{content}</main></body></html>"""


@dataclass
class Visitor:
    """Who is logged in to the storefront (None: nobody)."""

    customer_id: int | None = None


def storefront(app_url: str, visitor: Visitor) -> Starlette:
    async def forward(request: Request) -> Response:
        seen: dict[str, list[str]] = {}
        for key, value in parse_qsl(request.url.query, keep_blank_values=True):
            seen.setdefault(key, []).append(value)
        params: dict[str, str | list[str]] = {
            key: values[0] if len(values) == 1 else values for key, values in seen.items()
        }
        customer = visitor.customer_id
        query = proxy_query(
            params,
            shop=SHOP,
            customer_id="" if customer is None else str(customer),
            path_prefix=PREFIX,
        )
        headers = {
            name: value
            for name, value in request.headers.items()
            if name in ("accept", "accept-language", "content-type")
        }
        async with httpx.AsyncClient(base_url=app_url) as client:
            answer = await client.request(
                request.method,
                f"/proxy/{request.path_params['path']}?{query}",
                content=await request.body(),
                headers=headers,
            )
        media = answer.headers.get("content-type", "")
        if media.startswith("application/liquid"):
            return HTMLResponse(THEME.format(content=answer.text), status_code=answer.status_code)
        return Response(answer.content, status_code=answer.status_code, media_type=media)

    async def login(_request: Request) -> Response:
        return HTMLResponse(THEME.format(content="<h1>Log in</h1>"))

    return Starlette(
        routes=[
            Route(PREFIX + "/{path:path}", forward, methods=["GET", "POST"]),
            Route("/account/login", login),
        ]
    )
