"""The process's own Prometheus meters (prometheus-client): requests by route template and the
photo pipeline. `/metrics` (grid_backend/prometheus.py) publishes them with the gauges it reads
from the database.

With PROMETHEUS_MULTIPROC_DIR set before this module is first imported (`grid-backend serve
--workers N` does it), prometheus-client keeps every value in a file per process, so a scrape
of any worker adds up all of them; without it the values live in this process's memory."""

from __future__ import annotations

from time import perf_counter
from typing import Any

from litestar.types import ASGIApp, Message, Receive, Scope, Send
from prometheus_client import Counter, Gauge, Histogram, disable_created_metrics

disable_created_metrics()  # no `_created` twin of every series: Prometheus does not use them

HTTP_REQUESTS = Counter(
    "grid_http_requests",  # exposed as grid_http_requests_total
    "HTTP requests answered, by method, route template and status",
    ["method", "route", "status"],
)
HTTP_DURATION = Histogram(
    "grid_http_request_duration_seconds",
    "Time from a request's arrival until its status and headers were sent (a streamed body, "
    "such as live events, is not counted)",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
# livesum: the workers' values added up, a worker's dropped once it has ended
PHOTO_PIPELINE_QUEUE = Gauge(
    "grid_photo_pipeline_queue",
    "Photo uploads waiting for the decode pipeline or in it",
    multiprocess_mode="livesum",
)
PHOTO_PIPELINE_BUSY = Gauge(
    "grid_photo_pipeline_busy",
    "Photo uploads being decoded now (holding a decoder)",
    multiprocess_mode="livesum",
)

UNMATCHED = "<unmatched>"  # the route of every request that matched none (404, 405)
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def http_meter(app: ASGIApp) -> ASGIApp:
    """Wrap the application's ASGI handler (outside Litestar's router, so 404s count too):
    count each HTTP request and time it to its response's start. The route label is the
    template the router matched (`scope["path_template"]`), never the raw path, and unknown
    methods count as OTHER, so the number of series stays bounded whatever clients send."""
    # per (method, route, status): the counter's inc and the histogram's observe, found once
    meters: dict[tuple[str, str | None, int], tuple[Any, Any]] = {}

    def meters_for(key: tuple[str, str | None, int]) -> tuple[Any, Any]:
        method = key[0] if key[0] in _METHODS else "OTHER"
        route = key[1] or UNMATCHED
        found = (
            HTTP_REQUESTS.labels(method, route, str(key[2])).inc,
            HTTP_DURATION.labels(method, route).observe,
        )
        if len(meters) < 10_000:  # bounded like the labels; past it, look up each time
            meters[key] = found
        return found

    async def meter(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        started = perf_counter()
        status = 0  # until the response starts
        seconds = 0.0

        async def timed_send(message: Message) -> None:
            nonlocal status, seconds
            if message["type"] == "http.response.start":
                status, seconds = message["status"], perf_counter() - started
            await send(message)

        try:
            await app(scope, receive, timed_send)
        finally:
            if not status:  # nothing sent (failed past the error handlers): the server's 500
                status, seconds = 500, perf_counter() - started
            # the router wrote the matched route's template into the scope
            key = (scope["method"], scope.get("path_template"), status)  # type: ignore[typeddict-item]  # an HTTP scope here
            count, observe = meters.get(key) or meters_for(key)
            count()
            observe(seconds)

    return meter
