"""Prometheus metrics of one ``kleansync serve`` process (``GET /metrics``).

Every service instance has its own ``CollectorRegistry``, so two services in
one process (tests) never share counters, and nothing leaks into
prometheus_client's global default registry.

What is exported, and where it comes from:

* ``kleansync_runs_total{trigger,outcome}``      runs this process started
  (outcome ``ok``/``errors``/``failed``, or ``locked`` when another process held
  the run lock and nothing was done);
* ``kleansync_actions_total{entity,side,op}``    writes those runs made;
* ``kleansync_invoice_exports_total{outcome}``   invoice exports attempted;
* ``kleansync_webhook_deliveries_total{result}`` ``accepted``/``rejected``
  (bad signature or body)/``duplicate`` (a repeated delivery id);
* ``kleansync_api_requests_total{service}`` and ``kleansync_api_throttled_total{service}``
  HTTP requests and 429 answers, read at scrape time from the connectors'
  ``HttpClient.stats``;
* ``kleansync_conflicts_open``                    manual conflicts waiting for an
  admin, read from the state store at scrape time;
* ``kleansync_last_success_timestamp_seconds``   when the last completed run (by
  any process: read from the run history) finished.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest
from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST

CONTENT_TYPE = CONTENT_TYPE_LATEST
WEBHOOK_RESULTS = ("accepted", "rejected", "duplicate", "too_large", "stale")

#: service label -> its HttpClient.stats counter ({"requests": n, "429": m}).
StatsSource = Callable[[], Mapping[str, Mapping[str, int]]]


class _ApiCollector:
    """Requests and 429s per service, straight from the connectors' counters."""

    def __init__(self, source: StatsSource) -> None:
        self.source = source

    def collect(self) -> Iterable[Metric]:
        requests = CounterMetricFamily(
            "kleansync_api_requests", "HTTP requests sent, per service", labels=["service"]
        )
        throttled = CounterMetricFamily(
            "kleansync_api_throttled",
            "HTTP 429 Too Many Requests answers received, per service",
            labels=["service"],
        )
        for service, stats in sorted(self.source().items()):
            requests.add_metric([service], stats.get("requests", 0))
            throttled.add_metric([service], stats.get("429", 0))
        yield requests
        yield throttled

    def describe(self) -> Iterable[Metric]:
        return []


class Metrics:
    """The counters and gauges of one service instance."""

    def __init__(
        self,
        *,
        api_stats: StatsSource | None = None,
        open_conflicts: Callable[[], int] | None = None,
    ) -> None:
        self.registry = CollectorRegistry()
        self.runs = Counter(
            "kleansync_runs",
            "Sync runs started by this service, by trigger and outcome",
            ["trigger", "outcome"],
            registry=self.registry,
        )
        self.actions = Counter(
            "kleansync_actions",
            "Writes made by this service's sync runs",
            ["entity", "side", "op"],
            registry=self.registry,
        )
        self.exports = Counter(
            "kleansync_invoice_exports",
            "Invoice exports attempted by this service, by outcome",
            ["outcome"],
            registry=self.registry,
        )
        self.webhooks = Counter(
            "kleansync_webhook_deliveries",
            "KleanApp webhook deliveries received, by result",
            ["result"],
            registry=self.registry,
        )
        for result in WEBHOOK_RESULTS:
            self.webhooks.labels(result)  # present (as 0) before the first delivery
        self.last_success = Gauge(
            "kleansync_last_success_timestamp_seconds",
            "Unix time the last completed sync run finished (0: none yet)",
            registry=self.registry,
        )
        self.conflicts_open = Gauge(
            "kleansync_conflicts_open",
            "Manual conflicts waiting for an admin",
            registry=self.registry,
        )
        if open_conflicts is not None:
            self.conflicts_open.set_function(open_conflicts)
        if api_stats is not None:
            self.registry.register(_ApiCollector(api_stats))

    def run_finished(self, trigger: str, outcome: str, counts: Mapping[str, int]) -> None:
        self.runs.labels(trigger, outcome).inc()
        for key, n in counts.items():
            parts = key.split(".")
            if len(parts) == 3 and n:
                self.actions.labels(*parts).inc(n)

    def render(self) -> bytes:
        """The exposition text for ``GET /metrics``."""
        return generate_latest(self.registry)
