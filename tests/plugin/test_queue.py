"""The retry runner (`plugin.queue.run_try`) counts every try once, with its outcome, and runs it
under the correlation id of the request that queued the job; the in-process queue goes through
it as the Arq worker does."""

from __future__ import annotations

from typing import Any

from plugin import correlation
from plugin.metrics import JOB_DURATION, JOB_WAIT, JOBS
from plugin.queue import InProcessQueue, JobSpec, RetryPolicy, TransientError

_QUICK = RetryPolicy(max_tries=3, base_delay=0.001, max_delay=0.001)


async def test_a_job_that_succeeds_on_its_third_try_counts_two_retries_and_one_success() -> None:
    seen: list[str | None] = []

    async def flaky(_ctx: dict[str, Any], _shop_id: int) -> None:
        seen.append(correlation.current())
        if len(seen) < 3:
            raise TransientError("not yet")

    job = "test_queue_flaky"
    queue = InProcessQueue({job: flaky}, specs={job: JobSpec(job, retry=_QUICK)})
    with correlation.bound("request-0001"):
        assert await queue.enqueue(job, 1)
    await queue.drain()

    assert seen == ["request-0001"] * 3
    assert JOBS.value(job=job, outcome="retry") == 2
    assert JOBS.value(job=job, outcome="ok") == 1
    assert JOBS.value(job=job, outcome="failed") == 0
    assert JOB_DURATION.count(job=job) == 3
    assert JOB_WAIT.count(job=job) == 3
    assert queue.failures == []


async def test_a_job_out_of_tries_counts_as_failed_once_and_is_kept_as_a_failure() -> None:
    seen: list[str | None] = []

    async def down(_ctx: dict[str, Any]) -> None:
        seen.append(correlation.current())
        raise TransientError("still down")

    job = "test_queue_down"
    queue = InProcessQueue({job: down}, specs={job: JobSpec(job, retry=_QUICK)})
    await queue.enqueue(job)
    await queue.drain()

    # Queued outside any request: one new id, the same for every try.
    assert len(seen) == 3 and len(set(seen)) == 1 and seen[0] is not None
    assert JOBS.value(job=job, outcome="retry") == 2
    assert JOBS.value(job=job, outcome="failed") == 1
    assert JOBS.value(job=job, outcome="ok") == 0
    assert [(name, args) for name, args, _ in queue.failures] == [(job, ())]


async def test_a_job_that_breaks_fails_at_once_without_retries() -> None:
    async def broken(_ctx: dict[str, Any]) -> None:
        raise ValueError("a bug, not a blip")

    job = "test_queue_broken"
    queue = InProcessQueue({job: broken}, specs={job: JobSpec(job, retry=_QUICK)})
    await queue.enqueue(job)
    await queue.drain()

    assert JOBS.value(job=job, outcome="failed") == 1
    assert JOBS.value(job=job, outcome="retry") == 0
    assert len(queue.failures) == 1
