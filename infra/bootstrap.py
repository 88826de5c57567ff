"""The composition root: every resource a process needs, built in one place and closed in one.

The API (``app.asgi``'s lifespan), the worker (``jobs.worker``'s startup and shutdown), the
``dnc`` command (``app.cli``) and the tests (``tests.support.helpers``) all get their engines,
pools, mirror and queue from :func:`build` (or :func:`open_resources`) and give them back with
:func:`close`. Nothing here connects: engines and pools connect on first use.
"""

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace

from arq.connections import ArqRedis
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from domain.errors import Unavailable
from domain.ports import Mailer
from domain.usecases.checks import RebuildRequests
from infra.db.imports import SqlListTransfers
from infra.db.receipts import SqlReceiptStore
from infra.db.shared_numbers import SqlSharedNumbers
from infra.db.uow import SqlUnitOfWork, create_engine, create_sessionmaker
from infra.mailer import create_mailer
from infra.rate_limit import RateLimiter
from infra.redis.mirror import RedisMirror, close_mirror_redis, create_mirror_redis
from infra.redis.queue import ArqJobQueue, create_arq, create_redis_pool
from infra.redis.shared import RedisSharedMirror
from infra.settings import Settings
from infra.token_cache import TokenCache
from infra.token_revocations import RedisTokenRevocations

log = logging.getLogger(__name__)
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
    """What one process holds for its whole life."""

    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    redis: ArqRedis  # one pool serves the mirror and the job queue
    mirror: RedisMirror
    queue: ArqJobQueue
    rebuilds: RebuildRequests
    imports: ImportSlots  # imports' engine of their own (each one uses up to two at once)
    tokens: TokenCache
    limiter: RateLimiter
    revocations: RedisTokenRevocations
    mailer: Mailer
    receipts: SqlReceiptStore  # one a process: concurrent receipts share their commits
    owns_redis: bool  # False when the caller (arq's worker) closes ``redis`` itself

    def uow(self) -> SqlUnitOfWork:
        return SqlUnitOfWork(self.sessions)

    @property
    def shared_mirror(self) -> RedisSharedMirror:
        """The shared lists' mirror, on the same Redis as the organizations'."""
        return RedisSharedMirror(self.mirror)

    def shared_numbers(self) -> SqlSharedNumbers:
        """Shared lists' loads, on the main engine (only the CLI loads them)."""
        return SqlSharedNumbers(self.engine)

    def transfers(self) -> SqlListTransfers:
        """Imports and exports on the main engine (status reads, exports, the worker's runs)."""
        return SqlListTransfers(self.engine)

    @asynccontextmanager
    async def import_slot(self) -> AsyncIterator[SqlListTransfers]:
        """An import slot of this process (:class:`ImportSlots`) while the block runs, with
        imports on their own engine."""
        async with self.imports.slot() as engine:
            yield SqlListTransfers(engine)


def build(settings: Settings, client_name: str, *, redis: ArqRedis | None = None) -> Resources:
    """Every resource, named ``client_name`` to Postgres and Redis; ``redis``, when given, is
    a connection the caller owns (the worker's, which arq closes)."""
    engine = create_engine(settings, client_name)
    # an import uses up to three connections (its transaction, the reader of its staged rows,
    # the writer of its progress); a pool holds twice its size with the overflow
    import_engine = create_engine(
        replace(settings, db_pool_size=2 * settings.import_concurrency), f"{client_name}-import"
    )
    arq = (
        redis
        if redis is not None
        else create_arq(create_redis_pool(settings, client_name), settings)
    )
    queue = ArqJobQueue(arq, settings)
    sessions = create_sessionmaker(engine)
    return Resources(
        settings=settings,
        engine=engine,
        sessions=sessions,
        redis=arq,
        mirror=RedisMirror(create_mirror_redis(settings, arq), settings.redis_prefix),
        queue=queue,
        rebuilds=RebuildRequests(queue),
        imports=ImportSlots(
            import_engine, settings.import_concurrency, settings.import_wait_seconds
        ),
        tokens=TokenCache(settings.token_cache_seconds),
        limiter=RateLimiter(settings.rate_limit_per_second, settings.rate_limit_burst),
        revocations=RedisTokenRevocations(arq, settings),
        mailer=create_mailer(settings),
        receipts=SqlReceiptStore(sessions),
        owns_redis=redis is None,
    )


async def close(resources: Resources) -> None:
    """Close every resource, each one even when closing another failed; then raise the first
    failure (a later one is logged)."""
    steps: list[tuple[str, Callable[[], Awaitable[None]]]] = [
        ("the mirror's Redis", lambda: close_mirror_redis(resources.mirror.redis, resources.redis))
    ]
    if resources.owns_redis:
        steps.append(("the Redis pool", lambda: resources.redis.aclose(close_connection_pool=True)))
    steps += [
        ("the imports' engine", resources.imports.engine.dispose),
        ("the engine", resources.engine.dispose),
    ]
    first: BaseException | None = None
    for name, step in steps:
        try:
            await step()
        except BaseException as exc:  # cancelled too: the rest is still closed, then it is raised
            if first is None:
                first = exc
            else:
                log.error("closing %s failed as well", name, exc_info=exc)
    if first is not None:
        raise first


@asynccontextmanager
async def open_resources(settings: Settings, client_name: str) -> AsyncIterator[Resources]:
    """:func:`build`, then :func:`close` on the way out."""
    resources = build(settings, client_name)
    try:
        yield resources
    finally:
        await close(resources)
