"""`make bench`: a national registry of DNC_BENCH_REGISTRY_ROWS (default 10,000,000) numbers,
in area-code files, loaded by `dnc shared-list load` (file to both stores, swapped in) next to
a raw ``COPY`` of the same files into a one-index ``bigint`` table; its bytes per number in
Redis and in Postgres; single checks of an organization subscribed to it next to
``GET /health`` on the same server; and the worker's reconciliation round with it in place
next to the same round before it was loaded. Redis is a private redis-server of the bench's own."""

import json
import os
import random
import statistics
import subprocess
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from domain.nanp import VALID
from domain.phone import nanp_table
from domain.usecases.mirror_repair import rebuild_mirror
from domain.usecases.shared_repair import reconcile_all, reconcile_shared
from infra.redis.queue import ArqJobQueue
from infra.redis.shared import RedisSharedMirror
from infra.settings import Settings
from tests.support.bench import SECONDS, THREADS, Row, used_memory, wrk
from tests.support.helpers import Org, free_port, mirror_for, uow_for
from tests.support.processes import DNC, env_of, running
from tests.support.servers import PrivateRedis

ROWS = int(os.environ.get("DNC_BENCH_REGISTRY_ROWS", "10000000"))
FILES = 12  # the registry's files come one per area code; here, a range of area codes a file
ORG_ROWS = 250_000  # the organization's own list: more than one reconciliation slice
REPEATS = 5
TARGET_LOAD, TARGET_BYTES, TARGET_RECONCILE = 3.0, 6.0, 1.1


