"""`make bench`: the cost of one reconciliation round (what the worker runs every minute) next
to the old one, a full number-by-number verification, for one organization with
DNC_BENCH_RECONCILE_ROWS (default 10,000,000) random numbers, on a private redis-server."""

import math
import os
import statistics
import time
from dataclasses import replace

import asyncpg

from domain.usecases.mirror_repair import VERIFY_BUDGET, rebuild_mirror, reconcile, verify
from infra.redis.queue import ArqJobQueue
from infra.settings import Settings
from tests.support.bench import Row
from tests.support.helpers import Org, mirror_for, uow_for
from tests.support.servers import PrivateRedis

ROWS = int(os.environ.get("DNC_BENCH_RECONCILE_ROWS", "10000000"))
LOAD_CHUNK = 1_000_000
REPEATS = 5


async def test_reconciliation_round_against_full_verify(
    settings: Settings, org: Org, private_redis: PrivateRedis, report: list[Row]
) -> None:
    connection = await asyncpg.connect(settings.database_url)
    try:  # random NANP-shaped numbers, set-based, a million rows a statement
        for start in range(0, ROWS, LOAD_CHUNK):
            await connection.execute(
                """
                INSERT INTO dnc_entries (id, organization_id, phone_number, source)
                SELECT gen_random_uuid(), $1,
                       '1' || (200 + floor(random() * 800))::int
                           || (200 + floor(random() * 800))::int
                           || lpad(floor(random() * 10000)::int::text, 4, '0'),
                       'import'
                FROM generate_series(1, $2)
                ON CONFLICT DO NOTHING
                """,
                org.id, min(LOAD_CHUNK, ROWS - start),
            )  # fmt: skip
        count = await connection.fetchval(
            "SELECT count(*) FROM dnc_entries WHERE organization_id = $1", org.id
        )
        await connection.execute("VACUUM ANALYZE dnc_entries")
    finally:
        await connection.close()

    own = replace(settings, redis_url=private_redis.url)
    async with uow_for(own) as uow, mirror_for(own) as mirror:
        assert (await rebuild_mirror(uow, mirror, org.id)).loaded == count
        queue = ArqJobQueue(mirror.redis, own)  # type: ignore[arg-type]

        cheap, rounds = [], []
        for _ in range(REPEATS):
            started = time.perf_counter()
            assert await reconcile(uow, mirror, queue, verify_budget=0) == []
            cheap.append(time.perf_counter() - started)
            started = time.perf_counter()
            assert await reconcile(uow, mirror, queue) == []
            rounds.append(time.perf_counter() - started)

        started = time.perf_counter()
        drift = await verify(uow, mirror, org.id)
        full = time.perf_counter() - started
    assert not drift.drifted

    cheap_s, round_s = statistics.median(cheap), statistics.median(rounds)
    period = math.ceil(2 * count / VERIFY_BUDGET)
    minutes = period * settings.reconcile_seconds / 60
    report += [
        Row(f"reconcile: cheap check ({count:,} numbers)", f"{cheap_s * 1000:.1f} ms",
            "full verify (the old per-minute round)", f"{full:.2f} s", cheap_s / full),
        Row(f"reconcile: round, cheap + {VERIFY_BUDGET:,}-number slice", f"{round_s:.3f} s",
            "full verify (the old per-minute round)", f"{full:.2f} s", round_s / full),
        Row("reconcile: every number fully compared within", f"{period:,} rounds",
            f"at DNC_RECONCILE_SECONDS={settings.reconcile_seconds}", f"{minutes:,.0f} min"),
    ]  # fmt: skip
