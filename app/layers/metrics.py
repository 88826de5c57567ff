"""Prometheus metrics of the API process, served at ``GET /metrics`` (``app.routes.ops``).

- ``dnc_http_requests_total{route,method,status}`` and ``dnc_http_request_seconds{route}``:
  every request, by route template (``/api/dnc/delete/{entry_id:uuid}``, never the raw path,
  so no phone number or id becomes a label);
- ``dnc_check_numbers_total{verdict}``: numbers checked, as ``blocked``, ``callable`` or
  ``invalid``; ``dnc_check_fallbacks_total``: checks answered from Postgres because the
  mirror was not ready or Redis was unreachable;
- ``dnc_outbox_lag_seconds``: the age of the oldest side effect (email, mirror sync) not yet
  done, read from Postgres when scraped.

The worker serves its own (job outcomes, drift, repairs) on ``DNC_WORKER_METRICS_PORT``
(``jobs.worker``). Each process counts for itself: scrape every API process and worker.
"""

import time
from typing import Any

from prometheus_client import Counter, Gauge, Histogram

from app.layers.base import HttpLayer
from domain.model import CheckResult

REQUESTS = Counter("dnc_http_requests", "HTTP requests answered", ["route", "method", "status"])
LATENCY = Histogram(
    "dnc_http_request_seconds",
    "Time to answer an HTTP request",
    ["route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
CHECKED = Counter("dnc_check_numbers", "Numbers checked, by verdict", ["verdict"])
FALLBACKS = Counter(
    "dnc_check_fallbacks", "Checks answered from Postgres (mirror not ready or unreachable)"
)
OUTBOX_LAG = Gauge(
    "dnc_outbox_lag_seconds", "Age of the oldest email or mirror sync not yet done (0: none)"
)
_BLOCKED, _CALLABLE, _INVALID = (CHECKED.labels(v) for v in ("blocked", "callable", "invalid"))
UNMATCHED = "unmatched"
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def count_check(result: CheckResult) -> None:
    blocked = result.blocked_count - result.invalid_count
    _INVALID.inc(result.invalid_count)
    _BLOCKED.inc(blocked)
    _CALLABLE.inc(len(result.verdicts) - result.blocked_count)
    if result.source == "postgres":
        FALLBACKS.inc()


class HttpMetrics(HttpLayer):
    """Counts and times every HTTP request, by the route template Litestar matched (or the
    one the fast check path sets)."""

    async def handle(self, scope: Any, receive: Any, send: Any) -> None:
        started = time.perf_counter()
        status = 500

        async def send_and_note(message: Any) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            route = scope.get("path_template") or UNMATCHED
            method = scope["method"] if scope["method"] in METHODS else "OTHER"
            REQUESTS.labels(route, method, status).inc()
            LATENCY.labels(route).observe(time.perf_counter() - started)
