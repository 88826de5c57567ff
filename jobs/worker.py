"""The arq worker: resources built in ``on_startup`` (``infra.bootstrap``), jobs that take ids
and reload state."""

import asyncio
import functools
import logging
from collections.abc import Callable, Coroutine
from datetime import timedelta
from typing import Any, TypeVar, cast
from uuid import UUID

from arq import Retry, Worker, cron, func
from arq.constants import in_progress_key_prefix
from arq.cron import CronJob
from redis.exceptions import RedisError

from domain.errors import Unavailable
from domain.ports import MailerUnavailable
from domain.time import utcnow
from domain.usecases.entries import expire_due
from domain.usecases.mirror_repair import rebuild_mirror
from domain.usecases.mirror_sync import sync_all
from domain.usecases.notify import deliver_outbox_message, pending_outbox
from domain.usecases.shared_lists import stale_shared_lists
from domain.usecases.shared_repair import reconcile_all
from domain.usecases.transfer import process_queued, relay_lost_imports
from infra import bootstrap
from infra.bootstrap import Resources
from infra.redis.queue import (
    DELIVER_OUTBOX,
    IMPORT_NUMBERS,
    REBUILD_MIRROR,
    create_arq,
    create_redis_pool,
)
from infra.settings import Settings
from jobs.metrics import DRIFT_FOUND, REPAIRS, SHARED_STALE, counted, serve_metrics
from jobs.outages import OutageRidingWorker

log = logging.getLogger(__name__)
WORKER_NAME = "dnc-worker"
MAX_TRIES = 25
MIRROR_SYNC_EVERY = 5  # seconds
EXPIRY_EVERY = 15  # seconds: expired entries stop blocking well within a minute
IMPORT_MAX_ATTEMPTS = 3  # times a lost import is enqueued again before it is marked failed
JOB_LOCK_SECONDS = 10  # a job whose worker died runs again this long after its last renewal
JOB_LOCK_RENEW_SECONDS = 2
Ctx = dict[str, Any]  # arq's; ours is only ctx["resources"] (see resources_of)
JobT = TypeVar("JobT", bound=Callable[..., Coroutine[Any, Any, Any]])


async def startup(ctx: Ctx) -> None:
    settings: Settings = ctx["settings"]
    ctx["resources"] = bootstrap.build(settings, WORKER_NAME, redis=ctx["redis"])
    ctx["metrics"] = serve_metrics(settings.host, settings.worker_metrics_port)


async def shutdown(ctx: Ctx) -> None:
    if ctx.get("metrics"):
        server, _thread = ctx["metrics"]
        server.shutdown()
    if "resources" in ctx:  # the Redis connection is arq's, which closes it
        await bootstrap.close(ctx["resources"])


def resources_of(ctx: Ctx) -> Resources:
    """What ``startup`` built: every job's connections, mirror, queue and mailer."""
    resources: Resources = ctx["resources"]
    return resources


def retry_delay(settings: Settings, job_try: int) -> float:
    """Exponential backoff from ``outbox_retry_seconds``, capped."""
    delay = settings.outbox_retry_seconds * 2 ** max(job_try - 1, 0)
    return float(min(delay, settings.outbox_max_retry_seconds))


def retried_on(*errors: type[Exception]) -> Callable[[JobT], JobT]:
    """The job, run again by arq with backoff (:func:`retry_delay`) when one of ``errors``
    (a service away) ends it."""

    def wrap(job: JobT) -> JobT:
        @functools.wraps(job)
        async def run(ctx: Ctx, *args: Any, **kwargs: Any) -> Any:
            try:
                return await job(ctx, *args, **kwargs)
            except errors as exc:
                delay = retry_delay(ctx["settings"], ctx["job_try"])
                log.warning("%s %s: %s; retry in %.1fs", job.__name__, args, exc, delay)
                raise Retry(defer=delay) from exc

        return cast(JobT, run)

    return wrap


def skipped_while_unavailable(message: str) -> Callable[[JobT], JobT]:
    """The periodic job, logging ``message`` and counting 0 when Redis is away (the next
    round does the work)."""

    def wrap(job: JobT) -> JobT:
        @functools.wraps(job)
        async def run(ctx: Ctx, *args: Any, **kwargs: Any) -> Any:
            try:
                return await job(ctx, *args, **kwargs)
            except Unavailable:
                log.warning(message)
                return 0

        return cast(JobT, run)

    return wrap


