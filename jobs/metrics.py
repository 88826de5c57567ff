"""Prometheus metrics of a worker process, served on ``DNC_WORKER_METRICS_PORT`` (0: off).

- ``dnc_jobs_total{job,outcome}``: jobs and cron runs that ended in ``success``, ``retry``
  (arq runs them again later) or ``failure``;
- ``dnc_mirror_drift_found_total``: organizations whose mirror reconciliation found drifted;
- ``dnc_mirror_repairs_total{kind}``: rebuilds finished (``rebuild``) and mirror changes the
  relay applied after their immediate sync failed (``sync``).
"""

import functools
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, ParamSpec, TypeVar

from arq import Retry
from prometheus_client import Counter, Gauge, start_http_server

JOBS = Counter("dnc_jobs", "Background jobs that ended, by outcome", ["job", "outcome"])
DRIFT_FOUND = Counter("dnc_mirror_drift_found", "Mirrors reconciliation found drifted")
REPAIRS = Counter("dnc_mirror_repairs", "Mirror repairs done, by kind", ["kind"])
SHARED_STALE = Gauge(
    "dnc_shared_list_stale",
    "1 when a shared list is past its max age: its subscribers' checks block every number it "
    "cannot vouch for (reason registry_stale)",
    ["list"],
)
P = ParamSpec("P")
R = TypeVar("R")


def counted(job: Callable[P, Awaitable[R]]) -> Callable[P, Coroutine[Any, Any, R]]:
    """The job, counting how each run ends (keeps its name, which arq uses)."""

    @functools.wraps(job)
    async def run(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            result = await job(*args, **kwargs)
        except Retry:
            JOBS.labels(job.__name__, "retry").inc()
            raise
        except Exception:
            JOBS.labels(job.__name__, "failure").inc()
            raise
        JOBS.labels(job.__name__, "success").inc()
        return result

    return run


def serve_metrics(host: str, port: int) -> Any:
    """Start the metrics endpoint in a thread of this process (nothing when port is 0)."""
    if port <= 0:
        return None
    return start_http_server(port, addr=host)
