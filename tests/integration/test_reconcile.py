"""Reconciliation whose per-minute cost does not grow with the list: the counts and checksums
both stores keep (real Postgres triggers, real Redis scripts) agree after every kind of write,
the cheap check catches lost writes, and the rotating full verification catches what was done
behind the scripts' back within its period."""

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import cast
from uuid import UUID

import asyncpg
import pytest

from domain.checksum import P1, P2, P3, Checksum
from domain.time import utcnow
from domain.usecases import mirror_sync as mirror_module
from domain.usecases.mirror_repair import (
    check_summary,
    rebuild_mirror,
    reconcile,
    verify,
    verify_slice,
)
from domain.usecases.mirror_sync import record_change, sync_mirror
from infra.db.migrate import create_database_if_missing, upgrade
from infra.redis.layout import locate
from infra.redis.mirror import RedisMirror
from infra.redis.queue import ArqJobQueue, rebuild_job_id
from infra.settings import Settings
from tests.support.helpers import (
    Client,
    Org,
    arq_for,
    body,
    is_blocked,
    mirror_for,
    new_org,
    run_worker,
    sql,
    uow_for,
)
from tests.support.suite import SERVER_URL

# numbers at the edges of the range (15 digits), for the scripts' and the trigger's arithmetic
EDGE = ["999999999999999", "100000000000000", "868888888888888", "12125551234"]
# valid numbers of several lengths, for the API
VALID = ["4930123456789", "8613800138000", "442071838750", "12125551234"]


@pytest.fixture
async def queue(settings: Settings) -> AsyncIterator[ArqJobQueue]:
    """The job queue (on the queue's Redis, also when the mirror is on a cluster)."""
    async with arq_for(settings) as arq:
        yield ArqJobQueue(arq, settings)


async def listed_numbers(settings: Settings, org: Org) -> list[str]:
    rows = await sql(
        settings,
        "SELECT phone_number FROM dnc_entries WHERE organization_id = $1 AND removed_at IS NULL",
        org.id,
    )
    return [r[0] for r in rows]


async def both_sides(settings: Settings, org: Org) -> tuple[Checksum, Checksum | None, Checksum]:
    """Postgres's kept checksum, Redis's kept checksum, and the checksum of what Redis holds."""
    async with uow_for(settings) as uow, mirror_for(settings) as mirror:
        async with uow:
            truth = await uow.entries.mirror_truth(org.id, utcnow(), 10_000)
        probe = await mirror.probe(org.id)
        members = await mirror.members(org.id)
    assert members is not None
    return truth.listed, probe.checksum, Checksum.of(members)


async def assert_agree(settings: Settings, org: Org) -> Checksum:
    """Both kept checksums equal the checksum of the actual contents, and the cheap check
    finds nothing."""
    listed = Checksum.of(await listed_numbers(settings, org))
    kept_postgres, kept_redis, held = await both_sides(settings, org)
    assert kept_postgres == listed
    assert kept_redis == held
    assert held == listed
    async with uow_for(settings) as uow, mirror_for(settings) as mirror:
        drift = await check_summary(uow, mirror, org.id)
    assert drift is not None
    assert not drift.drifted, drift
    return listed


async def bulk_add(client: Client, org: Org, numbers: list[str], **extra: object) -> None:
    items = [{"phoneNumber": "+" + n, **extra} for n in numbers]
    response = await client.post("/api/dnc/bulk-add", json={"numbers": items}, headers=org.headers)
    assert response.status_code == 200, response.text
    outcomes = [r["outcome"] for r in body(response)["data"]["results"]]
    assert "invalid" not in outcomes, outcomes


async def remove(client: Client, org: Org, number: str) -> None:
    response = await client.post(
        "/api/dnc/remove", json={"phoneNumber": "+" + number}, headers=org.headers
    )
    assert response.status_code == 200, response.text


def test_the_checksum_is_the_documented_one() -> None:
    """Three primes below 2^26: every Lua term below 2^53."""
    assert max(P1, P2, P3) < 2**26
    assert (P1 - 1) ** 2 < 2**53
    assert P1 * P2 > 10**15
    assert Checksum.of(["5", "7"]) == Checksum.of([5]) + Checksum.of([7])
    assert Checksum.of(["5", "7"]) - Checksum.of([7]) == Checksum.of([5])
    # one number in place of another changes the sums, however the numbers are chosen
    assert Checksum.of(["12125550001"]) != Checksum.of([12125550001 + P1])
    assert Checksum.of(["12125550001", "12125550004"]) != Checksum.of(
        ["12125550002", "12125550003"]
    )