@retried_on(MailerUnavailable)
async def deliver_outbox(ctx: Ctx, message_id: int) -> bool:
    """Send one outbox message; retried with backoff while the mail server is down."""
    resources = resources_of(ctx)
    return await deliver_outbox_message(resources.uow(), resources.mailer, message_id)


async def relay_outbox(ctx: Ctx) -> int:
    """Re-enqueue committed messages nobody has delivered (a crash between commit and enqueue,
    or retries exhausted while the mail server was down). Job ids make this idempotent."""
    settings: Settings = ctx["settings"]
    older_than = utcnow() - timedelta(seconds=settings.outbox_relay_after_seconds)
    resources = resources_of(ctx)
    ids = await pending_outbox(resources.uow(), older_than)
    if ids:
        log.info("relaying %d undelivered outbox messages", len(ids))
        await resources.queue.dispatch_outbox(ids)
    return len(ids)


@retried_on(Unavailable)
async def rebuild(ctx: Ctx, organization_id: str) -> int:
    """Rebuild one organization's mirror (single-flight: the job id is the organization's)."""
    resources = resources_of(ctx)
    report = await rebuild_mirror(
        resources.uow(),
        resources.mirror,
        UUID(organization_id),
        progress=lambda done, total: log.info(
            "rebuild %s: %d/%d numbers loaded", organization_id, done, total
        ),
    )
    REPAIRS.labels("rebuild").inc()
    return report.loaded


@retried_on(Unavailable)
async def import_numbers(ctx: Ctx, import_id: str) -> int:
    """Process a staged CSV import; progress goes to the imports row and the log."""
    resources = resources_of(ctx)
    report = await process_queued(
        resources.transfers(),
        resources.mirror,
        UUID(import_id),
        progress=lambda done, total: log.info("import %s: %d/%d rows", import_id, done, total),
    )
    return report.added


async def relay_imports(ctx: Ctx) -> int:
    """Imports whose job was lost, enqueued again or failed (``relay_lost_imports``, with
    ``IMPORT_MAX_ATTEMPTS``), and a line in the log when there were any."""
    resources = resources_of(ctx)
    older_than = utcnow() - timedelta(seconds=resources.settings.outbox_relay_after_seconds)
    lost = await relay_lost_imports(
        resources.transfers(), resources.queue, older_than, IMPORT_MAX_ATTEMPTS
    )
    if lost.retry or lost.failed:
        log.warning(
            "imports whose job was lost: %d enqueued again, %d failed (%s)",
            len(lost.retry), len(lost.failed), ", ".join(map(str, lost.failed)) or "-",
        )  # fmt: skip
    return len(lost.retry)


@skipped_while_unavailable("mirror sync skipped: Redis unreachable")
async def sync_mirrors(ctx: Ctx) -> int:
    """Apply mirror changes whose immediate sync failed (a crash, Redis briefly away)."""
    resources = resources_of(ctx)
    applied = await sync_all(resources.uow(), resources.mirror)
    REPAIRS.labels("sync").inc(applied)
    return applied


@skipped_while_unavailable("mirror reconciliation skipped: Redis unreachable")
async def reconcile_mirrors(ctx: Ctx) -> int:
    """One reconciliation round (see ``domain.usecases.mirror_repair`` and ``shared_repair``):
    every list's counts and checksums, then the next slice of the full verification; rebuild
    what is not ready or drifted. Its cost does not grow with the lists."""
    resources = resources_of(ctx)
    found = await reconcile_all(
        resources.uow(), resources.mirror, resources.shared_mirror, resources.queue
    )
    drifted, rebuilt = found.drifted, found.rebuilt
    DRIFT_FOUND.inc(drifted + len(rebuilt))
    REPAIRS.labels("shared_rebuild").inc(len(rebuilt))
    for shared, subscribers, stale in await stale_shared_lists(resources.uow()):
        SHARED_STALE.labels(shared.id).set(1 if stale else 0)
        if stale and subscribers:
            log.warning(
                "shared list %s (%s) is stale since %s: %d subscribing organizations' checks "
                "block every number it does not hold (registry_stale); load a fresh copy",
                shared.id,
                shared.name,
                shared.fresh_until.isoformat() if shared.fresh_until else "it was never loaded",
                subscribers,
            )
    return drifted + len(rebuilt)


