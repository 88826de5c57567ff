"""The arq worker: connections built in ``on_startup``, jobs that take ids and reload state."""

import logging
from datetime import timedelta
from typing import Any

from arq import Retry, Worker, cron, func

from domain.ports import MailerUnavailable
from domain.services import deliver_outbox_message, pending_outbox, utcnow
from infra.db.uow import SqlUnitOfWork, create_engine, create_sessionmaker
from infra.mailer import create_mailer
from infra.queue import DELIVER_OUTBOX, ArqJobQueue, create_arq, create_redis_pool
from infra.settings import Settings

log = logging.getLogger(__name__)
WORKER_NAME = "dnc-worker"
MAX_TRIES = 25
Ctx = dict[str, Any]


async def startup(ctx: Ctx) -> None:
    settings: Settings = ctx["settings"]
    ctx["engine"] = create_engine(settings, WORKER_NAME)
    ctx["sessions"] = create_sessionmaker(ctx["engine"])
    ctx["mailer"] = create_mailer(settings)
    ctx["queue"] = ArqJobQueue(ctx["redis"], settings)


async def shutdown(ctx: Ctx) -> None:
    if "engine" in ctx:
        await ctx["engine"].dispose()


def retry_delay(settings: Settings, job_try: int) -> float:
    """Exponential backoff from ``outbox_retry_seconds``, capped."""
    delay = settings.outbox_retry_seconds * 2 ** max(job_try - 1, 0)
    return float(min(delay, settings.outbox_max_retry_seconds))


async def deliver_outbox(ctx: Ctx, message_id: int) -> bool:
    """Send one outbox message; retried with backoff while the mail server is down."""
    try:
        return await deliver_outbox_message(
            SqlUnitOfWork(ctx["sessions"]), ctx["mailer"], message_id
        )
    except MailerUnavailable as exc:
        delay = retry_delay(ctx["settings"], ctx["job_try"])
        log.warning(
            "outbox %s: mail server unavailable (%s); retry in %.1fs", message_id, exc, delay
        )
        raise Retry(defer=delay) from exc


async def relay_outbox(ctx: Ctx) -> int:
    """Re-enqueue committed messages nobody has delivered (a crash between commit and enqueue,
    or retries exhausted while the mail server was down). Job ids make this idempotent."""
    settings: Settings = ctx["settings"]
    older_than = utcnow() - timedelta(seconds=settings.outbox_relay_after_seconds)
    ids = await pending_outbox(SqlUnitOfWork(ctx["sessions"]), older_than)
    if ids:
        log.info("relaying %d undelivered outbox messages", len(ids))
        await ctx["queue"].dispatch_outbox(ids)
    return len(ids)


def build_worker(settings: Settings, *, burst: bool = False, with_cron: bool = True) -> Worker:
    arq = create_arq(create_redis_pool(settings, WORKER_NAME), settings)
    cron_jobs = (
        [cron(relay_outbox, name=f"{settings.redis_prefix}:relay_outbox", second={0, 30})]
        if with_cron
        else []
    )
    return Worker(
        functions=[func(deliver_outbox, name=DELIVER_OUTBOX, keep_result=0, max_tries=MAX_TRIES)],
        cron_jobs=cron_jobs,
        queue_name=settings.queue_name,
        redis_pool=arq,
        on_startup=startup,
        on_shutdown=shutdown,
        ctx={"settings": settings},
        burst=burst,
        handle_signals=not burst,
        poll_delay=0.2,
        max_tries=MAX_TRIES,
    )
