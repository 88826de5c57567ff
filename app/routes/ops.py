"""Liveness and readiness for load balancers and orchestrators, and the metrics for
Prometheus."""

import asyncio

from litestar import Response, get
from litestar.datastructures import State
from litestar.openapi.datastructures import ResponseSpec
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from app.deps import provide_uow, resources_of
from app.errors import DataEnvelope, ok
from app.layers.metrics import OUTBOX_LAG
from app.schemas.ops import Health, Readiness


@get("/health", summary="The process is up", tags=["Operations"])
async def health() -> DataEnvelope[Health]:
    return ok(Health(status="ok"))


@get(
    "/ready",
    summary="Postgres and Redis are reachable",
    tags=["Operations"],
    responses={503: ResponseSpec(DataEnvelope[Readiness], description="Not ready")},
)
async def ready(state: State) -> Response[DataEnvelope[Readiness]]:
    resources = resources_of(state)

    async def postgres() -> bool:
        async with resources.engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
        return True

    async def redis() -> bool:
        queue = bool(await resources.redis.ping())
        mirror = resources.mirror.redis is resources.redis or bool(
            await resources.mirror.redis.ping()
        )
        return queue and mirror

    results = await asyncio.gather(
        asyncio.wait_for(postgres(), 3), asyncio.wait_for(redis(), 3), return_exceptions=True
    )
    readiness = Readiness(postgres=results[0] is True, redis=results[1] is True)
    if readiness.postgres and readiness.redis:
        return Response(ok(readiness, "Ready"))
    body = DataEnvelope(
        message="Not ready",
        status=False,
        code=503,
        errorMessage="Postgres or Redis is unreachable; see data for which",
        data=readiness,
    )
    return Response(body, status_code=503)


@get("/metrics", summary="Prometheus metrics of this process", tags=["Operations"],
     include_in_schema=False)  # fmt: skip
async def metrics(state: State) -> Response[bytes]:
    try:
        async with provide_uow(state) as uow:
            lag = await uow.outbox.oldest_pending_age()
        OUTBOX_LAG.set(lag)
    except Exception:  # the other metrics still tell the operator something
        OUTBOX_LAG.set(float("nan"))
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
