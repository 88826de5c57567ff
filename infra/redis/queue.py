"""The arq job queue, and the Redis connections both processes share."""

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from arq.connections import ArqRedis
from arq.jobs import Job, JobStatus
from redis.asyncio import BlockingConnectionPool

from domain.errors import Unavailable
from infra.redis import REDIS_FAILURES
from infra.settings import Settings

DELIVER_OUTBOX = "deliver_outbox"
REBUILD_MIRROR = "rebuild_mirror"
IMPORT_NUMBERS = "import_numbers"
QUEUE_UNREACHABLE = "The job queue (Redis) is unreachable; retry shortly"
PENDING = (JobStatus.deferred, JobStatus.queued, JobStatus.in_progress)


def create_redis_pool(settings: Settings, client_name: str) -> BlockingConnectionPool:
    """A pool that waits for a free connection instead of failing under load."""
    return BlockingConnectionPool.from_url(
        settings.redis_url,
        max_connections=settings.redis_pool_size,
        timeout=settings.redis_timeout_seconds,
        socket_timeout=settings.redis_timeout_seconds,
        socket_connect_timeout=settings.redis_timeout_seconds,
        client_name=client_name,
    )


def create_arq(pool: BlockingConnectionPool, settings: Settings) -> ArqRedis:
    return ArqRedis(pool, default_queue_name=settings.queue_name)


def outbox_job_id(settings: Settings, message_id: int) -> str:
    return f"{settings.redis_prefix}:outbox:{message_id}"


def rebuild_job_id(settings: Settings, organization_id: UUID) -> str:
    return f"{settings.redis_prefix}:rebuild:{organization_id}"


def import_job_id(settings: Settings, import_id: UUID) -> str:
    return f"{settings.redis_prefix}:import:{import_id}"


class ArqJobQueue:
    """Each job's id names what it works on, so that arq runs one job per id at a time (an
    enqueue while it is queued or running is a no-op)."""

    def __init__(self, arq: ArqRedis, settings: Settings) -> None:
        self.arq = arq
        self.settings = settings

    async def _enqueue(self, function: str, arg: Any, job_id: str) -> str:
        try:
            await self.arq.enqueue_job(function, arg, _job_id=job_id)
        except REDIS_FAILURES as exc:
            raise Unavailable(QUEUE_UNREACHABLE) from exc
        return job_id

    async def dispatch_outbox(self, message_ids: Sequence[int]) -> None:
        for message_id in message_ids:
            await self._enqueue(
                DELIVER_OUTBOX, message_id, outbox_job_id(self.settings, message_id)
            )

    async def enqueue_rebuild(self, organization_id: UUID) -> str:
        job_id = rebuild_job_id(self.settings, organization_id)
        return await self._enqueue(REBUILD_MIRROR, str(organization_id), job_id)

    async def enqueue_import(self, import_id: UUID) -> str:
        job_id = import_job_id(self.settings, import_id)
        return await self._enqueue(IMPORT_NUMBERS, str(import_id), job_id)

    async def import_pending(self, import_id: UUID) -> bool:
        job = Job(import_job_id(self.settings, import_id), self.arq, self.settings.queue_name)
        try:
            return await job.status() in PENDING
        except REDIS_FAILURES as exc:
            raise Unavailable(QUEUE_UNREACHABLE) from exc
