"""Test harness: a database and a Redis key prefix of the suite's own, cleaned after each test
(``tests/support/suite.py``)."""

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from app.asgi import create_app
from infra.db.migrate import upgrade
from infra.settings import Settings
from tests.support.helpers import Client, Org, SmtpSink, new_org
from tests.support.servers import PrivateRedis, PrivateRedisCluster
from tests.support.suite import (
    ON_CLUSTER,
    REDIS_URL,
    SERVER_URL,
    delete_redis_keys,
    drop_database,
    truncate_tables,
)


@pytest.fixture(scope="session")
def base_settings(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    suffix = uuid.uuid4().hex[:10]
    cluster = PrivateRedisCluster(tmp_path_factory.mktemp("cluster")) if ON_CLUSTER else None
    settings = Settings(
        database_url=f"{SERVER_URL}/dnc_test_{suffix}",
        redis_url=REDIS_URL,
        redis_prefix=f"dnctest{suffix}",
        mirror_redis_cluster=cluster.start() if cluster else "",
        db_pool_size=5,
        outbox_retry_seconds=0.2,
        outbox_max_retry_seconds=0.5,
        outbox_relay_after_seconds=0,
    )
    upgrade(settings)
    try:
        yield settings
    finally:
        asyncio.run(drop_database(settings))
        delete_redis_keys(settings)
        if cluster:
            cluster.stop()


@pytest.fixture
def settings(base_settings: Settings) -> Iterator[Settings]:
    yield base_settings
    asyncio.run(truncate_tables(base_settings))
    delete_redis_keys(base_settings)
    if base_settings.mirror_redis_cluster:  # the suite's own cluster: empty it
        PrivateRedisCluster.flush(base_settings.mirror_redis_cluster)


@pytest.fixture(scope="session")
def apps() -> dict[Settings, Litestar]:
    """``create_app(settings)`` once per settings for the session: building the app (its
    routes, their signatures and encoders) is most of what a test costs, and the app keeps
    nothing between runs of its lifespan (the resources are built anew by each, in
    ``app.state``)."""
    return {}


@pytest.fixture
async def client(settings: Settings, apps: dict[Settings, Litestar]) -> AsyncIterator[Client]:
    app = apps.get(settings) or apps.setdefault(settings, create_app(settings))
    async with AsyncTestClient(app=app) as test_client:
        yield test_client


@pytest.fixture
async def org(settings: Settings) -> Org:
    return await new_org(settings, "Acme Dialing")


@pytest.fixture
async def other_org(settings: Settings) -> Org:
    return await new_org(settings, "Other Corp")


@pytest.fixture
def smtp() -> Iterator[SmtpSink]:
    with SmtpSink() as sink:
        yield sink


@pytest.fixture
def smtp_settings(settings: Settings, smtp: SmtpSink) -> Settings:
    return replace(settings, smtp_host="127.0.0.1", smtp_port=smtp.port, mail_from="dnc@test")


@pytest.fixture
def private_redis() -> Iterator[PrivateRedis]:
    """A redis-server of the test's own, which it may flush, stop and start."""
    with PrivateRedis() as server:
        yield server
