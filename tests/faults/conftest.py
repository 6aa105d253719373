"""Fixtures of the fault and soak tests: our own PostgreSQL cluster for the module, and per
test a fresh database with its own redis-server, `valuehealth serve` and worker."""

from __future__ import annotations

import shutil
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from plugin.db.migrate import upgrade_head
from tests.faults.harness import (
    PostgresCluster,
    Process,
    RedisServer,
    env_for,
    web_command,
    worker_command,
)
from tests.support.served import free_port


@pytest.fixture(scope="module")
def cluster() -> Iterator[PostgresCluster]:
    # Not under pytest's temporary directory: that is private to root, and the server runs as
    # the postgres user.
    root = Path(tempfile.mkdtemp(prefix="vh-faults-pg-"))
    pg = PostgresCluster(root)
    pg.start()
    try:
        yield pg
    finally:
        pg.stop()
        shutil.rmtree(root, ignore_errors=True)


class Stack:
    def __init__(self, cluster: PostgresCluster, root: Path) -> None:
        self.cluster = cluster
        self.database_url = cluster.create_database(f"faults_{uuid.uuid4().hex[:8]}")
        upgrade_head(self.database_url)
        self.redis = RedisServer(root)
        self.redis.start()
        env = env_for(self.database_url, self.redis.url)
        self.port = free_port()
        self.web = Process(web_command(self.port), env, root / "web.log")
        self.worker = Process(worker_command(), env, root / "worker.log", restart_on_exit=True)
        self.web.start()
        self.worker.start()
        self.url = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(self.web.output())
            time.sleep(0.1)

    def close(self) -> None:
        self.web.close()
        self.worker.close()
        self.redis.stop()


@pytest.fixture
def stack(cluster: PostgresCluster, tmp_path: Path) -> Iterator[Stack]:
    s = Stack(cluster, tmp_path)
    try:
        yield s
    finally:
        s.close()
