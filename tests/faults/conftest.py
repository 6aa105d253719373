"""Fixtures of the fault and soak tests: our own PostgreSQL cluster for the module, and per
test a fresh database with its own redis-server, `valuehealth serve` and worker."""

from __future__ import annotations

import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

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
from tests.support.served import free_port, wait_healthy


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
    """A fresh database and redis-server, `webs` web processes and `workers` worker processes
    on them (one of each by default); `web`, `worker` and `url` name the first. Whatever was
    started is stopped again if the stack fails to come up."""

    def __init__(
        self,
        cluster: PostgresCluster,
        root: Path,
        *,
        webs: int = 1,
        workers: int = 1,
        restart_workers: bool = True,
        env: dict[str, str] | None = None,
    ) -> None:
        self.cluster = cluster
        self.root = root
        self.database_url = cluster.create_database(f"faults_{uuid.uuid4().hex[:8]}")
        upgrade_head(self.database_url)
        self.redis = RedisServer(root)
        self.webs: list[Process] = []
        self.workers: list[Process] = []
        self.urls: list[str] = []
        try:
            self.redis.start()
            self.env = env_for(self.database_url, self.redis.url, **(env or {}))
            for i in range(webs):
                port = free_port()
                name = "web.log" if webs == 1 else f"web-{i}.log"
                self.webs.append(Process(web_command(port), self.env, root / name))
                self.urls.append(f"http://127.0.0.1:{port}")
            for i in range(workers):
                name = "worker.log" if workers == 1 else f"worker-{i}.log"
                self.workers.append(
                    Process(
                        worker_command(),
                        self.env,
                        root / name,
                        restart_on_exit=restart_workers,
                    )
                )
            for process in (*self.webs, *self.workers):
                process.start()
            for web, url in zip(self.webs, self.urls, strict=True):
                wait_healthy(url, web.process, web.output)
        except BaseException:
            self.close()
            raise
        self.web, self.worker, self.url = self.webs[0], self.workers[0], self.urls[0]

    def close(self) -> None:
        for process in (*self.webs, *self.workers):
            process.close()
        self.redis.stop()


@pytest.fixture
def stack(cluster: PostgresCluster, tmp_path: Path) -> Iterator[Stack]:
    s = Stack(cluster, tmp_path)
    try:
        yield s
    finally:
        s.close()
