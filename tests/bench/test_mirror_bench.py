"""`make bench`: Redis memory per listed number and rebuild time, for one organization with
DNC_BENCH_ROWS (default 1,000,000) random numbers, each next to its reference measured in the
same run on a private redis-server; and the memory per number of a named list holding as many
other numbers (its own mirror, with the same layout)."""

import os
import shutil
import subprocess
import time
from dataclasses import replace

import asyncpg

from domain.model import DEFAULT_LIST
from domain.usecases.lists import create_list
from domain.usecases.mirror_repair import rebuild_mirror
from infra.settings import Settings
from tests.support.bench import Row, used_memory
from tests.support.helpers import Org, mirror_for, uow_for
from tests.support.servers import PrivateRedis

ROWS = int(os.environ.get("DNC_BENCH_ROWS", "1000000"))
TARGET_BYTES = 6.0
TARGET_REBUILD_RATIO = 2.0


async def insert_random(settings: Settings, org: Org, list_id: str) -> int:
    """ROWS random NANP-shaped numbers on the list (1, area [2-9]xx, exchange [2-9]xx, line
    xxxx; the few repeats dropped); how many it holds."""
    connection = await asyncpg.connect(settings.database_url)
    try:
        await connection.execute(
            """
            INSERT INTO dnc_entries (id, organization_id, list_id, phone_number, source)
            SELECT gen_random_uuid(), $1, $3,
                   '1' || (200 + floor(random() * 800))::int || (200 + floor(random() * 800))::int
                       || lpad(floor(random() * 10000)::int::text, 4, '0'),
                   'import'
            FROM generate_series(1, $2)
            ON CONFLICT DO NOTHING
            """,
            org.id, ROWS, list_id,
        )  # fmt: skip
        count: int = await connection.fetchval(
            "SELECT count(*) FROM dnc_entries WHERE organization_id = $1 AND list_id = $2",
            org.id, list_id,
        )  # fmt: skip
        return count
    finally:
        await connection.close()


async def test_redis_memory_and_rebuild(
    settings: Settings, org: Org, private_redis: PrivateRedis, report: list[Row]
) -> None:
    count = await insert_random(settings, org, DEFAULT_LIST)

    own = replace(settings, redis_url=private_redis.url)
    before = used_memory(private_redis.port)
    async with uow_for(own) as uow, mirror_for(own) as mirror:
        started = time.perf_counter()
        rebuild = await rebuild_mirror(uow, mirror, org.id)
        rebuilt = time.perf_counter() - started
    assert rebuild.loaded == count
    per_number = (used_memory(private_redis.port) - before) / count

    # the reference: the same numbers straight from COPY into one Redis set
    psql, cli = shutil.which("psql"), shutil.which("redis-cli")
    assert psql
    assert cli
    query = (  # the id is a UUID the test made, not outside input
        f"COPY (SELECT 'SADD bench:raw ' || phone_number FROM dnc_entries "  # noqa: S608
        f"WHERE organization_id = '{org.id}' AND list_id = 'default') TO STDOUT"
    )
    started = time.perf_counter()
    copy = subprocess.Popen(
        [psql, "-q", settings.database_url, "-c", query], stdout=subprocess.PIPE
    )
    piped = subprocess.run(
        [cli, "-p", str(private_redis.port), "--pipe"],
        stdin=copy.stdout,
        capture_output=True,
        check=True,
    )
    copy.wait()
    raw = time.perf_counter() - started
    assert b"errors: 0" in piped.stdout, piped.stdout
    plain_set = (used_memory(private_redis.port) - before) / count - per_number

    async with uow_for(own) as uow, mirror_for(own) as mirror:  # a named list as big
        named = await create_list(uow, mirror, org.id, None, "campaign", None)
        named_count = await insert_random(settings, org, named.id)
        before = used_memory(private_redis.port)
        assert (await rebuild_mirror(uow, mirror, org.id, list_id=named.id)).loaded == named_count
    per_named = (used_memory(private_redis.port) - before) / named_count

    ratio = rebuilt / raw
    report += [
        Row(f"Redis bytes per listed number ({count:,})", f"{per_number:.1f} B",
            "a plain SET of the same strings", f"{plain_set:.1f} B", per_number / plain_set,
            "<= 6 B", per_number <= TARGET_BYTES),
        Row(f"Redis bytes per number on a named list ({named_count:,})", f"{per_named:.1f} B",
            "a plain SET of the same strings", f"{plain_set:.1f} B", per_named / plain_set,
            "<= 6 B", per_named <= TARGET_BYTES),
        Row(f"rebuild of {count:,} numbers", f"{rebuilt:.2f} s", "COPY piped to redis-cli --pipe",
            f"{raw:.2f} s", ratio, "<= 2.0x", ratio <= TARGET_REBUILD_RATIO),
    ]  # fmt: skip
