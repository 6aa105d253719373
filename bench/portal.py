"""Survey portal benchmark: `python -m bench portal [--requests N] [--warmup W]`.

Serves the real app (`plugin.app:create_app`, PostgreSQL in a database made for the run, Redis
for the rate limiter as in production, and a queue of the run's own for the recomputes answers
ask for, dropped at the end) in one uvicorn process on a loopback port, seeds a shop
with subscribers, contracts and pending NPS invitations, then times, one request at a time:

- the survey page (GET /proxy/survey, signed like Shopify's app proxy), and the cancel form;
- answer submissions on every channel: app proxy (JSON and the HTML form), the extension API
  (Bearer session token), the signed link (one-click GET and the final POST).

Server time is the app's own `Server-Timing` header (route entered to response headers sent);
client time is what the load generator saw, which also holds uvicorn's HTTP handling and the
client's own time on the shared cores. Each request goes to a different subscriber (the
per-customer rate limit allows 30 requests in 10 minutes; a benchmark that hammered one
customer would measure 429s). Page weight is the size of the bodies as served. Targets (issue
4, server time): page p95 under 20 ms, submission p95 under 30 ms, page weight under 30 KB.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import re
import sys
import time
import uuid
from collections.abc import Awaitable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

import httpx
import jwt
from cryptography.fernet import Fernet
from sqlalchemy import insert, select

from bench.support import (
    QUEUE_NAME_ENV,
    REDIS_URL,
    drop_queue,
    run_queue_name,
    start_served_bench,
    temporary_database,
    uvicorn_server,
)
from plugin.db.engine import make_engine
from plugin.models import Contract, NpsInvitation, Shop, Subscriber
from plugin.settings import Settings
from plugin.surveys.links import make_token

SHOP = "bench-portal.myshopify.com"
API_KEY = "bench-api-key"
PAGE_TARGET_MS = 20.0
SUBMIT_TARGET_MS = 30.0
WEIGHT_TARGET_BYTES = 30_000
SERVER_TIMING = re.compile(r"app;dur=([0-9.]+)")
CHANNELS = (
    "baseline",
    "proxy_page",
    "proxy_cancel_page",
    "proxy_json",
    "proxy_form",
    "api",
    "link_get",
    "link_post",
)


@dataclass
class Timing:
    label: str
    target_ms: float
    latencies_ms: list[float] = field(default_factory=list)  # seen by the client
    server_ms: list[float] = field(default_factory=list)  # the app's Server-Timing
    statuses: dict[int, int] = field(default_factory=dict)
    max_bytes: int = 0

    def add(self, elapsed_s: float, response: httpx.Response) -> None:
        self.latencies_ms.append(elapsed_s * 1000)
        found = SERVER_TIMING.search(response.headers.get("server-timing", ""))
        if found:
            self.server_ms.append(float(found.group(1)))
        self.statuses[response.status_code] = self.statuses.get(response.status_code, 0) + 1
        self.max_bytes = max(self.max_bytes, len(response.content))

    @staticmethod
    def pct(values: list[float], q: float) -> float:
        if not values:
            return float("nan")
        ordered = sorted(values)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    @property
    def ok(self) -> bool:
        # The targets are server time; without the header (baseline) the client's view.
        return self.pct(self.server_ms or self.latencies_ms, 0.95) < self.target_ms

    def line(self) -> str:
        server = self.server_ms
        return (
            f"| {self.label} | {len(self.latencies_ms)} | "
            f"{self.pct(server, 0.5):.1f} | {self.pct(server, 0.95):.1f} | "
            f"{self.pct(server, 0.99):.1f} | {self.pct(self.latencies_ms, 0.5):.1f} | "
            f"{self.pct(self.latencies_ms, 0.95):.1f} | {self.target_ms:.0f} | "
            f"{'yes' if self.ok else 'NO'} | {self.max_bytes:,} | {self.statuses} |"
        )


def proxy_query(secret: str, customer_id: int, params: dict[str, str] | None = None) -> str:
    """The query Shopify's app proxy sends, signed with the app secret."""
    full = {
        **(params or {}),
        "shop": SHOP,
        "logged_in_customer_id": str(customer_id),
        "path_prefix": "/apps/valuehealth",
        "timestamp": str(int(time.time())),
    }
    message = "".join(f"{k}={v}" for k, v in sorted(full.items()))
    full["signature"] = hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()
    return urlencode(full)


