"""A worker that outlives Redis and Postgres going away, however long they stay away.

arq's main loop lets any Redis error out of its poll, which ends the process; and a job or cron
that cannot reach Postgres fails (a cron every few seconds, each with a traceback). Here:

- Redis away: the poll is tried again with a growing delay (0.5 s, doubling, at most 10 s);
  a worker started while Redis is away waits for it before starting up.
- Postgres away (a job or cron fails to reach it, and a ``SELECT 1`` confirms it): the worker
  stops taking jobs and enqueueing crons, and probes Postgres with the same backoff; the job
  that noticed runs again later (``Retry``), the cron run is skipped.
- Either way, one line when the server goes away and one when it is back (both at WARNING, so
  an operator who sees the first also sees the second); once back, every cron whose time
  passed meanwhile runs once, at once, and queued jobs are taken again.
"""

import asyncio
import functools
import logging
import time
from datetime import datetime, timedelta
from typing import Any

from arq import Retry, Worker
from arq.cron import CronJob
from arq.worker import Function
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from infra.bootstrap import Resources
from infra.redis import REDIS_FAILURES

log = logging.getLogger(__name__)
RECONNECT_FIRST_SECONDS = 0.5
RECONNECT_MAX_SECONDS = 10.0
POSTGRES_PROBE_SECONDS = 5.0
MISSED_CRON_SECONDS = 2.0  # arq enqueues a cron ~1 s ahead; this late, its run was missed
# what a job sees when Postgres is away: asyncpg's refused or reset socket, SQLAlchemy's wrap
# (``OperationalError``, ``InterfaceError``, or a bare ``DBAPIError`` for a connection cut
# mid-query); a ``SELECT 1`` then tells an outage from a failure of the job's own
POSTGRES_FAILURES = (OSError, TimeoutError, DBAPIError)


class Outage:
    """Whether one server is reachable; logs a line only when that changes."""

    def __init__(self, server: str) -> None:
        self.server = server
        self.since: float | None = None
        self._delay = RECONNECT_FIRST_SECONDS

    @property
    def away(self) -> bool:
        return self.since is not None

    def lost(self, exc: BaseException, meanwhile: str) -> None:
        if self.since is None:
            self.since = time.monotonic()
            self._delay = RECONNECT_FIRST_SECONDS
            log.warning(
                "%s unreachable (%s: %s); %s", self.server, type(exc).__name__, exc, meanwhile
            )

    def next_delay(self) -> float:
        """How long to wait before trying again: doubling, up to ``RECONNECT_MAX_SECONDS``."""
        delay = self._delay
        self._delay = min(delay * 2, RECONNECT_MAX_SECONDS)
        return delay

    def back(self) -> bool:
        """Record that the server answered; True if it had been away."""
        if self.since is None:
            return False
        log.warning(
            "%s reachable again after %.1f s; resuming jobs and crons",
            self.server,
            time.monotonic() - self.since,
        )
        self.since = None
        return True


class OutageRidingWorker(Worker):
    """arq's worker, staying up through Redis and Postgres outages (see the module's doc)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.redis_outage = Outage("Redis")
        self.postgres_outage = Outage("Postgres")
        self._next_postgres_probe = 0.0
        for function in self.functions.values():  # the cron jobs are among them
            self._ride_out_postgres(function)

    async def main(self) -> None:
        while self._pool is not None:  # arq's startup needs Redis: wait for it first
            try:
                await self.pool.ping()
                break
            except REDIS_FAILURES as exc:
                self.redis_outage.lost(exc, "waiting for it to start the worker")
                await asyncio.sleep(self.redis_outage.next_delay())
        self.redis_outage.back()
        await super().main()

    async def _poll_iteration(self) -> None:
        if self.postgres_outage.away:
            await self._probe_postgres()
        try:
            await super()._poll_iteration()
        except REDIS_FAILURES as exc:
            self.redis_outage.lost(exc, "retrying with backoff; jobs and crons wait for it")
            await asyncio.sleep(self.redis_outage.next_delay())
            return
        self.redis_outage.back()

    async def start_jobs(self, job_ids: list[bytes]) -> None:
        try:
            await super().start_jobs(job_ids)
        except REDIS_FAILURES:
            # arq had taken a slot for the job it was claiming; it gives slots back only when a
            # job ends, and this one never started: without this, each such failure loses one
            self.job_counter -= 1
            self.sem.release()
            raise

    async def run_job(self, job_id: str, score: int) -> None:
        try:
            await super().run_job(job_id, score)
        except REDIS_FAILURES as exc:  # reading or finishing the job: it stays queued
            log.info("job %s: Redis went away around it (%s); it runs again", job_id, exc)

    async def run_cron(self, n: datetime, delay: float, num_windows: int = 2) -> None:
        if self.postgres_outage.away:  # every cron needs Postgres
            return
        missed = n - timedelta(seconds=MISSED_CRON_SECONDS)
        for cron_job in self.cron_jobs:  # missed during an outage: once now, not once per run
            if cron_job.next_run is not None and cron_job.next_run < missed:
                cron_job.next_run = n
        await super().run_cron(n, delay, num_windows)

    async def close(self) -> None:
        try:
            await super().close()
        except REDIS_FAILURES as exc:  # arq's last call (deleting its health key) failed
            log.warning("worker stopping while Redis is unreachable (%s)", exc)
            if self.on_shutdown:
                await self.on_shutdown(self.ctx)
            if self._pool is not None:
                await self.pool.aclose(close_connection_pool=True)
                self._pool = None

    async def _probe_postgres(self) -> None:
        if time.monotonic() < self._next_postgres_probe:
            return
        if await self._postgres_reachable():
            self.postgres_outage.back()
            self.allow_pick_jobs = True
        else:
            self._next_postgres_probe = time.monotonic() + self.postgres_outage.next_delay()

    async def _postgres_reachable(self) -> bool:
        resources: Resources | None = self.ctx.get("resources")  # built by on_startup
        if resources is None:
            return True
        try:
            async with (
                asyncio.timeout(POSTGRES_PROBE_SECONDS),
                resources.engine.connect() as connection,
            ):
                await connection.execute(text("SELECT 1"))
        except Exception:
            return False
        return True

    def _postgres_lost(self, exc: BaseException) -> None:
        if not self.postgres_outage.away:
            self.postgres_outage.lost(exc, "jobs and crons wait for it; probing with backoff")
            self.allow_pick_jobs = False
            self._next_postgres_probe = time.monotonic() + self.postgres_outage.next_delay()

    def _ride_out_postgres(self, function: Function | CronJob) -> None:
        job = function.coroutine
        is_cron = isinstance(function, CronJob)

        @functools.wraps(job)
        async def run(ctx: dict[Any, Any], *args: Any, **kwargs: Any) -> Any:
            try:
                return await job(ctx, *args, **kwargs)
            except POSTGRES_FAILURES as exc:
                if await self._postgres_reachable():
                    raise  # a failure of the job's own, not an outage
                self._postgres_lost(exc)
                if is_cron:
                    return None  # this run is skipped; the cron runs again once Postgres is back
                raise Retry(defer=RECONNECT_FIRST_SECONDS) from exc

        function.coroutine = run
