"""``create_app``: the one place the API's connections are built (in the lifespan)."""

import asyncio
import contextlib
import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace

from litestar import Litestar
from litestar.di import Provide
from litestar.middleware import DefineMiddleware
from litestar.openapi import OpenAPIConfig
from litestar.openapi.spec import Components, SecurityScheme

from app.auth import PUBLIC_PATHS, BearerTokenMiddleware, TokenCache
from app.body import require_strict_json
from app.body_timeout import BodyTimeout
from app.deps import (
    ImportSlots,
    Resources,
    provide_mirror,
    provide_principal,
    provide_queue,
    provide_rebuilds,
    provide_uow,
)
from app.errors import handle_exception
from app.fast_check import FastCheck
from app.metrics import HttpMetrics, metrics
from app.query import StrictQuery
from app.ratelimit import RateLimiter
from app.request_ids import RequestIds
from app.routes.batches import BatchController
from app.routes.cache import CacheController
from app.routes.check import CheckController
from app.routes.dnc import DncController
from app.routes.lists import ListController
from app.routes.ops import health, ready
from app.routes.transfer import TransferController
from domain.phone import nanp_table
from domain.usecases.checks import RebuildRequests
from infra.db.uow import create_engine, create_sessionmaker
from infra.redis.mirror import RedisMirror, close_mirror_redis, create_mirror_redis
from infra.redis.queue import ArqJobQueue, create_arq, create_redis_pool
from infra.settings import Settings
from infra.token_revocations import follow_revocations

API_NAME = "dnc-api"


def create_app(settings: Settings | None = None) -> Litestar:
    settings = settings or Settings.from_env()

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        nanp_table()  # built now rather than by the first check
        engine = create_engine(settings, API_NAME)
        # imports get connections of their own (each one uses up to two at once)
        import_engine = create_engine(
            replace(settings, db_pool_size=settings.import_concurrency), f"{API_NAME}-import"
        )
        pool = create_redis_pool(settings, API_NAME)
        arq = create_arq(pool, settings)
        queue = ArqJobQueue(arq, settings)
        app.state.resources = Resources(
            settings=settings,
            engine=engine,
            sessions=create_sessionmaker(engine),
            redis=arq,
            mirror=RedisMirror(create_mirror_redis(settings, arq), settings.redis_prefix),
            queue=queue,
            rebuilds=RebuildRequests(queue),
            imports=ImportSlots(
                import_engine, settings.import_concurrency, settings.import_wait_seconds
            ),
        )
        app.state.tokens = TokenCache(settings.token_cache_seconds)
        revocations = asyncio.create_task(
            follow_revocations(settings, app.state.tokens, API_NAME), name="token revocations"
        )
        app.state.limiter = RateLimiter(settings.rate_limit_per_second, settings.rate_limit_burst)
        # What start-up built lives as long as the process: keep the collector from walking
        # it again in every full collection (a pause of tens of milliseconds, seen in p99)
        gc.freeze()
        try:
            yield
        finally:
            revocations.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await revocations
            await close_mirror_redis(app.state.resources.mirror.redis, arq)
            await arq.aclose()
            await pool.disconnect()
            await import_engine.dispose()
            await engine.dispose()

    return Litestar(
        route_handlers=[
            health,
            ready,
            metrics,
            DncController,
            ListController,
            TransferController,
            CheckController,
            CacheController,
            BatchController,
        ],
        lifespan=[lifespan],
        middleware=[DefineMiddleware(BearerTokenMiddleware, exclude=PUBLIC_PATHS), StrictQuery],
        dependencies={
            "uow": Provide(provide_uow, sync_to_thread=False),
            "mirror": Provide(provide_mirror, sync_to_thread=False),
            "queue": Provide(provide_queue, sync_to_thread=False),
            "rebuilds": Provide(provide_rebuilds, sync_to_thread=False),
            "principal": Provide(provide_principal, sync_to_thread=False),
        },
        before_request=require_strict_json,
        exception_handlers={Exception: handle_exception},
        request_max_body_size=settings.max_body_bytes,
        logging_config=None,
        openapi_config=OpenAPIConfig(
            title="DNC service",
            version="0.1.0",
            description="Do-Not-Call list service for outbound calling platforms",
            security=[{"BearerToken": []}],
            components=Components(
                security_schemes={"BearerToken": SecurityScheme(type="http", scheme="bearer")}
            ),
        ),
    )


def create_server_app(settings: Settings | None = None) -> RequestIds:
    """What ``dnc serve`` runs: the app, with the single check's everyday case answered
    before routing (see ``app.fast_check``), a read timeout on bodies (``app.body_timeout``),
    and an id for every request."""
    settings = settings or Settings.from_env()
    app = FastCheck(create_app(settings))
    return RequestIds(HttpMetrics(BodyTimeout(app, settings.body_read_timeout_seconds)))
