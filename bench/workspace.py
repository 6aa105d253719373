"""Workspace benchmark: `python -m bench workspace [--subscribers N] [--reads R] [--loads L]`.

1. Builds the recompute benchmark's synthetic shop (`bench.recompute.generate`, N subscribers,
   100k by default) in a PostgreSQL database made for the run and scores it once (the first
   recompute, which also stores the past year's month-end snapshots).
2. Server time: every JSON request each page makes, timed in-process through the ASGI app
   (session token check included, no network), R times each after 5 untimed; p50/p95 per
   request, and per page the slowest request's p95 (the page asks for them in parallel).
   Baseline in the same run: `GET /healthz` through the same app.
3. In the browser (Debian's Chromium, headless, through Playwright): each page served by
   uvicorn on a loopback port with the demo shim, L cold loads (fresh context each) after one
   warm-up; median LCP, worst CLS, bytes transferred (document, assets, API), at 1280×800.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from typing import Any

from bench.recompute import SHOP_DOMAIN, _settings, generate, run_child
from bench.support import machine, servers_missing, temporary_database

CHROMIUM = "/usr/bin/chromium"
PAGES: dict[str, list[str]] = {
    "overview": [
        "/api/admin/overview",
        "/api/admin/subscribers?segment=at_risk_high_value&sort=-value&limit=5&why=1",
        "/api/admin/trends?metric=mrr&period=month",
    ],
    "subscribers": ["/api/admin/overview", "/api/admin/subscribers?limit=50"],
    "subscriber detail": ["/api/admin/overview", "/api/admin/subscribers/{customer}"],
    "retention": ["/api/admin/retention", "/api/admin/overview"],
    "cancellations": ["/api/admin/overview", "/api/admin/history?months=12"],
    "feedback": ["/api/admin/overview", "/api/admin/history?months=12"],
    "settings": ["/api/admin/settings", "/api/admin/privacy/exports"],
}
URLS = {
    "overview": "",
    "subscribers": "/subscribers",
    "subscriber detail": "/subscribers/{customer}",
    "retention": "/retention",
    "cancellations": "/cancellations",
    "feedback": "/feedback",
    "settings": "/settings",
}
WATCH = """
window.__vh = { cls: 0, lcp: 0 };
new PerformanceObserver((l) => { for (const e of l.getEntries()) if (!e.hadRecentInput)
  window.__vh.cls += e.value; }).observe({ type: "layout-shift", buffered: true });
new PerformanceObserver((l) => { const es = l.getEntries();
  window.__vh.lcp = es[es.length - 1].startTime; })
  .observe({ type: "largest-contentful-paint", buffered: true });
