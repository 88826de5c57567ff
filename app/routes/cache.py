"""The mirror's administration: rebuild it, see how it is doing."""

from litestar import Controller, get, post
from litestar.di import NamedDependency

from app.auth import ADMIN_ONLY, authorize
from app.errors import DataEnvelope, error_responses, ok
from app.schemas.cache import CacheStatus, LastRebuild, RebuildAccepted
from domain.errors import Unavailable
from domain.model import Principal
from domain.time import utcnow
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
        org_id = principal.organization_id
        async with uow:
            postgres = await uow.entries.count_blocked(org_id, utcnow())
        state = await mirror.state(org_id)
        try:
            redis = await mirror.count(org_id) if state.ready else None
        except Unavailable as exc:
            raise Unavailable("The DNC cache (Redis) is unreachable") from exc
        last = (
            LastRebuild(at=state.rebuilt_at, count=state.rebuilt_count or 0)
            if state.rebuilt_at
            else None
        )
        return ok(CacheStatus(state.ready, state.building, postgres, redis, last))
