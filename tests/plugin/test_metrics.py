"""`GET /metrics`: Prometheus text format, behind a bearer token (404 when none is set), with
webhooks received and refused by reason, jobs run and failed with their latency, the inbox
backlog, recompute durations and request durations by route template."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import httpx
import pytest

from plugin.app import build_app_runtime, create_app
from plugin.metrics import Registry
from plugin.queue import InProcessQueue
from plugin.runtime import Runtime
from tests.conftest import empty_tables, make_settings
from tests.support import payloads
from tests.support.asgi import asgi_client
from tests.support.signing import signed_webhook

TOKEN = "metrics-token-for-tests-0123456789"
# name{labels} value: the exposition format's sample line.
SAMPLE = re.compile(
    r'^[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_]+="([^"\\]|\\.)*",?)*\})? -?[0-9.e+Inf-]+$'
)


@pytest.fixture
def db_url(pg_url: str) -> str:
    return pg_url


@pytest.fixture
async def metrics_runtime(db_url: str) -> AsyncIterator[Runtime]:
    rt = await build_app_runtime(make_settings(db_url, METRICS_TOKEN=TOKEN))
    try:
        yield rt
    finally:
        await empty_tables(rt)
        await rt.close()


def samples(text: str) -> dict[str, float]:
    out: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("#") or not line:
            continue
        assert SAMPLE.match(line), line
        name, value = line.rsplit(" ", 1)
        out[name] = float(value)
    return out


async def scrape(client: httpx.AsyncClient) -> dict[str, float]:
    response = await client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    return samples(response.text)


async def test_metrics_are_404_without_a_token_setting(client: httpx.AsyncClient) -> None:
    assert (await client.get("/metrics")).status_code == 404


async def test_metrics_need_the_token(metrics_runtime: Runtime) -> None:
    async with asgi_client(create_app(runtime=metrics_runtime)) as client:
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}):
            assert (await client.get("/metrics", headers=headers)).status_code == 401


async def test_metrics_count_what_happened(metrics_runtime: Runtime) -> None:
    rt = metrics_runtime
    async with asgi_client(create_app(runtime=rt)) as client:
        before = await scrape(client)
        body, headers = signed_webhook("subscription_contracts/create", payloads.contract(770_001))
        assert (await client.post("/webhooks", content=body, headers=headers)).status_code == 200
        assert (await client.post("/webhooks", content=body, headers=headers)).status_code == 200
        assert (await client.post("/webhooks", content=b"{}")).status_code == 401
        bad = {**headers, "X-Shopify-Hmac-Sha256": "AAAA"}
        assert (await client.post("/webhooks", content=body, headers=bad)).status_code == 401
        assert isinstance(rt.queue, InProcessQueue)
        await rt.queue.drain()  # the event, then the shop's debounced recompute
        after = await scrape(client)

    def grew(name: str) -> float:
        return after.get(name, 0.0) - before.get(name, 0.0)

    assert grew('valuehealth_webhooks_received_total{outcome="accepted"}') == 1
    assert grew('valuehealth_webhooks_received_total{outcome="duplicate"}') == 1
    assert grew('valuehealth_webhooks_refused_total{reason="missing_signature"}') == 1
    assert grew('valuehealth_webhooks_refused_total{reason="invalid_signature"}') == 1
    assert grew('valuehealth_jobs_total{job="process_inbox",outcome="ok"}') == 1
    assert grew('valuehealth_job_duration_seconds_count{job="process_inbox"}') == 1
    assert grew('valuehealth_job_wait_seconds_count{job="process_inbox"}') == 1
    assert grew("valuehealth_recompute_duration_seconds_count") == 1
    assert after["valuehealth_database_up"] == 1
    assert after["valuehealth_inbox_backlog_rows"] == 0
    assert after["valuehealth_inbox_backlog_oldest_age_seconds"] == 0
    assert (
        grew(
            'valuehealth_http_request_duration_seconds_count{route="/webhooks",'
            'method="POST",status="200"}'
        )
        == 2
    )


def test_histogram_buckets_are_cumulative_and_labels_escaped() -> None:
    registry = Registry()
    hist = registry.histogram("h_seconds", "a histogram", ["job"], buckets=(0.1, 1.0))
    for value in (0.05, 0.5, 5.0):
        hist.observe(value, job='a"b')
    counter = registry.counter("c_total", "a counter", ["reason"])
    counter.inc(reason="x\ny")
    text = registry.render([("g", "a gauge", 2.5)])
    found = samples(text)
    assert found['h_seconds_bucket{job="a\\"b",le="0.1"}'] == 1
    assert found['h_seconds_bucket{job="a\\"b",le="1"}'] == 2
    assert found['h_seconds_bucket{job="a\\"b",le="+Inf"}'] == 3
    assert found['h_seconds_sum{job="a\\"b"}'] == 5.55
    assert found['c_total{reason="x\\ny"}'] == 1
    assert found["g"] == 2.5
    assert "# TYPE h_seconds histogram" in text and "# TYPE g gauge" in text
