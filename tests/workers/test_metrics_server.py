"""The worker's metrics endpoint: Prometheus text on loopback, 404 for anything else."""

from __future__ import annotations

import httpx

from plugin.metrics import JOBS
from tests.support.served import free_port
from workers.metrics_server import start_metrics_server


async def test_the_worker_serves_its_metrics_on_loopback() -> None:
    JOBS.inc(job="metrics_server_test", outcome="ok")
    port = free_port()
    server = await start_metrics_server(port)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            response = await client.get("/metrics")
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
            assert (
                'valuehealth_jobs_total{job="metrics_server_test",outcome="ok"} ' in response.text
            )
            assert (await client.get("/")).status_code == 404
        assert all(sock.getsockname()[0] == "127.0.0.1" for sock in server.sockets)
    finally:
        server.close()
        await server.wait_closed()