def registry(rows: int) -> list[int]:
    """``rows`` distinct valid NANP numbers (10 digits: area code and exchange from 2), in
    order."""
    table = nanp_table()
    prefixes = [
        p
        for p, verdict in enumerate(table)
        if verdict == VALID and p // 100_000 > 1 and p // 100 % 10 > 1
    ]
    picked = random.Random(10).sample(range(len(prefixes) * 10_000), rows)
    return sorted(prefixes[i // 10_000] * 10_000 + i % 10_000 for i in picked)


def write_files(numbers: list[int], folder: Path) -> list[Path]:
    """The numbers in FILES plain files, each holding whole area codes."""
    paths, start = [], 0
    for part in range(1, FILES + 1):
        end = len(numbers) * part // FILES
        while end < len(numbers) and numbers[end] // 10**7 == numbers[end - 1] // 10**7:
            end += 1
        if end > start:
            path = folder / f"area-{numbers[start] // 10**7}-{numbers[end - 1] // 10**7}.txt"
            path.write_bytes(b"".join(b"%010d\n" % n for n in numbers[start:end]))
            paths.append(path)
        start = end
    return paths


def dnc(settings: Settings, *args: str) -> dict[str, Any]:
    done = subprocess.run(
        [DNC, *args], env=env_of(settings), capture_output=True, text=True, timeout=7200,
        check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result


async def raw_copy(settings: Settings, paths: list[Path]) -> float:
    """Seconds to COPY the files into a table with one index, a ``bigint`` primary key."""
    connection = await asyncpg.connect(settings.database_url)
    try:
        await connection.execute("CREATE TABLE bench_registry_copy (n bigint PRIMARY KEY)")
        started = time.perf_counter()
        for path in paths:
            await connection.copy_to_table("bench_registry_copy", source=path)
        copied = time.perf_counter() - started
        await connection.execute("DROP TABLE bench_registry_copy")
        return copied
    finally:
        await connection.close()


async def own_entries(settings: Settings, org: Org) -> None:
    connection = await asyncpg.connect(settings.database_url)
    try:
        await connection.execute(
            """
            INSERT INTO dnc_entries (id, organization_id, phone_number, source)
            SELECT gen_random_uuid(), $1, '1212' || lpad(n::text, 7, '0'), 'import'
            FROM generate_series(2000000, 2000000 + $2 - 1) AS n
            """,
            org.id, ORG_ROWS,
        )  # fmt: skip
        await connection.execute("VACUUM ANALYZE dnc_entries")
    finally:
        await connection.close()


async def postgres_bytes(settings: Settings, list_id: str) -> int:
    connection = await asyncpg.connect(settings.database_url)
    try:
        generation = await connection.fetchval(
            "SELECT generation FROM shared_lists WHERE id = $1", list_id
        )
        size: int = await connection.fetchval(
            "SELECT pg_total_relation_size($1::regclass)", f"shared_numbers.g{generation}"
        )
        return size
    finally:
        await connection.close()


async def test_a_national_registry_loaded_checked_and_reconciled(
    settings: Settings, org: Org, private_redis: PrivateRedis, tmp_path: Path, report: list[Row]
) -> None:
    numbers = registry(ROWS)
    paths = write_files(numbers, tmp_path)
    copied = await raw_copy(settings, paths)

    own = replace(settings, redis_url=private_redis.url, port=free_port(), log_level="WARNING",
                  rate_limit_per_second=1e9, rate_limit_burst=1e9)  # fmt: skip
    await own_entries(own, org)
    async with uow_for(own) as uow, mirror_for(own) as mirror:
        assert (await rebuild_mirror(uow, mirror, org.id)).loaded == ORG_ROWS
        queue = ArqJobQueue(mirror.redis, own)  # type: ignore[arg-type]
        alone = []
        for _ in range(REPEATS):  # the worker's round before there is any shared list
            started = time.perf_counter()
            found = await reconcile_all(uow, mirror, RedisSharedMirror(mirror), queue)
            assert (found.drifted, found.rebuilt) == (0, [])
            alone.append(time.perf_counter() - started)

    list_id = dnc(own, "shared-list", "create", "--name", "National", "--kind", "registry")[
        "listId"
    ]
    before = used_memory(private_redis.port)
    started = time.perf_counter()
    loaded = dnc(own, "shared-list", "load", "--list", list_id, *map(str, paths))
    load_seconds = time.perf_counter() - started
    assert (loaded["count"], loaded["badLines"], loaded["mirrored"]) == (ROWS, 0, True), loaded
    redis_per_number = (used_memory(private_redis.port) - before) / ROWS
    pg_per_number = await postgres_bytes(own, list_id) / ROWS

    dnc(own, "shared-list", "subscribe", "--org", str(org.id), "--list", list_id)
    async with uow_for(own) as uow, mirror_for(own) as mirror:
        queue = ArqJobQueue(mirror.redis, own)  # type: ignore[arg-type]
        with_shared, shared_part = [], []
        for _ in range(REPEATS):  # the same round with the registry in place
            started = time.perf_counter()
            found = await reconcile_all(uow, mirror, RedisSharedMirror(mirror), queue)
            assert (found.drifted, found.rebuilt) == (0, [])
            with_shared.append(time.perf_counter() - started)
            started = time.perf_counter()
            assert await reconcile_shared(uow, RedisSharedMirror(mirror)) == []
            shared_part.append(time.perf_counter() - started)

    token = await org.token_for(org.admin_email, scope="check")
    listed = f"{numbers[ROWS // 2]:010d}"
    check_url = f"http://127.0.0.1:{own.port}/api/dnc/check?phoneNumber=%2B1{listed}"
    with running(("serve", own), stop_within=20):
        answer = httpx.get(check_url, headers={"Authorization": f"Bearer {token}"}).json()
        assert (answer["data"]["reason"], answer["data"]["lists"]) == ("registry", [list_id])
        health = wrk(f"http://127.0.0.1:{own.port}/health", 64, token)
        single = wrk(check_url, 64, token)
    assert single.errors == 0

    load_ratio = load_seconds / copied
    check_ratio = single.requests_per_second / health.requests_per_second
    tail = single.p99_ms / single.p50_ms
    alone_s, round_s = statistics.median(alone), statistics.median(with_shared)
    shared_s = statistics.median(shared_part)
    setup = f"wrk -t{THREADS} {SECONDS} s"
    report += [
        Row(f"shared list load, {ROWS:,} numbers in {len(paths)} files (dnc shared-list load)",
            f"{load_seconds:.1f} s", "raw COPY into a bigint PK table", f"{copied:.1f} s",
            load_ratio, "<= 3x", load_ratio <= TARGET_LOAD),
        Row(f"Redis bytes per number, shared list ({ROWS:,})", f"{redis_per_number:.2f} B",
            "", "", None, "<= 6 B", redis_per_number <= TARGET_BYTES),
        Row(f"Postgres bytes per number, shared list ({ROWS:,})", f"{pg_per_number:.1f} B",
            "(table and primary key)", "", None),
        Row(f"GET /check, subscribed to {ROWS:,} numbers, 64 connections ({setup})",
            f"{single.requests_per_second:,.0f} req/s", "GET /health",
            f"{health.requests_per_second:,.0f} req/s", check_ratio, ">= 0.85x",
            check_ratio >= 0.85),
        Row("GET /check p99 / p50, subscribed, 64 connections",
            f"{single.p99_ms:.1f} / {single.p50_ms:.1f} ms", "", "", tail, "<= 3x", tail <= 3),
        Row(f"reconcile: round, {ORG_ROWS:,} own numbers + the {ROWS:,} shared list",
            f"{round_s:.3f} s", "the same round before it", f"{alone_s:.3f} s",
            round_s / alone_s, "<= 1.1x", round_s / alone_s <= TARGET_RECONCILE),
        Row("reconcile: the shared lists' half of that round", f"{shared_s:.3f} s",
            "the whole round", f"{round_s:.3f} s", shared_s / round_s),
    ]  # fmt: skip
