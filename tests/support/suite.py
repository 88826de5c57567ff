"""The suite's own database and Redis key prefix, and how they are cleaned.

Only what the suite created is ever dropped or deleted: the ``dnc_test_<hex>`` database and
the Redis keys that contain the suite's ``dnctest<hex>`` prefix.
"""

import os

import asyncpg
import redis

from infra.db.models import Base
from infra.settings import Settings

SERVER_URL = os.environ.get("DNC_TEST_DATABASE_SERVER", "postgresql://postgres@127.0.0.1:5432")
REDIS_URL = os.environ.get("DNC_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
TABLES = ", ".join(table.name for table in Base.metadata.sorted_tables)
# the tables that hold a row: most tests fill a few, and truncating an empty table costs as
# much as a full one (new files for it and its indexes)
FILLED = " UNION ALL ".join(
    f"(SELECT '{name}' FROM {name} LIMIT 1)"  # noqa: S608 (the models' own table names)
    for name in (table.name for table in Base.metadata.sorted_tables)
)
# what RESTART IDENTITY does for the tables left alone: their own sequences start again (a
# rolled-back insert takes a value without leaving a row)
RESTART_OWNED_SEQUENCES = """
    SELECT setval(s.seqrelid::regclass, s.seqstart, false)
    FROM pg_sequence s
    JOIN pg_depend d ON d.objid = s.seqrelid AND d.classid = 'pg_class'::regclass
        AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i')
    WHERE d.refobjid = ANY($1::regclass[])
"""
# DNC_TEST_REDIS_CLUSTER=1 (the second run of `make test`): the mirror lives on a private
# 3-master Redis Cluster started for the session; the job queue stays on REDIS_URL.
ON_CLUSTER = os.environ.get("DNC_TEST_REDIS_CLUSTER") == "1"


async def truncate_tables(settings: Settings) -> None:
    connection = await asyncpg.connect(settings.database_url)
    try:
        filled = [row[0] for row in await connection.fetch(FILLED)]
        if filled:
            await connection.execute(f"TRUNCATE {', '.join(filled)} RESTART IDENTITY CASCADE")
        await connection.execute(RESTART_OWNED_SEQUENCES, TABLES.split(", "))
        # the shared lists' numbers: a table per load (migration 0008)
        await connection.execute(
            "DROP SCHEMA IF EXISTS shared_numbers CASCADE; CREATE SCHEMA shared_numbers"
        )
    finally:
        await connection.close()


async def drop_database(settings: Settings) -> None:
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
