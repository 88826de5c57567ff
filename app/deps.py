"""What the lifespan builds once, and the providers handlers receive it through."""

from dataclasses import dataclass

from arq.connections import ArqRedis
from litestar import Request
from litestar.datastructures import State
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from domain.checks import RebuildRequests
from domain.model import Principal
from infra.db.uow import SqlUnitOfWork
from infra.queue import ArqJobQueue
from infra.redis_mirror import RedisMirror
from infra.settings import Settings


@dataclass(frozen=True, slots=True)
class Resources:
    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    redis: ArqRedis  # one pool serves the mirror and the job queue
    mirror: RedisMirror
    queue: ArqJobQueue
    rebuilds: RebuildRequests


def resources_of(state: State) -> Resources:
    resources: Resources = state.resources
    return resources


def provide_uow(state: State) -> SqlUnitOfWork:
    return SqlUnitOfWork(resources_of(state).sessions)


def provide_mirror(state: State) -> RedisMirror:
    return resources_of(state).mirror


def provide_queue(state: State) -> ArqJobQueue:
    return resources_of(state).queue


def provide_rebuilds(state: State) -> RebuildRequests:
    return resources_of(state).rebuilds


def provide_principal(request: Request[Principal, str, State]) -> Principal:
    return request.user