def session_token(secret: str, customer_id: int) -> str:
    now = int(time.time())
    claims = {
        "iss": f"https://{SHOP}/admin",
        "dest": f"https://{SHOP}",
        "aud": API_KEY,
        "sub": f"gid://shopify/Customer/{customer_id}",
        "exp": now + 60,
        "nbf": now - 1,
        "iat": now,
        "jti": uuid.uuid4().hex,
    }
    return jwt.encode(claims, secret, algorithm="HS256")


@dataclass
class Seeded:
    customers: list[int]  # customer ids, one per subscriber
    contracts: dict[int, int]  # customer id -> Shopify contract id
    invitations: dict[int, int]  # customer id -> invitation id
    shop_id: int


async def seed(database_url: str, subscribers: int) -> Seeded:
    """One shop; per subscriber an active contract and one pending NPS invitation."""
    engine = make_engine(database_url)
    now = datetime.now(UTC)
    try:
        async with engine.begin() as conn:
            shop_id = (
                await conn.execute(
                    insert(Shop)
                    .values(
                        domain=SHOP,
                        installed_at=now,
                        scopes="",
                        timezone="UTC",
                        currency="USD",
                        locale="en",
                        settings={},
                        created_at=now,
                        updated_at=now,
                    )
                    .returning(Shop.id)
                )
            ).scalar_one()
            customers = list(range(7_000_000_001, 7_000_000_001 + subscribers))
            await conn.execute(
                insert(Subscriber),
                [{"shop_id": shop_id, "customer_id": c, "first_seen_at": now} for c in customers],
            )
            ids = dict(
                (await conn.execute(select(Subscriber.customer_id, Subscriber.id))).tuples().all()
            )
            contracts = {c: 8_000_000_000 + i for i, c in enumerate(customers)}
            common = {
                "shop_id": shop_id,
                "status": "active",
                "status_at": now,
                "started_at": now,
                "currency": "USD",
                "billing_interval": "month",
                "billing_interval_count": 1,
                "delivery_interval": "month",
                "delivery_interval_count": 1,
                "created_at": now,
                "updated_at": now,
            }
            await conn.execute(
                insert(Contract),
                [
                    {**common, "contract_id": contracts[c], "subscriber_id": ids[c]}
                    for c in customers
                ],
            )
            await conn.execute(
                insert(NpsInvitation),
                [
                    {
                        "shop_id": shop_id,
                        "subscriber_id": ids[c],
                        "order_id": 9_000_000_000 + i,
                        "trigger": "delivered",
                        "status": "pending",
                        "send_at": now,
                        "sent_at": now,
                        "expires_at": now + timedelta(days=14),
                        "created_at": now,
                    }
                    for i, c in enumerate(customers)
                ],
            )
            invitations = dict(
                (await conn.execute(select(NpsInvitation.subscriber_id, NpsInvitation.id)))
                .tuples()
                .all()
            )
    finally:
        await engine.dispose()
    return Seeded(customers, contracts, {c: invitations[ids[c]] for c in customers}, shop_id)