async def test_both_sides_agree_after_every_kind_of_write(
    settings: Settings, client: Client, org: Org
) -> None:
    assert await assert_agree(settings, org) == Checksum()

    await bulk_add(client, org, VALID + [f"1212555{i:04d}" for i in range(100)])
    await assert_agree(settings, org)
    await bulk_add(client, org, [*VALID[:2], "14155550100"])  # duplicates and one new
    await assert_agree(settings, org)

    csv = "phoneNumber,type\n" + "\n".join(f"+1646555{i:04d},import" for i in range(50))
    csv += "\n+12125550001,dup\n"
    response = await client.post(
        "/api/dnc/import",
        content=csv.encode(),
        headers={**org.headers, "Content-Type": "text/csv"},
    )
    assert response.status_code == 200, response.text
    await assert_agree(settings, org)

    for number in [VALID[0], "12125550007", "16465550003"]:
        await remove(client, org, number)
    await assert_agree(settings, org)

    async with uow_for(settings) as uow, mirror_for(settings) as mirror:
        await rebuild_mirror(uow, mirror, org.id)
    held = await assert_agree(settings, org)
    assert held.count == len(VALID) + 100 + 1 + 50 - 3


async def test_the_scripts_and_the_trigger_compute_the_same_checksum_at_the_edges(
    settings: Settings, org: Org
) -> None:
    """15-digit numbers (near 10^15, beyond 2^49) through every script and the trigger."""
    await sql(
        settings,
        "INSERT INTO dnc_entries (id, organization_id, phone_number, source) "
        "SELECT gen_random_uuid(), $1, n, 'api' FROM unnest($2::text[]) AS n",
        org.id,
        EDGE,
    )
    async with mirror_for(settings) as mirror:
        await mirror.apply(org.id, add=EDGE)
        await mirror.apply(org.id, add=EDGE[:2])  # already there: no change
        await mirror.apply(org.id, remove=["999999999999998"])  # not there: no change
    await assert_agree(settings, org)
    assert (await both_sides(settings, org))[1] == Checksum.of(EDGE)
    async with uow_for(settings) as uow, mirror_for(settings) as mirror:
        await rebuild_mirror(uow, mirror, org.id)  # load.lua
    await assert_agree(settings, org)
    await sql(
        settings,
        "UPDATE dnc_entries SET removed_at = now() WHERE organization_id = $1 "
        "AND phone_number = $2",
        org.id,
        EDGE[0],
    )
    async with mirror_for(settings) as mirror:
        await mirror.apply(org.id, remove=[EDGE[0]])
    assert await assert_agree(settings, org) == Checksum.of(EDGE[1:])


async def test_entries_that_expired_but_are_not_retired_yet_are_no_drift(
    settings: Settings, client: Client, org: Org, queue: ArqJobQueue
) -> None:
    """Redis may hold an expired entry until the expiry job retires it (it was written while
    it blocked), or not (a sync since re-read it): neither is drift, and the retirement keeps
    both sides equal."""
    soon = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    await bulk_add(client, org, ["12125550101", "12125550102", "12125550103"], expiresAt=soon)
    await bulk_add(client, org, ["12125550104"])
    await sql(  # time passes for two of them (a changed expiry changes no checksum)
        settings,
        "UPDATE dnc_entries SET expires_at = now() - interval '1 minute' "
        "WHERE organization_id = $1 AND phone_number IN ('12125550101', '12125550102')",
        org.id,
    )
    async with uow_for(settings) as uow, mirror_for(settings) as mirror:
        drift = await check_summary(uow, mirror, org.id)
        assert drift is not None
        assert not drift.drifted, drift
        async with uow:  # a sync re-reads 12125550101: expired, so Redis drops it
            await record_change(uow, org.id, ["12125550101"])
            await uow.commit()
        await sync_mirror(uow, mirror, org.id)
        assert (await mirror.probe(org.id, ["12125550101", "12125550102"])).members == (
            False,
            True,
        )
        drift = await check_summary(uow, mirror, org.id)
        assert drift is not None
        assert not drift.drifted, drift
        assert not (await verify(uow, mirror, org.id)).drifted
        assert await reconcile(uow, mirror, ArqJobQueue(mirror.redis, settings)) == []  # type: ignore[arg-type]

    from domain.usecases.entries import expire_due

    async with uow_for(settings) as uow, mirror_for(settings) as mirror:
        assert await expire_due(uow, mirror) == 2
    held = await assert_agree(settings, org)
    assert held == Checksum.of(["12125550103", "12125550104"])