"""
SETTLED = """() => { const r = document.querySelector('#vh-root');
  return r && r.children.length && !document.querySelector('[aria-busy="true"]')
    && !document.querySelector('.vh-skeleton'); }"""


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench workspace")
    parser.add_argument("--subscribers", type=int, default=100_000)
    parser.add_argument("--reads", type=int, default=100, help="timed requests per API call")
    parser.add_argument("--loads", type=int, default=5, help="browser loads per page")
    return parser.parse_args(argv)


def _pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def _app(database_url: str) -> tuple[Any, Any]:
    from plugin.app import build_app_runtime, create_app

    runtime = await build_app_runtime(_settings(database_url))
    return runtime, create_app(runtime=runtime, demo_shop=SHOP_DOMAIN)


async def server_times(database_url: str, reads: int) -> tuple[dict[str, Any], str]:
    import httpx

    from plugin.demo_login import mint_demo_session_token

    runtime, app = await _app(database_url)
    timings: dict[str, tuple[float, float]] = {}
    try:
        async with app.router.lifespan_context(app) as state:

            async def with_state(scope: Any, receive: Any, send: Any) -> None:
                await app({**scope, "state": dict(state or {})}, receive, send)

            transport = httpx.ASGITransport(app=with_state)
            async with httpx.AsyncClient(transport=transport, base_url="http://bench") as c:
                token = mint_demo_session_token(runtime.settings, SHOP_DOMAIN)
                auth = {"Authorization": f"Bearer {token}"}
                first = (await c.get("/api/admin/subscribers?limit=1", headers=auth)).json()
                customer = str(first["items"][0]["customer_id"])
                paths = {"/healthz"} | {p for calls in PAGES.values() for p in calls}
                for path in sorted(paths):
                    url = path.replace("{customer}", customer)
                    samples: list[float] = []
                    for i in range(reads + 5):
                        if i % 20 == 0:  # demo tokens live a minute
                            token = mint_demo_session_token(runtime.settings, SHOP_DOMAIN)
                            auth = {"Authorization": f"Bearer {token}"}
                        started = time.perf_counter()
                        response = await c.get(url, headers=auth)
                        elapsed = (time.perf_counter() - started) * 1000
                        assert response.status_code == 200, (url, response.text[:200])
                        if i >= 5:
                            samples.append(elapsed)
                    timings[path] = (statistics.median(samples), _pct(samples, 0.95))
    finally:
        await runtime.close()
    return timings, customer


async def browser_vitals(database_url: str, customer: str, loads: int) -> dict[str, Any]:
    import uvicorn
    from playwright.async_api import async_playwright

    from bench.support import free_port

    runtime, app = await _app(database_url)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    task = asyncio.create_task(server.serve())
    for _ in range(400):  # up to 20 s for uvicorn to start
        if server.started:
            break
        await asyncio.sleep(0.05)
    out: dict[str, Any] = {}
    try:
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(
                executable_path=CHROMIUM, args=["--headless", "--no-sandbox", "--disable-gpu"]
            )
            for name, suffix in URLS.items():
                url = f"http://127.0.0.1:{port}/demo{suffix.replace('{customer}', customer)}"
                rows = []
                for i in range(loads + 1):
                    context = await browser.new_context(viewport={"width": 1280, "height": 800})
                    await context.route("https://cdn.shopify.com/**", lambda r: r.abort())
                    await context.add_init_script(WATCH)
                    page = await context.new_page()
                    await page.goto(url)
                    await page.wait_for_function(SETTLED, timeout=60_000)
                    await page.wait_for_timeout(300)
                    vitals = await page.evaluate("window.__vh")
                    size = await page.evaluate(
                        """() => [...performance.getEntriesByType('navigation'),
                                  ...performance.getEntriesByType('resource')]
                                 .reduce((s, e) => s + (e.transferSize || 0), 0)"""
                    )
                    await context.close()
                    if i:  # the first load warms the server
                        rows.append((vitals["lcp"], vitals["cls"], size))
                out[name] = {
                    "lcp_ms": statistics.median(r[0] for r in rows),
                    "cls": max(r[1] for r in rows),
                    "bytes": max(r[2] for r in rows),
                }
            await browser.close()
    finally:
        server.should_exit = True
        await task
        await runtime.close()
    return out


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    missing = servers_missing(redis=False)
    if missing:
        print(missing, file=sys.stderr)
        return 2
    with temporary_database("vh_bench_workspace") as database_url:
        print(f"generating {args.subscribers:,} subscribers ...", flush=True)
        seconds, _ = asyncio.run(generate(database_url, args.subscribers))
        print(f"  done in {seconds:.1f}s; scoring ...", flush=True)
        scored = run_child(database_url, "first")
        print(f"  scored in {scored['seconds']['total']:.1f}s; timing API reads ...", flush=True)
        timings, customer = asyncio.run(server_times(database_url, args.reads))
        print("  loading pages in Chromium ...", flush=True)
        vitals = asyncio.run(browser_vitals(database_url, customer, args.loads))
    print(f"\n{machine()}")
    print(
        f"shop: {args.subscribers:,} subscribers; {args.reads} timed reads per request; "
        f"{args.loads} browser loads per page (median LCP, worst CLS, largest bytes)\n"
    )
    base = timings["/healthz"][1]
    print(f"baseline GET /healthz p95 {base:.1f} ms")
    print("| page | slowest API p95 ms (× healthz) | LCP ms | CLS | bytes |")
    print("|---|---|---|---|---|")
    for name, calls in PAGES.items():
        slowest = max(timings[c][1] for c in calls)
        v = vitals[name]
        print(
            f"| {name} | {slowest:.1f} ({slowest / base:.0f}×) | {v['lcp_ms']:.0f} | "
            f"{v['cls']:.3f} | {v['bytes']:,} |"
        )
    print("\nper request (p50 / p95 ms):")
    for path, (p50, p95) in sorted(timings.items()):
        print(f"  {path}: {p50:.1f} / {p95:.1f}")
    print(json.dumps({"timings": timings, "vitals": vitals}), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
