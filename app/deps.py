"""What the lifespan builds once, and the providers handlers receive it through."""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from arq.connections import ArqRedis
from litestar import Request
from litestar.datastructures import State
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from domain.errors import Unavailable
from domain.model import Principal
from domain.usecases.checks import RebuildRequests
from infra.db.uow import SqlUnitOfWork
from infra.redis.mirror import RedisMirror
from infra.redis.queue import ArqJobQueue
from infra.settings import Settings

IMPORTS_BUSY = "Every import slot of this server is busy; retry the import in a few seconds"


class ImportSlots:
    """CSV imports run at most ``concurrency`` at a time per process, on an engine of their
    own, so that no number of imports can take the main pool's connections from checks and
    writes. An import that finds every slot taken waits up to ``wait_seconds`` for one, then is
    refused (503)."""

    def __init__(self, engine: AsyncEngine, concurrency: int, wait_seconds: float) -> None:
        self.engine = engine
        self.wait_seconds = wait_seconds
        self._slots = asyncio.Semaphore(concurrency)

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[AsyncEngine]:
        try:
            async with asyncio.timeout(self.wait_seconds):
                await self._slots.acquire()
        except TimeoutError:
            raise Unavailable(IMPORTS_BUSY) from None
        try:
            yield self.engine
        finally:
            self._slots.release()


@dataclass(frozen=True, slots=True)
class Resources:
    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    redis: ArqRedis  # one pool serves the mirror and the job queue
    mirror: RedisMirror
    queue: ArqJobQueue
    rebuilds: RebuildRequests
    imports: ImportSlots


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
