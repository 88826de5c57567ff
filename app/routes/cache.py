"""The mirror's administration: rebuild it, see how it is doing."""

from litestar import Controller, get, post
from litestar.di import NamedDependency

from app.auth import ADMIN_ONLY, authorize
from app.errors import DataEnvelope, error_responses, ok
from app.schemas.cache import CacheStatus, ListCacheStatus, RebuildAccepted
from domain.model import Principal
from domain.usecases.mirror_repair import mirror_status
from infra.db.uow import SqlUnitOfWork
from infra.redis.mirror import RedisMirror
from infra.redis.queue import ArqJobQueue


class CacheController(Controller):
    path = "/api/dnc/cache"
    guards = (authorize,)
    tags = ("Admin: the Redis mirror",)

    @post(
        "/rebuild",
        status_code=202,
        opt={ADMIN_ONLY: True},
        summary="Rebuild the organization's mirror from Postgres in the background",
        responses=error_responses(),
    )
    async def rebuild(
        self, queue: NamedDependency[ArqJobQueue], principal: NamedDependency[Principal]
    ) -> DataEnvelope[RebuildAccepted]:
        job_id = await queue.enqueue_rebuild(principal.organization_id)  # or Unavailable (503)
        return ok(RebuildAccepted(job_id=job_id), "Rebuild queued", 202)

    @get(
        "/status",
        summary="Is the mirror ready, and does it hold what Postgres holds?",
        responses=error_responses(),
    )
    async def status(
        self,
        uow: NamedDependency[SqlUnitOfWork],
        mirror: NamedDependency[RedisMirror],
        principal: NamedDependency[Principal],
    ) -> DataEnvelope[CacheStatus]:
        lists = [
            ListCacheStatus.of(status)
            for status in await mirror_status(uow, mirror, principal.organization_id)
        ]
        org_wide = lists[0]
        return ok(
            CacheStatus(
                org_wide.ready,
                org_wide.rebuilding,
                org_wide.postgres_count,
                org_wide.redis_count,
                org_wide.last_rebuild,
                lists,
            )
        )