async def run(
    port: int, secret: str, settings: Settings, data: Seeded, n: int, warmup: int
) -> list[Timing]:
    timings = {
        "baseline": Timing("baseline: GET /healthz (no database)", PAGE_TARGET_MS),
        "proxy_page": Timing("survey page (GET /proxy/survey)", PAGE_TARGET_MS),
        "proxy_cancel_page": Timing("cancel form (GET /proxy/survey?contract_id=)", PAGE_TARGET_MS),
        "proxy_json": Timing("answer, app proxy JSON (POST /proxy/nps)", SUBMIT_TARGET_MS),
        "proxy_form": Timing(
            "answer, app proxy form (POST /proxy/cancel-reason)", SUBMIT_TARGET_MS
        ),
        "api": Timing("answer, extension API (POST /api/portal/nps)", SUBMIT_TARGET_MS),
        "link_get": Timing("one-click score (GET /s/{token}?score=9)", SUBMIT_TARGET_MS),
        "link_post": Timing("answer, signed link (POST /s/{token})", SUBMIT_TARGET_MS),
    }
    per_phase = n + warmup
    groups = [data.customers[i * per_phase : (i + 1) * per_phase] for i in range(3)]
    html = {"Accept": "text/html"}
    as_json = {"Accept": "application/json"}
    form = {**html, "Content-Type": "application/x-www-form-urlencoded"}
    form_token = re.compile(r'name="_ft" value="([^"]+)"')

    async def timed(key: str, index: int, request: Awaitable[httpx.Response]) -> httpx.Response:
        # The request (signature, token) is built before the clock starts.
        started = time.perf_counter()
        response = await request
        if index >= warmup:
            timings[key].add(time.perf_counter() - started, response)
        return response

    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
        for i in range(per_phase):
            await timed("baseline", i, client.get("/healthz"))
        for i, c in enumerate(groups[0]):
            await timed(
                "proxy_page", i, client.get(f"/proxy/survey?{proxy_query(secret, c)}", headers=html)
            )
            await timed(
                "proxy_json",
                i,
                client.post(
                    f"/proxy/nps?{proxy_query(secret, c)}",
                    json={"score": 9, "value_for_money": 4},
                    headers=as_json,
                ),
            )
            contract = str(data.contracts[c])
            cancel = await timed(
                "proxy_cancel_page",
                i,
                client.get(
                    f"/proxy/survey?{proxy_query(secret, c, {'contract_id': contract})}",
                    headers=html,
                ),
            )
            found = form_token.search(cancel.text)
            body = {
                "_ft": found.group(1) if found else "",
                "contract_id": contract,
                "reason": "too_expensive",
            }
            await timed(
                "proxy_form",
                i,
                client.post(
                    f"/proxy/cancel-reason?{proxy_query(secret, c)}",
                    content=urlencode(body).encode(),
                    headers=form,
                ),
            )
        for i, c in enumerate(groups[1]):
            bearer = {"Authorization": f"Bearer {session_token(secret, c)}", **as_json}
            await timed("api", i, client.post("/api/portal/nps", json={"score": 7}, headers=bearer))
        # Each signed-link visitor from their own address, as behind a load balancer (uvicorn
        # trusts X-Forwarded-For from loopback): the per-IP limit is not what is measured.
        for i, c in enumerate(groups[2]):
            visitor = {"X-Forwarded-For": f"10.{i // 65536 % 256}.{i // 256 % 256}.{i % 256}"}
            link = make_token(
                settings,
                invitation_id=data.invitations[c],
                shop_id=data.shop_id,
                customer_id=c,
                expires_at=datetime.now(UTC) + timedelta(days=14),
            )
            await timed(
                "link_get", i, client.get(f"/s/{link}?score=9", headers={**html, **visitor})
            )
            await timed(
                "link_post",
                i,
                client.post(
                    f"/s/{link}",
                    content=b"score=9&value_for_money=5&comment=Great",
                    headers={**form, **visitor},
                ),
            )
    return [timings[key] for key in CHANNELS]


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench portal")
    parser.add_argument("--requests", type=int, default=1000, help="timed requests per kind")
    parser.add_argument("--warmup", type=int, default=100, help="untimed requests per kind first")
    return parser.parse_args(argv)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    if not start_served_bench():
        return 2

    secret = Fernet.generate_key().decode()[:32]
    queue_name = run_queue_name("portal")
    with temporary_database("vh_bench_portal") as database_url:
        env = {
            "SHOPIFY_API_KEY": API_KEY,
            "SHOPIFY_API_SECRET": secret,
            "TOKEN_ENCRYPTION_KEY": Fernet.generate_key().decode(),
            "DATABASE_URL": database_url,
            "REDIS_URL": REDIS_URL,
            "APP_URL": "http://127.0.0.1",
            "LOG_LEVEL": "WARNING",
            # Answers ask for recomputes: they go to a queue of the run's own, dropped after.
            QUEUE_NAME_ENV: queue_name,
        }
        settings = Settings.from_env(env)
        data = asyncio.run(seed(database_url, 3 * (args.requests + args.warmup)))
        try:
            with uvicorn_server("bench.support:ServedApp", env, factory=True) as port:
                timings = asyncio.run(run(port, secret, settings, data, args.requests, args.warmup))
        finally:
            asyncio.run(drop_queue(REDIS_URL, queue_name))

    print(
        "| request | n | server p50 ms | server p95 ms | server p99 ms | client p50 ms "
        "| client p95 ms | target p95 ms | met | max bytes | statuses |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for timing in timings:
        print(timing.line())
    heaviest = max(t.max_bytes for t in timings)
    print(f"page weight: largest body {heaviest:,} bytes (target < {WEIGHT_TARGET_BYTES:,})")
    expected = {200, 201}
    failed = [t.label for t in timings if set(t.statuses) - expected]
    if failed:
        print(f"unexpected statuses in: {', '.join(failed)}", file=sys.stderr)
    met = all(t.ok for t in timings) and heaviest < WEIGHT_TARGET_BYTES and not failed
    return 0 if met else 1
