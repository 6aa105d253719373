"""Prometheus metrics: a small registry and its text exposition (format 0.0.4).

Hand-written rather than a dependency: we need counters, histograms and gauges read at scrape
time, nothing else. Every process keeps its own figures (Prometheus scrapes each one): the web
process serves them at `GET /metrics` (plugin.metrics_route), a worker on `METRICS_PORT`
(workers.metrics_server). What each metric means and when to act: docs/operations.md.

Label values are bounded sets (outcomes, reasons, job names, route templates): never an id, a
shop or a path as sent.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Awaitable, Callable, Iterable, Sequence

LabelValues = tuple[str, ...]


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(names: Sequence[str], values: Sequence[str], extra: str = "") -> str:
    parts = [f'{n}="{_escape(v)}"' for n, v in zip(names, values, strict=True)]
    if extra:
        parts.append(extra)
    return "{" + ",".join(parts) + "}" if parts else ""


def _number(value: float) -> str:
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value)) if not float(value).is_integer() else str(int(value))


class Counter:
    def __init__(self, name: str, help_text: str, labels: Sequence[str] = ()) -> None:
        self.name, self.help, self.label_names = name, help_text, tuple(labels)
        self._values: dict[LabelValues, float] = {}
        self._lock = threading.Lock()

    def inc(self, amount: float = 1.0, **labels: str) -> None:
        key = tuple(labels[n] for n in self.label_names)
        with self._lock:
            self._values[key] = self._values.get(key, 0.0) + amount

    def value(self, **labels: str) -> float:
        return self._values.get(tuple(labels[n] for n in self.label_names), 0.0)

    def render(self) -> list[str]:
        lines = [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} counter"]
        for key, value in sorted(self._values.items()):
            lines.append(f"{self.name}{_labels(self.label_names, key)} {_number(value)}")
        return lines


# Seconds: from a fast webhook job (a few ms) to a large shop's recompute (minutes).
DEFAULT_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)


class Histogram:
    def __init__(
        self,
        name: str,
        help_text: str,
        labels: Sequence[str] = (),
        buckets: Sequence[float] = DEFAULT_BUCKETS,
    ) -> None:
        self.name, self.help, self.label_names = name, help_text, tuple(labels)
        self.buckets = tuple(sorted(buckets))
        self._series: dict[LabelValues, tuple[list[int], list[float]]] = {}
        self._lock = threading.Lock()

    def observe(self, value: float, **labels: str) -> None:
        key = tuple(labels[n] for n in self.label_names)
        with self._lock:
            counts, total = self._series.setdefault(key, ([0] * len(self.buckets), [0.0, 0.0]))
            for i, bound in enumerate(self.buckets):
                if value <= bound:
                    counts[i] += 1
            total[0] += value
            total[1] += 1

    def count(self, **labels: str) -> int:
        series = self._series.get(tuple(labels[n] for n in self.label_names))
        return 0 if series is None else int(series[1][1])

    def render(self) -> list[str]:
        lines = [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} histogram"]
        for key, (counts, (total, n)) in sorted(self._series.items()):
            for bound, count in zip(self.buckets, counts, strict=True):
                le = f'le="{_number(bound)}"'
                lines.append(f"{self.name}_bucket{_labels(self.label_names, key, le)} {count}")
            inf = _labels(self.label_names, key, 'le="+Inf"')
            lines.append(f"{self.name}_bucket{inf} {int(n)}")
            lines.append(f"{self.name}_sum{_labels(self.label_names, key)} {_number(total)}")
            lines.append(f"{self.name}_count{_labels(self.label_names, key)} {int(n)}")
        return lines


GaugeReader = Callable[[], Awaitable[Iterable[tuple[dict[str, str], float]]]]


class Registry:
    """The metrics of one process. Gauges are read when scraped (by an async reader)."""

    def __init__(self) -> None:
        self.metrics: list[Counter | Histogram] = []

    def counter(self, name: str, help_text: str, labels: Sequence[str] = ()) -> Counter:
        metric = Counter(name, help_text, labels)
        self.metrics.append(metric)
        return metric

    def histogram(
        self,
        name: str,
        help_text: str,
        labels: Sequence[str] = (),
        buckets: Sequence[float] = DEFAULT_BUCKETS,
    ) -> Histogram:
        metric = Histogram(name, help_text, labels, buckets)
        self.metrics.append(metric)
        return metric

    def render(self, gauges: Iterable[tuple[str, str, float]] = ()) -> str:
        """The exposition text; `gauges` are (name, help, value) read by the caller."""
        lines: list[str] = []
        for name, help_text, value in gauges:
            lines += [f"# HELP {name} {help_text}", f"# TYPE {name} gauge"]
            lines.append(f"{name} {_number(value)}")
        for metric in self.metrics:
            lines += metric.render()
        return "\n".join(lines) + "\n"


REGISTRY = Registry()

WEBHOOKS_RECEIVED = REGISTRY.counter(
    "valuehealth_webhooks_received_total",
    "Signed webhook deliveries answered 200, by outcome (accepted, duplicate, ignored).",
    ["outcome"],
)
WEBHOOKS_REFUSED = REGISTRY.counter(
    "valuehealth_webhooks_refused_total",
    "Webhook deliveries refused, by reason (missing_signature, invalid_signature, too_large,"
    " malformed, not_storable, database_unavailable).",
    ["reason"],
)
JOBS = REGISTRY.counter(
    "valuehealth_jobs_total",
    "Job runs by job name and outcome (ok; retry: a transient failure, tried again later;"
    " failed: gave up or an error).",
    ["job", "outcome"],
)
JOB_DURATION = REGISTRY.histogram(
    "valuehealth_job_duration_seconds", "Time a job run took, by job name.", ["job"]
)
JOB_WAIT = REGISTRY.histogram(
    "valuehealth_job_wait_seconds",
    "Time from a job being due to it starting, by job name (queueing latency).",
    ["job"],
)
RECOMPUTE_DURATION = REGISTRY.histogram(
    "valuehealth_recompute_duration_seconds",
    "Time to recompute one shop's metrics and scores (load, engine, store).",
)
HTTP_REQUESTS = REGISTRY.histogram(
    "valuehealth_http_request_duration_seconds",
    "HTTP requests by route template, method and status class, with their duration.",
    ["route", "method", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)


def job_finished(job: str, outcome: str, duration_s: float, wait_s: float | None) -> None:
    JOBS.inc(job=job, outcome=outcome)
    JOB_DURATION.observe(duration_s, job=job)
    if wait_s is not None:
        JOB_WAIT.observe(max(wait_s, 0.0), job=job)
