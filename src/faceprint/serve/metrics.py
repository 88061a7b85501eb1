"""Prometheus metrics of ``faceprint serve``: requests, latencies, batch sizes, queue depth,
decoded pixels held."""

from __future__ import annotations

import time
from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128)


class ServiceMetrics:
    """The service's metrics in a registry of their own (two apps in one process stay apart).

    Args:
        queue_depth: returns the number of jobs waiting, read at every scrape.
        pixels_held: returns the decoded pixels requests hold from the pixel budget.
    """

    content_type = CONTENT_TYPE_LATEST

    def __init__(
        self, queue_depth: Callable[[], int], pixels_held: Callable[[], int] = lambda: 0
    ) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "faceprint_requests",
            "HTTP requests by route, method and status",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "faceprint_request_seconds",
            "Time from request to response, by route",
            ["route"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.batch_images = Histogram(
            "faceprint_batch_images",
            "Images per detector/embedder batch",
            buckets=_BATCH_BUCKETS,
            registry=self.registry,
        )
        self.batch_seconds = Histogram(
            "faceprint_batch_seconds",
            "Time the networks spent on one batch",
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        depth = Gauge(
            "faceprint_queue_depth", "Jobs waiting for the networks", registry=self.registry
        )
        depth.set_function(queue_depth)
        held = Gauge(
            "faceprint_pixels_held",
            "Decoded pixels held by requests in flight (of --pixel-budget)",
            registry=self.registry,
        )
        held.set_function(pixels_held)

    def observe_request(self, route: str, method: str, status: int, seconds: float) -> None:
        """Count one answered request."""
        self.requests.labels(route, method, str(status)).inc()
        self.latency.labels(route).observe(seconds)

    def observe_batch(self, images: int, seconds: float) -> None:
        """Record one batch through the networks."""
        self.batch_images.observe(images)
        self.batch_seconds.observe(seconds)

    def render(self) -> bytes:
        """The Prometheus text exposition."""
        return generate_latest(self.registry)


class MeteredRequests:
    """ASGI middleware that counts every answer by route and status, and times it."""

    def __init__(self, app, metrics: ServiceMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started, status = time.perf_counter(), [500]

        async def sending(message):
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            route = scope.get("route")
            path = route.path if route is not None else "unmatched"
            self.metrics.observe_request(
                path, scope["method"], status[0], time.perf_counter() - started
            )
