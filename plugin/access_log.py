"""The web tier's outermost middleware: who the client is, the correlation id, one access line.

- Client address: the peer, unless the peer is one of `TRUSTED_PROXIES`; then the right-most
  `X-Forwarded-For` entry that is not itself a trusted proxy (entries further left are whatever
  the client wrote, so they are never believed). With no trusted proxies, `X-Forwarded-For` is
  ignored. `scope["client"]` is rewritten, so `request.client` is that address everywhere
  (the per-IP limit on signed links reads it).
- Correlation id: `X-Request-Id` when it is a plain token, else a new one; echoed on the
  response and bound for the request's logs and the jobs it enqueues (plugin.correlation).
- Access line: method, route template (`/s/{token}`, never the token), status and duration.
  The query string is never logged: it carries `id_token`, app proxy signatures and customer
  ids.
"""

from __future__ import annotations

import ipaddress
import logging
import time
from collections.abc import Iterable, Sequence

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from plugin import correlation
from plugin.metrics import HTTP_REQUESTS

log = logging.getLogger("valuehealth.access")

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(raw: str) -> tuple[Network, ...]:
    """`TRUSTED_PROXIES`: comma-separated addresses or CIDR blocks. ValueError names the bad one."""
    networks = []
    for part in raw.split(","):
        part = part.strip()
        if not part:
            continue
        try:
            networks.append(ipaddress.ip_network(part, strict=False))
        except ValueError:
            raise ValueError(f"not an IP address or network: {part!r}") from None
    return tuple(networks)


def _trusted(host: str, networks: Sequence[Network]) -> bool:
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return any(address in network for network in networks)


def client_address(peer: str, forwarded_for: Iterable[str], networks: Sequence[Network]) -> str:
    """The client's address as far as trusted proxies vouch for it."""
    if not networks or not _trusted(peer, networks):
        return peer
    hops = [hop.strip() for value in forwarded_for for hop in value.split(",") if hop.strip()]
    for hop in reversed(hops):
        if not _trusted(hop, networks):
            try:
                return str(ipaddress.ip_address(hop))
            except ValueError:
                return peer  # garbage where an address should be: keep the proxy's own
    return hops[0] if hops else peer


UNMATCHED = "<unmatched>"


def route_template(scope: Scope) -> str:
    """The path with each path parameter's value replaced by its name; `<unmatched>` when no
    route matched (the path as sent could hold anything, a mistyped link's token included)."""
    if "endpoint" not in scope:
        return UNMATCHED
    path: str = scope.get("path", "")
    params = scope.get("path_params") or {}
    for name, value in params.items():
        text = str(value)
        if text:
            path = path.replace(text, "{" + name + "}")
    return path


class AccessLogMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        runtime = scope.get("state", {}).get("runtime")
        networks = runtime.settings.trusted_proxies if runtime is not None else ()
        headers = scope.get("headers", [])
        request_id = correlation.accept(_header(headers, b"x-request-id"))
        if scope.get("client") and networks:
            peer, port = scope["client"]
            forwarded = [v.decode("latin-1") for k, v in headers if k == b"x-forwarded-for"]
            scope["client"] = (client_address(peer, forwarded, networks), port)
        status = 500

        async def send_logged(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [
                    *message.get("headers", []),
                    (b"x-request-id", request_id.encode()),
                ]
            await send(message)

        with correlation.bound(request_id):
            try:
                await self.app(scope, receive, send_logged)
            finally:
                elapsed = time.perf_counter() - started
                route = route_template(scope)
                method = str(scope.get("method"))
                HTTP_REQUESTS.observe(elapsed, route=route, method=method, status=f"{status}")
                log.info(
                    "%s %s %d",
                    method,
                    route,
                    status,
                    extra={
                        "method": method,
                        "route": route,
                        "status": status,
                        "duration_ms": round(elapsed * 1000, 2),
                    },
                )


def _header(headers: Iterable[tuple[bytes, bytes]], name: bytes) -> str | None:
    for key, value in headers:
        if key == name:
            return value.decode("latin-1")
    return None
