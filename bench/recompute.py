"""Recompute benchmark: `python -m bench recompute [--subscribers N] [--reads R] [--database D]`.

1. Generates a synthetic shop in a PostgreSQL database made for the run, with generate_series
   SQL inside the server (not the webhook path): N subscribers over two years, sBG-like
   lifetimes (monthly, bi-monthly and fortnightly plans), renewals with failed attempts,
   skips and pauses, cancellations with reasons, NPS invitations and answers, orders with
   fulfilment and delivery times; about 20 event rows per subscriber (2 million at 100k).
2. Times a full recompute (load + engine + store) in a fresh process, three times: the first
   run also fills in the last 12 month-end snapshots (one extra engine run each) and writes
   every score row; the second is the steady state every debounced request pays (same day,
   nothing changed: no score row to write); the third is the next day's (the as-of day moves,
   and with it most subscribers' figures). Peak memory is the process's ru_maxrss (resident
   high-water mark) read at the end, with the baseline after imports.
3. In the same run, times a plain SQL aggregate over the same event tables (one scan of each,
   count/min/max) as the floor, and prints the ratio (target: at most 5x).
4. Times admin API reads of the stored results in-process (session token verification
   included): overview, the first subscribers page, a page deep in the list (cursor), one
   subscriber's detail, a monthly trend; p50/p95 over `--reads` requests each.

`--database NAME` keeps the generated shop in that database (made and generated when it does
not exist, reused when it does, never dropped): a 1M-subscriber shop takes many minutes to
generate.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from bench.support import PG_ADMIN_URL, REPO, machine, servers_missing, temporary_database
from plugin.db.migrate import upgrade_head

SHOP_DOMAIN = "bench-recompute.myshopify.com"
TARGET_RATIO = 5.0  # steady-state recompute / SQL floor, at 100k subscribers
TARGET_SECONDS_1M = 30.0
TARGET_MEMORY_MB = 1024.0
TARGET_READ_P95_MS = 100.0
# Generated history ends here so every run builds the same shop (as-of day 2026-06-30).
NOW = datetime(2026, 6, 30, 18, 0, tzinfo=UTC)
EVENT_TABLES = (
    ("billing_attempts", "occurred_at"),
    ("orders", "created_at_shop"),
    ("contract_status_events", "occurred_at"),
    ("contract_changes", "occurred_at"),
    ("nps_invitations", "send_at"),
    ("nps_responses", "answered_at"),
    ("cancellations", "cancelled_at"),
)
REASONS = (
    "too_expensive",
    "too_much_product",
    "deliveries_too_often",
    "product_not_liked",
    "no_longer_needed",
    "taking_a_break",
    "budget",
    "switching_brand",
)

# Each statement runs once, in order, with :n (subscribers) and :now bound. One contract per
# subscriber; plan and fate are drawn into a temporary table first so every table agrees.
GENERATE = [
    "SET max_parallel_workers_per_gather = 0",  # one backend: random() stays reproducible
    "SELECT setseed(0.42)",
    """INSERT INTO shops (id, domain, installed_at, scopes, timezone, currency, locale, settings,
                          created_at, updated_at)
       VALUES (1, :domain, :now - interval '800 days', '', 'America/New_York', 'USD', 'en',
               '{"value": {"margin": 0.6}}', :now, :now)""",
    """CREATE TEMP TABLE fate AS
       SELECT g AS sid,
              :now - (random() * 730) * interval '1 day' AS started_at,
              0.015 + 0.12 * power(random(), 2) AS theta,
              random() AS u_life, random() AS u_end, random() AS u_cur, random() AS u_plan,
              random() AS u_cur2
       FROM generate_series(1, :n) AS g""",
    """ALTER TABLE fate ADD COLUMN period_days float8, ADD COLUMN interval text,
                      ADD COLUMN interval_count int, ADD COLUMN price numeric(14, 2),
                      ADD COLUMN plan text, ADD COLUMN currency text,
                      ADD COLUMN lifetime int, ADD COLUMN renewals int,
                      ADD COLUMN end_at timestamptz, ADD COLUMN status text,
                      ADD COLUMN status_at timestamptz""",
    """UPDATE fate SET
         period_days = CASE WHEN u_plan < 0.75 THEN 30.4375 WHEN u_plan < 0.95 THEN 60.875
                            ELSE 14 END,
         interval = CASE WHEN u_plan < 0.95 THEN 'month' ELSE 'week' END,
         interval_count = CASE WHEN u_plan < 0.75 THEN 1 ELSE 2 END,
         price = CASE WHEN u_plan < 0.75 THEN 24 WHEN u_plan < 0.95 THEN 46 ELSE 12 END,
         plan = CASE WHEN u_plan < 0.75 THEN 'Monthly' WHEN u_plan < 0.95 THEN 'Bi-monthly'
                     ELSE 'Fortnightly' END,
         currency = CASE WHEN u_cur2 < 0.9 THEN 'USD' ELSE 'EUR' END,
         lifetime = 1 + floor(ln(greatest(u_life, 1e-12)) / ln(1 - theta))::int""",
    """UPDATE fate SET end_at = started_at + lifetime * period_days * interval '1 day'""",
    """UPDATE fate SET
         renewals = CASE WHEN end_at <= :now THEN lifetime - 1
                         ELSE floor(extract(epoch FROM :now - started_at)
                                    / (period_days * 86400))::int END,
         status = CASE WHEN end_at <= :now THEN
                         CASE WHEN u_end < 0.7 THEN 'cancelled' WHEN u_end < 0.9 THEN 'failed'
                              ELSE 'expired' END
                       WHEN u_cur < 0.05 THEN 'paused' ELSE 'active' END""",
    """UPDATE fate SET status_at = CASE
         WHEN status IN ('cancelled', 'failed', 'expired') THEN end_at
         WHEN status = 'paused' THEN greatest(started_at, :now - u_cur * 600 * interval '1 day')
         ELSE started_at END""",
    """INSERT INTO subscribers (id, shop_id, customer_id, email, first_seen_at)
       SELECT sid, 1, 7000000000 + sid, 'subscriber' || sid || '@example.com', started_at
       FROM fate""",
    """INSERT INTO contracts (id, shop_id, contract_id, subscriber_id, status, status_at,
                              revision_id, started_at, ended_at, currency, billing_interval,
                              billing_interval_count, delivery_interval,
                              delivery_interval_count, recurring_amount, plan_name,
                              created_at, updated_at)
       SELECT sid, 1, 8000000000 + sid, sid, status, status_at, 1, started_at,
              CASE WHEN status IN ('cancelled', 'failed', 'expired') THEN end_at END,
              currency, interval, interval_count, interval, interval_count, price, plan,
              started_at, status_at
       FROM fate""",
    """INSERT INTO contract_status_events (shop_id, contract_pk, status, occurred_at,
                                           revision_id, topic)
       SELECT 1, sid, 'active', started_at, 1, 'subscription_contracts/create' FROM fate
       UNION ALL
       SELECT 1, sid, status, status_at, 2, 'subscription_contracts/update' FROM fate
       WHERE status <> 'active'""",
    # One attempt per renewal (succeeded), 7 % preceded by a failed try two days earlier, and
    # the failed contracts' last failed tries before they lapsed.
    """CREATE TEMP TABLE renewal AS
       SELECT f.sid, k, f.started_at + k * f.period_days * interval '1 day' AS at,
              f.price, f.currency, random() AS u
       FROM fate f, generate_series(1, f.renewals) AS k""",
    """INSERT INTO billing_attempts (shop_id, attempt_id, attempt_key, contract_pk, status,
                                     order_id, occurred_at)
       SELECT 1, 100000000000 + row_number() OVER (),
              'id:' || (100000000000 + row_number() OVER ()), sid, 'success',
              200000000000 + row_number() OVER (), at
       FROM renewal""",
    """INSERT INTO billing_attempts (shop_id, attempt_id, attempt_key, contract_pk, status,
                                     error_code, occurred_at)
       SELECT 1, 300000000000 + row_number() OVER (),
              'id:' || (300000000000 + row_number() OVER ()), sid, 'failure',
              'insufficient_funds', at - interval '2 days'
       FROM renewal WHERE u < 0.07
       UNION ALL
       SELECT 1, 400000000000 + sid, 'id:' || (400000000000 + sid), sid, 'failure',
              'card_declined', end_at - interval '3 days'
       FROM fate WHERE status = 'failed'""",
    """INSERT INTO orders (shop_id, order_id, contract_pk, subscriber_id, created_at_shop, total,
                           currency, fulfilled_at, delivered_at)
       SELECT 1, 200000000000 + row_number() OVER (), sid, sid, at, price, currency,
              at + interval '1 day',
              CASE WHEN u < 0.9 THEN at + (2 + 4 * u) * interval '1 day' END
       FROM renewal""",
    # A skip every seventh renewal or so, by the subscriber (portal) or the merchant.
    """INSERT INTO contract_changes (shop_id, contract_pk, kind, source, occurred_at)
       SELECT 1, sid, 'skip', CASE WHEN u < 0.1 THEN 'merchant' ELSE 'subscriber' END,
              at - interval '5 days'
       FROM renewal WHERE u > 0.85
       UNION ALL
       SELECT 1, sid, 'pause', 'subscriber', status_at FROM fate WHERE status = 'paused'""",
    # NPS after every third delivery; 40 % answer, scores skewed towards the top.
    """CREATE TEMP TABLE invite AS
       SELECT 500000000000 + row_number() OVER () AS order_id, sid,
              at + interval '5 days' AS sent_at, random() AS u, random() AS s, random() AS v
       FROM renewal WHERE k % 3 = 0 AND at + interval '5 days' < :now""",
    """INSERT INTO nps_invitations (shop_id, subscriber_id, contract_pk, order_id, trigger,
                                    status, send_at, sent_at, expires_at, created_at)
       SELECT 1, sid, sid, order_id, 'delivered',
              CASE WHEN u < 0.4 THEN 'answered' ELSE 'expired' END,
              sent_at, sent_at, sent_at + interval '14 days', sent_at
       FROM invite""",
    """INSERT INTO nps_responses (shop_id, invitation_id, subscriber_id, score, value_for_money,
                                  channel, answered_at, updated_at, editable_until)
       SELECT 1, i.id, v.sid, least(10, floor(11 * power(v.s, 0.45)))::int,
              CASE WHEN v.v < 0.7 THEN 1 + floor(5 * v.v / 0.7)::int END,
              'proxy', v.sent_at + interval '1 day', v.sent_at + interval '1 day',
              v.sent_at + interval '2 days'
       FROM invite v JOIN nps_invitations i ON i.shop_id = 1 AND i.order_id = v.order_id
       WHERE v.u < 0.4""",
    """INSERT INTO cancellations (shop_id, contract_pk, subscriber_id, cancelled_at, end_status,
                                  reason_code, reason_source)
       SELECT 1, sid, sid, end_at, status,
              CASE WHEN status = 'failed' THEN 'payment_failed'
                   WHEN status = 'expired' THEN 'expired'
                   WHEN u_cur < 0.55 THEN (:reasons)[1 + floor(u_cur2 * 8)::int]
                   ELSE 'unknown' END,
              CASE WHEN status = 'cancelled' AND u_cur < 0.55 THEN 'customer'
                   ELSE 'system' END
       FROM fate WHERE status IN ('cancelled', 'failed', 'expired')""",
    "SELECT setval('subscribers_id_seq', :n)",
    "SELECT setval('contracts_id_seq', :n)",
    "ANALYZE",
]


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench recompute")
    parser.add_argument("--subscribers", type=int, default=100_000)
    parser.add_argument("--reads", type=int, default=300, help="requests per API endpoint")
    parser.add_argument("--database", help="keep the generated shop in this database (reused)")
    parser.add_argument(
        "--child", nargs=2, metavar=("DATABASE_URL", "LABEL"), help=argparse.SUPPRESS
    )
    return parser.parse_args(argv)


def _settings(database_url: str) -> Any:
    from plugin.settings import Settings

    return Settings.from_env(
        {
            "SHOPIFY_API_KEY": "bench-api-key",
            "SHOPIFY_API_SECRET": "bench-api-secret-for-session-tokens",
            "TOKEN_ENCRYPTION_KEY": "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
            "DATABASE_URL": database_url,
            "LOG_LEVEL": "WARNING",
        }
    )


async def generate(database_url: str, n: int) -> tuple[float, dict[str, int]]:
    """Build the synthetic shop with server-side SQL; (seconds, rows per event table)."""
    import asyncpg

    dsn = database_url.replace("postgresql+asyncpg://", "postgresql://")
    conn = await asyncpg.connect(dsn)
    started = time.perf_counter()
    try:
        for statement in GENERATE:
            await conn.execute(_literal(statement, n))
        counts = {
            table: int(await conn.fetchval(f"SELECT count(*) FROM {table}"))  # noqa: S608
            for table, _ in EVENT_TABLES
        }
    finally:
        await conn.close()
    return time.perf_counter() - started, counts


def _literal(statement: str, n: int) -> str:
    """Fill in the :names used above as SQL literals (constants of this module: CREATE TABLE
    AS takes no bind parameters)."""
    reasons = ", ".join(f"'{r}'" for r in REASONS)
    values = {
        ":reasons": f"ARRAY[{reasons}]",
        ":domain": f"'{SHOP_DOMAIN}'",
        ":now": f"'{NOW.isoformat()}'::timestamptz",
        ":n": str(int(n)),
    }
    for name, value in values.items():  # ":now" before ":n"
        statement = statement.replace(name, value)
    return statement


async def floor_query(database_url: str) -> float:
    """One plain aggregate scan of each event table the recompute reads."""
    import asyncpg

    dsn = database_url.replace("postgresql+asyncpg://", "postgresql://")
    conn = await asyncpg.connect(dsn)
    try:
        await conn.fetchval("SELECT count(*) FROM billing_attempts")  # warm the cache alike
        started = time.perf_counter()
        for table, column in EVENT_TABLES:
            await conn.fetchrow(
                f"SELECT count(*), min({column}), max({column}) FROM {table} "  # noqa: S608
                "WHERE shop_id = 1"
            )
        return time.perf_counter() - started
    finally:
        await conn.close()


async def _child(database_url: str, label: str) -> dict[str, Any]:
    from plugin.runtime import build_runtime
    from plugin.scoring.recompute import BACKFILL_MONTHS, BACKFILL_PER_RUN, recompute_shop_now

    runtime = await build_runtime(_settings(database_url))
    try:
        baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        # The first run fills in the whole past year, as `valuehealth score` does.
        backfill = BACKFILL_MONTHS if label == "first" else BACKFILL_PER_RUN
        # "next day": the as-of day moves, so do most subscribers' figures (tenure, risk).
        now = NOW + timedelta(days=1) if label == "next day" else NOW
        outcome = await recompute_shop_now(runtime, 1, now=now, backfill=backfill)
        assert outcome is not None and outcome.stored
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    finally:
        await runtime.close()
    risk_model = outcome.overview["risk_model"]
    return {
        "seconds": outcome.seconds,
        "subscribers": outcome.subscribers,
        "months": list(outcome.months),
        "peak_mb": peak / 1024,
        "scores_written": outcome.scores.written if outcome.scores else None,
        "baseline_mb": baseline / 1024,
        "active": outcome.overview["subscribers"]["active"],
        "risk_method": risk_model["method"] if risk_model else None,
        "auc": risk_model["auc"] if risk_model else None,
    }


def run_child(database_url: str, label: str) -> dict[str, Any]:
    """A recompute in a fresh process, so its peak memory is its own."""
    command = [sys.executable, "-m", "bench.recompute", "--child", database_url, label]
    out = subprocess.run(command, cwd=REPO, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"recompute ({label}) failed:\n{out.stderr[-4000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def _pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def api_reads(database_url: str, reads: int) -> dict[str, tuple[float, float]]:
    """p50/p95 milliseconds of admin API reads, in-process (token check included)."""
    import random

    import httpx
    from sqlalchemy import func, select

    from plugin.app import build_app_runtime, create_app
    from plugin.demo_login import mint_demo_session_token
    from plugin.models import SubscriberScore
    from plugin.scoring.reads import Cursor

    settings = _settings(database_url)
    runtime = await build_app_runtime(settings)
    rng = random.Random(3)
    try:
        n_subs = await _count_subscribers(runtime)
        async with runtime.sessionmaker() as session:
            scored = SubscriberScore.value_score.is_not(None)
            n_scored = await session.scalar(
                select(func.count()).where(SubscriberScore.shop_id == 1, scored)
            )
            offset = min(20_000, int(n_scored or 0) // 2)
            middle = (
                await session.execute(
                    select(SubscriberScore.value_score, SubscriberScore.subscriber_id)
                    .where(SubscriberScore.shop_id == 1, scored)
                    .order_by(
                        SubscriberScore.value_score.desc(), SubscriberScore.subscriber_id.desc()
                    )
                    .offset(offset)
                    .limit(1)
                )
            ).one()
        deep_page = offset // 50 + 2
        deep = Cursor("-value", None, True, middle[0], middle[1]).encode()
        endpoints = {
            "overview": lambda: "/api/admin/overview",
            "subscribers (first page)": lambda: "/api/admin/subscribers?limit=50",
            f"subscribers (page {deep_page}, cursor)": lambda: (
                f"/api/admin/subscribers?limit=50&cursor={deep}"
            ),
            "subscriber detail": lambda: (
                f"/api/admin/subscribers/{7000000000 + rng.randint(1, n_subs)}"
            ),
            "trends (monthly MRR)": lambda: "/api/admin/trends?metric=mrr&period=month",
        }
        results: dict[str, tuple[float, float]] = {}
        app = create_app(runtime=runtime)
        async with app.router.lifespan_context(app) as state:

            async def with_state(scope: Any, receive: Any, send: Any) -> None:
                # What a server does with lifespan state: a copy into every request scope.
                await app({**scope, "state": dict(state or {})}, receive, send)

            client = httpx.AsyncClient(
                transport=httpx.ASGITransport(app=with_state), base_url="http://bench"
            )
            for label, url in endpoints.items():
                samples = []
                for i in range(reads + 20):
                    token = mint_demo_session_token(settings, SHOP_DOMAIN)
                    started = time.perf_counter()
                    response: httpx.Response = await client.get(
                        url(), headers={"Authorization": f"Bearer {token}"}
                    )
                    elapsed = time.perf_counter() - started
                    if response.status_code != 200:
                        raise RuntimeError(f"{label}: HTTP {response.status_code} {response.text}")
                    if i >= 20:  # warm-up excluded
                        samples.append(elapsed * 1000)
                results[label] = (statistics.median(samples), _pct(samples, 0.95))
            await client.aclose()
    finally:
        await runtime.close()
    return results


async def _count_subscribers(runtime: Any) -> int:
    from sqlalchemy import func, select

    from plugin.models import Subscriber

    async with runtime.sessionmaker() as session:
        return int(await session.scalar(select(func.count()).where(Subscriber.shop_id == 1)) or 0)


def report(
    n: int,
    generated: tuple[float, dict[str, int]],
    cold: dict[str, Any],
    warm: dict[str, Any],
    next_day: dict[str, Any],
    floor_s: float,
    reads: dict[str, tuple[float, float]],
) -> bool:
    seconds, counts = generated
    events = sum(counts.values())
    print(f"machine: {machine()}")
    print(f"date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; load average {os.getloadavg()[0]:.2f}")
    print(f"synthetic shop: {n:,} subscribers, {events:,} event rows generated in {seconds:.1f}s")
    for table, count in counts.items():
        print(f"  {table:<24} {count:>12,}")
    ok = True
    runs = (
        ("first recompute (+ month-ends of the past year)", cold),
        ("recompute", warm),
        ("next day's recompute (not a target)", next_day),
    )
    for label, run in runs:
        s = run["seconds"]
        print(
            f"{label}: {s['total']:.2f}s (load {s['load']:.2f}s, engine {s['engine']:.2f}s, "
            f"store {s['store']:.2f}s); score rows written {run['scores_written']:,}; "
            f"peak RSS {run['peak_mb']:.0f} MB (after imports {run['baseline_mb']:.0f} MB); "
            f"months filled: {len(run['months'])}"
        )
    s = warm["seconds"]
    ratio = s["total"] / floor_s
    print(f"SQL floor (aggregate scan of the event tables): {floor_s:.2f}s")
    print(
        f"ratio recompute / floor: {ratio:.1f}x (load {s['load'] / floor_s:.1f}x, "
        f"engine {s['engine'] / floor_s:.1f}x, store {s['store'] / floor_s:.1f}x)"
    )
    print(
        f"scored: {warm['subscribers']:,} subscribers, {warm['active']:,} active; "
        f"churn risk by {warm['risk_method']}"
        + (f" (holdout AUC {warm['auc']:.3f})" if warm["auc"] is not None else "")
    )
    if n <= 100_000 and ratio > TARGET_RATIO:
        print(f"  ! recompute above {TARGET_RATIO:.0f}x its SQL floor")
        ok = False
    if n >= 1_000_000 and s["total"] > TARGET_SECONDS_1M:
        print(f"  ! recompute above {TARGET_SECONDS_1M:.0f}s at 1M subscribers")
        ok = False
    if n <= 100_000 and warm["peak_mb"] > TARGET_MEMORY_MB:
        print(f"  ! peak memory above {TARGET_MEMORY_MB:.0f} MB at 100k subscribers")
        ok = False
    print("admin API reads (in-process, ms):           p50      p95")
    for label, (p50, p95) in reads.items():
        flag = "" if p95 < TARGET_READ_P95_MS else "  ! above target"
        print(f"  {label:<36} {p50:>8.1f} {p95:>8.1f}{flag}")
        ok = ok and p95 < TARGET_READ_P95_MS
    return ok


@contextlib.contextmanager
def _database(name: str | None) -> Iterator[tuple[str, bool]]:
    """(SQLAlchemy URL, whether the shop must be generated): a throwaway database, or the
    named one, made and migrated when missing and kept afterwards."""
    if name is None:
        with temporary_database("vh_bench_recompute") as url:
            yield url, True
        return
    if not re.fullmatch(r"[a-z_][a-z0-9_]*", name):
        raise ValueError("--database: lower-case letters, digits and underscores")
    url = PG_ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://")
    url = f"{url}/{name}"
    fresh = asyncio.run(_create_if_missing(name))
    upgrade_head(url)
    yield url, fresh or not asyncio.run(_counts(url)).get("billing_attempts")


async def _create_if_missing(name: str) -> bool:
    import asyncpg

    conn = await asyncpg.connect(PG_ADMIN_URL)
    try:
        if await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
            return False
        await conn.execute(f'CREATE DATABASE "{name}"')
        return True
    finally:
        await conn.close()


async def _counts(database_url: str) -> dict[str, int]:
    import asyncpg

    conn = await asyncpg.connect(database_url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        return {
            table: int(await conn.fetchval(f"SELECT count(*) FROM {table}"))  # noqa: S608
            for table, _ in EVENT_TABLES
        }
    finally:
        await conn.close()


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    if args.child:
        database_url, label = args.child
        print(json.dumps(asyncio.run(_child(database_url, label))))
        return 0
    missing = servers_missing(redis=False)
    if missing:
        print(missing, file=sys.stderr)
        return 2
    os.environ.setdefault("PYTHONPATH", str(REPO))
    with _database(args.database) as (database_url, fresh):
        if fresh:
            print(f"generating {args.subscribers:,} subscribers ...", flush=True)
            generated = asyncio.run(generate(database_url, args.subscribers))
            print(f"  done in {generated[0]:.1f}s", flush=True)
        else:
            generated = (float("nan"), asyncio.run(_counts(database_url)))
            print(f"reusing the shop in {args.database}", flush=True)
        print("recomputing (first run) ...", flush=True)
        cold = run_child(database_url, "first")
        print(f"  {cold['seconds']['total']:.1f}s; recomputing (steady state) ...", flush=True)
        warm = run_child(database_url, "steady")
        next_day = run_child(database_url, "next day")
        floor_s = asyncio.run(floor_query(database_url))
        reads = asyncio.run(api_reads(database_url, args.reads))
    ok = report(args.subscribers, generated, cold, warm, next_day, floor_s, reads)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