@skipped_while_unavailable("expired entries retired, but the mirror sync waits for Redis")
async def expire_entries(ctx: Ctx) -> int:
    """Retire entries whose expiry has passed, so they stop blocking within a minute."""
    resources = resources_of(ctx)
    return await expire_due(resources.uow(), resources.mirror)


def _every(seconds: int) -> dict[str, set[int]]:
    if seconds < 60:
        return {"second": set(range(0, 60, max(seconds, 1)))}
    return {"minute": set(range(0, 60, max(seconds // 60, 1))), "second": {0}}


def cron_jobs(settings: Settings) -> list[CronJob]:
    prefix = settings.redis_prefix
    return [
        cron(counted(relay_outbox), name=f"{prefix}:relay_outbox", second={0, 30}),
        cron(counted(relay_imports), name=f"{prefix}:relay_imports", second={15, 45}),
        cron(counted(sync_mirrors), name=f"{prefix}:sync_mirrors", **_every(MIRROR_SYNC_EVERY)),  # type: ignore[arg-type]
        cron(counted(expire_entries), name=f"{prefix}:expire_entries", **_every(EXPIRY_EVERY)),  # type: ignore[arg-type]
        cron(
            counted(reconcile_mirrors),
            name=f"{prefix}:reconcile_mirrors",
            run_at_startup=True,
            **_every(settings.reconcile_seconds),  # type: ignore[arg-type]
        ),
    ]


class LockRenewingWorker(OutageRidingWorker):
    """arq's worker (riding out Redis and Postgres outages, ``jobs.outages``) with a short job
    lock that the running job keeps renewing.

    arq marks a running job with a key (``arq:in-progress:<job id>``); other workers skip the
    job while it exists, and a job whose worker died runs again only once it expires. arq sets
    it to expire after the longest job timeout plus 10 s: an hour here (rebuilds, imports), for
    every job, emails included. A worker killed mid-rebuild thus held the organization's rebuild
    (and the reconciliation's requests for it, which share its job id) for an hour. Here the
    key expires after ``JOB_LOCK_SECONDS`` and is renewed while the job runs, so a long job is
    never started twice and a dead worker's job runs again within seconds."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.in_progress_timeout_s = JOB_LOCK_SECONDS  # what start_jobs sets the key to

    async def run_job(self, job_id: str, score: int) -> None:
        renewal = asyncio.create_task(self._renew_lock(job_id))
        try:
            await super().run_job(job_id, score)
        finally:
            renewal.cancel()

    async def _renew_lock(self, job_id: str) -> None:
        failing = False
        while True:
            await asyncio.sleep(JOB_LOCK_RENEW_SECONDS)
            try:  # a key arq deleted when the job ended stays deleted
                await self.pool.pexpire(
                    in_progress_key_prefix + job_id, int(JOB_LOCK_SECONDS * 1000)
                )
            except (RedisError, OSError) as exc:
                if not failing:  # once, not every renewal while Redis is away
                    log.warning("job %s: lock not renewed (%s); retrying", job_id, exc)
                failing = True
            else:
                failing = False


def build_worker(settings: Settings, *, burst: bool = False, with_cron: bool = True) -> Worker:
    arq = create_arq(create_redis_pool(settings, WORKER_NAME), settings)
    return LockRenewingWorker(
        functions=[
            func(counted(deliver_outbox), name=DELIVER_OUTBOX, max_tries=MAX_TRIES),
            func(counted(rebuild), name=REBUILD_MIRROR, max_tries=10, timeout=3600),
            func(counted(import_numbers), name=IMPORT_NUMBERS, max_tries=5, timeout=3600),
        ],
        cron_jobs=cron_jobs(settings) if with_cron else [],
        queue_name=settings.queue_name,
        redis_pool=arq,
        on_startup=startup,
        on_shutdown=shutdown,
        ctx={"settings": settings},
        burst=burst,
        handle_signals=not burst,
        poll_delay=0.2,
        max_tries=MAX_TRIES,
        keep_result=0,  # a finished job's id is free at once, so the relays can enqueue it again
    )
