"""Prometheus metrics of one server: requests by route, index and status, their latency,
the size of the batches the micro-batcher ran, and errors. Each app has its own registry,
so several apps in one process (tests) do not collide."""

from __future__ import annotations

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)


class Metrics:
    def __init__(self):
        self.registry = CollectorRegistry()
        self.requests = Counter("rtag_requests", "HTTP requests", ["route", "index", "status"], registry=self.registry)
        self.latency = Histogram("rtag_request_seconds", "Request latency in seconds", ["route", "index"],
                                 buckets=LATENCY_BUCKETS, registry=self.registry)
        self.batch = Histogram("rtag_batch_products", "Products per tagging batch", ["index"], buckets=BATCH_BUCKETS, registry=self.registry)
        self.errors = Counter("rtag_errors", "Requests answered with an error (status >= 400)", ["route", "index", "status"],
                              registry=self.registry)
        self.reloads = Counter("rtag_index_reloads", "Indexes swapped for a new build", ["index"], registry=self.registry)

    def observe(self, route: str, index: str, status: int, seconds: float) -> None:
        self.requests.labels(route, index, str(status)).inc()
        self.latency.labels(route, index).observe(seconds)
        if status >= 400:
            self.errors.labels(route, index, str(status)).inc()

    def render(self) -> tuple[bytes, str]:
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