async def test_the_cheap_check_catches_lost_writes_and_the_rebuild_repairs_them(
    settings: Settings, client: Client, org: Org, other_org: Org, queue: ArqJobQueue
) -> None:
    await bulk_add(client, org, ["12125550201", "12125550202"])
    await bulk_add(client, other_org, ["12125550201"])

    # a number written to Postgres that never reached the mirror (no outbox row, no apply)
    await sql(
        settings,
        "INSERT INTO dnc_entries (id, organization_id, phone_number, source) "
        "VALUES (gen_random_uuid(), $1, '12125550299', 'api')",
        org.id,
    )
    assert not await is_blocked(client, org, "+12125550299")  # what a dialer would see today
    async with uow_for(settings) as uow, mirror_for(settings) as mirror:
        found = await reconcile(uow, mirror, queue, verify_budget=0)  # the cheap check only
    assert [(d.organization_id, d.checksum_differs) for d in found] == [(org.id, True)]
    assert found[0].postgres == 3
    assert found[0].redis == 2
    await run_worker(settings)  # the rebuild it asked for
    assert await is_blocked(client, org, "+12125550299")
    await assert_agree(settings, org)

    # a removal written to Postgres that never reached the mirror
    await sql(
        settings,
        "UPDATE dnc_entries SET removed_at = now() "
        "WHERE organization_id = $1 AND phone_number = '12125550201'",
        org.id,
    )
    # a Redis write whose Postgres transaction never committed (the other organization)
    async with mirror_for(settings) as mirror:
        await mirror.apply(other_org.id, add=["12125550777"])
    async with uow_for(settings) as uow, mirror_for(settings) as mirror:
        found = await reconcile(uow, mirror, queue, verify_budget=0)
    assert sorted(str(d.organization_id) for d in found) == sorted([str(org.id), str(other_org.id)])
    await run_worker(settings)
    await assert_agree(settings, org)
    await assert_agree(settings, other_org)
    assert not await is_blocked(client, other_org, "+12125550777")


async def test_a_flag_that_differs_is_drift(settings: Settings, client: Client, org: Org) -> None:
    await bulk_add(client, org, ["12125550301"])
    async with mirror_for(settings) as mirror:
        await mirror.apply(org.id, enabled=False)  # the toggle's commit never happened
        assert not await is_blocked(client, org, "+12125550301")
        async with uow_for(settings) as uow:
            drift = await check_summary(uow, mirror, org.id)
    assert drift is not None
    assert drift.checksum_differs


async def test_a_mirror_without_checksums_is_rebuilt_once(
    settings: Settings, client: Client, org: Org, queue: ArqJobQueue
) -> None:
    """A mirror built before checksums were kept reads as drifted, and the rebuild adds them."""
    await bulk_add(client, org, ["12125550401", "12125550402"])
    async with mirror_for(settings) as mirror:
        await cast(
            Awaitable[int],
            mirror.redis.hdel(mirror.meta_key(org.id), "count", "sum1", "sum2", "sum3"),
        )
        await mirror.apply(org.id, add=["12125550403"])  # writes go on without a checksum
        assert (await mirror.probe(org.id)).checksum is None
        async with uow_for(settings) as uow:
            found = await reconcile(
                uow,
                mirror,
                queue,
                verify_budget=0,
            )
    assert [d.organization_id for d in found] == [org.id]
    await run_worker(settings)
    await assert_agree(settings, org)


