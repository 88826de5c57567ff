"""Test harness: a database and a Redis key prefix of the suite's own, cleaned after each test.

Only what the suite created is ever dropped or deleted: the ``dnc_test_<hex>`` database and
the Redis keys that contain the suite's ``dnctest<hex>`` prefix.
"""

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace

import asyncpg
import pytest
import redis
from litestar.testing import AsyncTestClient

from app.asgi import create_app
from infra.db.migrate import upgrade
from infra.db.models import Base
from infra.settings import Settings
from tests.helpers import Client, Org, SmtpSink, new_org
from tests.servers import PrivateRedis, PrivateRedisCluster

SERVER_URL = os.environ.get("DNC_TEST_DATABASE_SERVER", "postgresql://postgres@127.0.0.1:5432")
REDIS_URL = os.environ.get("DNC_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
TABLES = ", ".join(table.name for table in Base.metadata.sorted_tables)


# DNC_TEST_REDIS_CLUSTER=1 (the second run of `make test`): the mirror lives on a private
# 3-master Redis Cluster started for the session; the job queue stays on REDIS_URL.
ON_CLUSTER = os.environ.get("DNC_TEST_REDIS_CLUSTER") == "1"


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
        asyncio.run(_drop_database(settings))
        delete_redis_keys(settings)
        if cluster:
            cluster.stop()


@pytest.fixture
def settings(base_settings: Settings) -> Iterator[Settings]:
    yield base_settings
    asyncio.run(_truncate(base_settings))
    delete_redis_keys(base_settings)
    if base_settings.mirror_redis_cluster:  # the suite's own cluster: empty it
        PrivateRedisCluster.flush(base_settings.mirror_redis_cluster)


async def _truncate(settings: Settings) -> None:
    connection = await asyncpg.connect(settings.database_url)
    try:
        await connection.execute(f"TRUNCATE {TABLES} RESTART IDENTITY CASCADE")
    finally:
        await connection.close()


async def _drop_database(settings: Settings) -> None:
    connection = await asyncpg.connect(f"{SERVER_URL}/postgres")
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{settings.database_name}" WITH (FORCE)')
    finally:
        await connection.close()


def delete_redis_keys(settings: Settings) -> None:
    client = redis.Redis.from_url(settings.redis_url)
    try:
        keys = list(client.scan_iter(match=f"*{settings.redis_prefix}*", count=1000))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


@pytest.fixture
async def client(settings: Settings) -> AsyncIterator[Client]:
    async with AsyncTestClient(app=create_app(settings)) as test_client:
        yield test_client


@pytest.fixture
async def org(settings: Settings) -> Org:
    return await new_org(settings, "Acme Dialing")


@pytest.fixture
async def other_org(settings: Settings) -> Org:
    return await new_org(settings, "Other Corp")


@pytest.fixture
def smtp() -> Iterator[SmtpSink]:
    sink = SmtpSink()
    sink.start()
    yield sink
    sink.stop()


@pytest.fixture
def smtp_settings(settings: Settings, smtp: SmtpSink) -> Settings:
    return replace(settings, smtp_host="127.0.0.1", smtp_port=smtp.port, mail_from="dnc@test")


@pytest.fixture
def private_redis() -> Iterator[PrivateRedis]:
    """A redis-server of the test's own, which it may flush, stop and start."""
    server = PrivateRedis()
    server.start()
    yield server
    server.cleanup()