async def test_a_sync_in_flight_is_not_drift(
    settings: Settings, client: Client, org: Org, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A committed change whose sync has not run yet (the process died after the commit):
    the check applies the sync first instead of calling it drift."""

    async def lost(*_: object, **__: object) -> bool:
        return True

    await bulk_add(client, org, ["12125550501"])
    monkeypatch.setattr(RedisMirror, "apply", lost)
    monkeypatch.setattr(mirror_module, "sync_mirror", lost)
    await bulk_add(client, org, ["12125550502"])
    await remove(client, org, "12125550501")
    monkeypatch.undo()
    async with uow_for(settings) as uow:
        async with uow:
            assert await uow.outbox.has_pending(org.id, "mirror.sync")
    async with uow_for(settings) as uow, mirror_for(settings) as mirror:
        drift = await check_summary(uow, mirror, org.id)
    assert drift is not None
    assert not drift.drifted, drift
    await assert_agree(settings, org)


async def test_reconciling_while_writers_write_finds_no_drift(
    settings: Settings, client: Client, org: Org, queue: ArqJobQueue
) -> None:
    """Adds, bulk adds, removes and imports run through the API while reconciliation rounds
    (cheap checks and full slices) run side by side: none reports drift."""
    stop = asyncio.Event()
    rounds: list[int] = []

    async def reconciler() -> None:
        async with uow_for(settings) as uow, mirror_for(settings) as mirror:
            while not stop.is_set():
                found = await reconcile(uow, mirror, queue, verify_budget=300)
                assert found == [], found
                rounds.append(1)
                await asyncio.sleep(0)

    async def writer(seed: int) -> None:
        for i in range(12):
            numbers = [f"1212{seed}{i:02d}{j:04d}" for j in range(20)]
            await bulk_add(client, org, numbers)
            await remove(client, org, numbers[i % 20])
            csv = "phoneNumber\n" + "\n".join(f"+1646{seed}{i:02d}{j:04d}" for j in range(10))
            response = await client.post(
                "/api/dnc/import",
                content=csv.encode(),
                headers={**org.headers, "Content-Type": "text/csv"},
            )
            assert response.status_code == 200, response.text

    task = asyncio.create_task(reconciler())
    try:
        await asyncio.wait_for(asyncio.gather(writer(5), writer(7)), timeout=120)
        deadline = asyncio.get_running_loop().time() + 30
        while len(rounds) < 3 and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.05)
    finally:
        stop.set()
        await task
    assert len(rounds) >= 3
    await assert_agree(settings, org)


async def _load(settings: Settings, org: Org, count: int, start: int) -> None:
    await sql(
        settings,
        "INSERT INTO dnc_entries (id, organization_id, phone_number, source) "
        "SELECT gen_random_uuid(), $1, (12125550000 + $2 + i * 3)::text, 'import' "
        "FROM generate_series(1, $3) AS i",
        org.id,
        start,
        count,
    )
    async with uow_for(settings) as uow, mirror_for(settings) as mirror:
        await rebuild_mirror(uow, mirror, org.id)


@pytest.fixture
async def two_lists(settings: Settings, org: Org, other_org: Org) -> list[Org]:
    await _load(settings, org, 2000, 0)
    await _load(settings, other_org, 1000, 3)
    return sorted([org, other_org], key=lambda o: o.id)


BUDGET = 500  # numbers per round: 2 * 3,000 / 500 = 12 rounds for both lists


async def rounds_until_drift(settings: Settings, target: UUID, limit: int) -> int:
    async with uow_for(settings) as uow, mirror_for(settings) as mirror:
        for done in range(1, limit + 1):
            drifts = await verify_slice(uow, mirror, BUDGET)
            if any(d.organization_id == target for d in drifts):
                return done
    return 0


@pytest.mark.parametrize("edit", ["srem", "sadd"])
async def test_a_bucket_edited_behind_the_scripts_back_is_found_within_the_period(
    settings: Settings, client: Client, two_lists: list[Org], edit: str, queue: ArqJobQueue
) -> None:
    """The cheap check cannot see it (the scripts kept the checksum; the edit bypassed them):
    the rotating full verification finds it within one period."""
    victim = two_lists[1]
    number = (await listed_numbers(settings, victim))[0] if edit == "srem" else "19175550100"
    async with mirror_for(settings) as mirror:
        state = await mirror.state(victim.id)
        assert state.generation
        assert state.buckets
        # the walk is somewhere in the middle of its period
        for _ in range(5):
            async with uow_for(settings) as uow:
                assert await verify_slice(uow, mirror, BUDGET) == []
        bucket, member = locate(int(number), state.buckets)
        key = mirror.bucket_key(victim.id, state.generation, bucket)
        command = mirror.redis.srem if edit == "srem" else mirror.redis.sadd
        assert await cast(Awaitable[int], command(key, member)) == 1
        async with uow_for(settings) as uow:
            cheap = await check_summary(uow, mirror, victim.id)
    assert cheap is not None
    assert not cheap.drifted  # by design: this is what the full slices are for
    assert await is_blocked(client, victim, "+" + number) is (edit == "sadd")

    period = -(-2 * 3000 // BUDGET) + 2  # rounds (+2: chunk boundaries at organization ends)
    found_in = await rounds_until_drift(settings, victim.id, period)
    assert found_in, f"not found within {period} rounds"

    async with uow_for(settings) as uow, mirror_for(settings) as mirror:
        found = await reconcile(uow, mirror, queue, 10**6)
        assert victim.id in [d.organization_id for d in found]
        drift = next(d for d in found if d.organization_id == victim.id)
        assert (drift.missing_in_redis, drift.extra_in_redis) == (
            (1, 0) if edit == "srem" else (0, 1)
        )
    assert await queue.arq.exists(rebuild_job_id_key(settings, victim.id))
    await run_worker(settings)
    assert await is_blocked(client, victim, "+" + number) is (edit == "srem")
    async with uow_for(settings) as uow, mirror_for(settings) as mirror:
        assert not (await verify(uow, mirror, victim.id)).drifted


def rebuild_job_id_key(settings: Settings, organization_id: UUID) -> str:
    return f"arq:job:{rebuild_job_id(settings, organization_id)}"


async def test_a_superseded_rebuild_stops_loading(settings: Settings, org: Org) -> None:
    async with mirror_for(settings) as mirror:
        first = await mirror.begin_rebuild(org.id, 10)
        assert await mirror.load_buckets(org.id, first, [(0, [1, 2])])
        second = await mirror.begin_rebuild(org.id, 10)
        assert not await mirror.load_buckets(org.id, first, [(1, [3])])
        assert await mirror.load_buckets(org.id, second, [(1, [3])])
        assert not await mirror.swap(org.id, first, True, "now", 2)
        assert await mirror.swap(org.id, second, True, "now", 1)
        assert (await mirror.probe(org.id)).checksum == Checksum.of([3 * second.buckets + 1])


async def test_the_migration_backfills_existing_lists(settings: Settings) -> None:
    """Upgrading a database that has lists already gives each organization its checksum."""
    own = replace(settings, database_url=f"{SERVER_URL}/dnc_test_mig_{uuid.uuid4().hex[:10]}")
    assert await create_database_if_missing(own)
    try:
        await asyncio.to_thread(upgrade, own, "0003")
        org_ids = [uuid.uuid4(), uuid.uuid4()]
        for position, org_id in enumerate(org_ids):
            await sql(own, "INSERT INTO organizations (id, name) VALUES ($1, 'o')", org_id)
            await sql(
                own,
                "INSERT INTO dnc_entries (id, organization_id, phone_number, source, removed_at) "
                "SELECT gen_random_uuid(), $1, (999999999990000 + i)::text, 'api', "
                "CASE WHEN i % 3 = 0 THEN now() END FROM generate_series(1, $2) AS i",
                org_id,
                100 * (position + 1),
            )
        await asyncio.to_thread(upgrade, own, "head")
        for position, org_id in enumerate(org_ids):
            count = 100 * (position + 1)
            expected = Checksum.of(999999999990000 + i for i in range(1, count + 1) if i % 3)
            rows = await sql(
                own,
                "SELECT sum(count), sum(sum1) % $2, sum(sum2) % $3, sum(sum3) % $4 "
                "FROM mirror_checksums WHERE organization_id = $1",
                org_id,
                P1,
                P2,
                P3,
            )
            assert Checksum(*(int(v) for v in rows[0])) == expected
    finally:
        connection = await asyncpg.connect(f"{SERVER_URL}/postgres")
        try:
            await connection.execute(f'DROP DATABASE IF EXISTS "{own.database_name}" WITH (FORCE)')
        finally:
            await connection.close()


async def test_new_org_helper_is_checked(settings: Settings) -> None:
    """An organization with an empty list compares equal (nothing kept on either side yet)."""
    fresh = await new_org(settings, "Empty Inc")
    await assert_agree(settings, fresh)


async def test_a_live_write_during_the_load_is_counted_once(settings: Settings, org: Org) -> None:
    """A number added (and one removed) by a live write while the rebuild loads: the build's
    checksum counts what the generation holds, not what was sent to it."""
    async with mirror_for(settings) as mirror:
        build = await mirror.begin_rebuild(org.id, 10)
        both, gone = 12125550601, 12125550602
        await mirror.apply(org.id, add=[str(both)])  # reaches the generation being built
        bucket, member = locate(both, build.buckets)
        extra = locate(12125550603, build.buckets)
        groups = [(bucket, [member, extra[1]] if extra[0] == bucket else [member])]
        if extra[0] != bucket:
            groups.append((extra[0], [extra[1]]))
        assert await mirror.load_buckets(org.id, build, groups)
        await mirror.apply(org.id, remove=[str(gone)])  # never loaded: no change
        assert await mirror.swap(org.id, build, True, "now", 2)
        probe = await mirror.probe(org.id)
        assert probe.checksum == Checksum.of([both, 12125550603])
        assert probe.checksum == Checksum.of(await mirror.members(org.id) or [])
