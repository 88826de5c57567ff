"""Repairing a mirror whole (domain/usecases/mirror_repair.py), against the in-memory fakes: a
rebuild swaps in a generation loaded from Postgres without losing the writes made meanwhile;
the reconciliation finds drift cheaply (checksums) and slice by slice (every number), and asks
for a rebuild. The same repairs run against real Redis and Postgres in
tests/integration/test_reconcile.py and tests/integration/test_worker_faults.py."""

from collections.abc import Sequence
from dataclasses import replace
from datetime import timedelta
from uuid import UUID

import pytest

from domain.errors import Unavailable
from domain.model import Drift, MirrorBuild, RebuildReport, VerifyCursor
from domain.time import utcnow
from domain.usecases import mirror_repair
from domain.usecases.checks import check_numbers
from domain.usecases.entries import add_number, remove_number
from domain.usecases.mirror_repair import (
    check_summary,
    rebuild_mirror,
    reconcile,
    verify,
    verify_slice,
)
from tests.unit.world import LISTED, World

OTHER = "12125550101"
THIRD = "12125550102"


async def expire(world: World, *numbers: str) -> None:
    """These listed numbers' entries expired a minute ago (the expiry job has not run)."""
    t = world.uow.committed
    for entry in list(t.entries.values()):
        if entry.phone_number in numbers and entry.id not in t.removed:
            t.entries[entry.id] = replace(entry, expires_at=utcnow() - timedelta(minutes=1))


async def listed(world: World, *numbers: str) -> None:
    for number in numbers:
        await world.add(number, expires_at=utcnow() + timedelta(days=1))


async def test_a_rebuild_loads_what_checks_block_and_swaps_it_in(world: World) -> None:
    await listed(world, LISTED, OTHER, THIRD, "2125550103")
    await expire(world, THIRD)
    await remove_number(world.uow, world.mirror, world.principal, "2125550103", None)
    world.mirror.restart()  # Redis came back empty
    result = await check_numbers(world.uow, world.mirror, world.rebuilds, world.org, [LISTED])
    assert result.source == "postgres"
    progress: list[tuple[int, int]] = []
    report = await rebuild_mirror(
        world.uow,
        world.mirror,
        world.org,
        world.principal.user_id,
        lambda done, total: progress.append((done, total)),
    )
    assert report == RebuildReport(world.org, 2, True)
    assert progress[-1] == (2, 2)
    assert world.mirror.numbers[world.org] == {LISTED, OTHER}
    state = await world.mirror.state(world.org)
    assert (state.ready, state.enabled, state.building, state.rebuilt_count) == (
        True,
        True,
        False,
        2,
    )
    event = world.uow.committed.audit[-1]
    assert (event.action, event.actor_user_id, event.after) == (
        "cache.rebuild",
        world.principal.user_id,
        {"count": 2},
    )
    result = await check_numbers(
        world.uow, world.mirror, world.rebuilds, world.org, [LISTED, THIRD]
    )
    assert (result.source, [v.blocked for v in result.verdicts]) == ("redis", [True, False])


async def test_a_rebuild_takes_the_dnc_switch_from_postgres(world: World) -> None:
    await world.add()
    t = world.uow.committed
    t.organizations[world.org] = replace(t.organizations[world.org], dnc_enabled=False)
    world.mirror.restart()
    await rebuild_mirror(world.uow, world.mirror, world.org)
    result = await check_numbers(world.uow, world.mirror, world.rebuilds, world.org, [LISTED])
    assert (result.source, result.dnc_enabled, result.verdicts[0].blocked) == (
        "redis",
        False,
        False,
    )


async def test_writes_made_while_a_rebuild_loads_are_in_the_generation_it_swaps_in(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The load reads a snapshot taken before a removal committed, so it loads the removed
    number back; the swap re-reads the truth of every number changed since the rebuild began."""
    await listed(world, LISTED, OTHER)
    elsewhere = world.uow.another()  # an API process, while the worker rebuilds
    cmd = await world.call(THIRD)
    load = world.mirror.load_buckets

    async def writes_meanwhile(
        organization_id: UUID, build: MirrorBuild, groups: Sequence[tuple[int, list[int]]]
    ) -> bool:
        await remove_number(elsewhere, world.mirror, world.principal, LISTED, "asked")
        await add_number(elsewhere, world.mirror, world.queue, world.principal, cmd)
        return await load(organization_id, build, groups)

    monkeypatch.setattr(world.mirror, "load_buckets", writes_meanwhile)
    report = await rebuild_mirror(world.uow, world.mirror, world.org)
    assert (report.loaded, report.swapped) == (2, True)  # LISTED and OTHER, as they were
    assert world.mirror.numbers[world.org] == {OTHER, THIRD}
    assert await world.blocked(LISTED, OTHER, THIRD) == [False, True, True]
    assert world.pending_syncs() == 0


async def test_a_rebuild_overtaken_by_another_leaves_the_live_generation_alone(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    await world.add()
    live = world.mirror.live[world.org]
    load = world.mirror.load_buckets

    async def overtaken(
        organization_id: UUID, build: MirrorBuild, groups: Sequence[tuple[int, list[int]]]
    ) -> bool:
        await world.mirror.begin_rebuild(organization_id, 1)  # a second rebuild begins
        return await load(organization_id, build, groups)

    monkeypatch.setattr(world.mirror, "load_buckets", overtaken)
    report = await rebuild_mirror(world.uow, world.mirror, world.org)
    assert report == RebuildReport(world.org, 0, False)
    assert world.mirror.live[world.org] is live
    assert "cache.rebuild" not in world.actions()


async def test_a_mirror_in_step_is_left_alone(world: World) -> None:
    await listed(world, LISTED, OTHER)
    other = world.new_org("Other")
    await world.add(THIRD, principal=other)
    assert await reconcile(world.uow, world.mirror, world.queue) == []
    assert world.queue.rebuilds == []


async def test_a_lost_write_is_found_by_the_checksums_and_rebuilt(world: World) -> None:
    await listed(world, LISTED, OTHER)
    world.mirror.live[world.org].write((), [LISTED])  # a remove that never happened
    [drift] = await reconcile(world.uow, world.mirror, world.queue)
    assert (drift.organization_id, drift.postgres, drift.redis, drift.checksum_differs) == (
        world.org,
        2,
        1,
        True,
    )
    assert world.queue.rebuilds == [world.org]


@pytest.mark.parametrize("fault", ["not ready", "flag", "no checksum", "restarted"])
async def test_a_mirror_that_cannot_be_trusted_is_rebuilt(world: World, fault: str) -> None:
    await world.add()
    if fault == "not ready":  # restored from another Redis process's snapshot
        world.mirror.ready[world.org] = False
    elif fault == "flag":
        world.mirror.enabled[world.org] = False
    elif fault == "no checksum":  # built before checksums were kept
        world.mirror.live[world.org].checksum = None
    else:
        world.mirror.restart()
    [drift] = await reconcile(world.uow, world.mirror, world.queue)
    assert drift.drifted
    assert drift.ready is (fault in ("flag", "no checksum"))
    assert world.queue.rebuilds == [world.org]


async def test_expired_entries_waiting_for_the_expiry_job_are_not_drift(world: World) -> None:
    """Redis holds an entry that expired since its last write until the expiry job retires
    it; one a sync took out already is not missing either."""
    await listed(world, LISTED, OTHER, THIRD)
    await expire(world, LISTED, OTHER)
    world.mirror.live[world.org].write((), [OTHER])  # a sync after the expiry took it out
    assert await reconcile(world.uow, world.mirror, world.queue) == []
    assert await verify(world.uow, world.mirror, world.org) == Drift(world.org, True, 1, 2, 0, 0)


async def test_a_sync_pending_is_applied_before_the_comparison(world: World) -> None:
    await listed(world, LISTED, OTHER)
    world.mirror.down = True
    with pytest.raises(Unavailable):
        await remove_number(world.uow, world.mirror, world.principal, LISTED, None)
    world.mirror.down = False
    drift = await check_summary(world.uow, world.mirror, world.org)
    assert drift is not None
    assert (drift.drifted, drift.postgres, drift.redis) == (False, 1, 1)
    assert world.pending_syncs() == 0
    assert world.mirror.numbers[world.org] == {OTHER}


async def test_too_many_entries_waiting_for_the_expiry_job_defer_the_comparison(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(mirror_repair, "EXPIRING_PROBED", 1)
    await listed(world, LISTED, OTHER)
    await expire(world, LISTED, OTHER)
    world.mirror.live[world.org].write((), [LISTED])  # drift, but not compared this round
    assert await check_summary(world.uow, world.mirror, world.org) is None


async def test_one_organization_failing_does_not_stop_the_others(world: World) -> None:
    other = world.new_org("Other").organization_id
    world.mirror.restart()
    world.mirror.away.add(world.org)  # Acme's Redis Cluster node
    drifts = await reconcile(world.uow, world.mirror, world.queue)
    assert [d.organization_id for d in drifts] == [other]
    assert world.queue.rebuilds == [other]


async def test_a_rebuild_that_cannot_be_requested_is_asked_for_next_round(world: World) -> None:
    world.mirror.restart()
    world.queue.down = True
    assert [d.organization_id for d in await reconcile(world.uow, world.mirror, world.queue)] == [
        world.org
    ]
    world.queue.down = False
    await reconcile(world.uow, world.mirror, world.queue)
    assert world.queue.rebuilds == [world.org]


@pytest.mark.parametrize("edit", ["extra", "missing"])
async def test_a_hand_edit_the_checksums_cannot_see_is_found_number_by_number(
    world: World, edit: str
) -> None:
    await listed(world, LISTED, OTHER)
    live = world.mirror.live[world.org]
    if edit == "extra":
        live.numbers.add(THIRD)  # behind the scripts' back: the checksum stays as it was
    else:
        live.numbers.discard(LISTED)
    cheap = await check_summary(world.uow, world.mirror, world.org)
    assert cheap is not None
    assert not cheap.drifted
    [drift] = await reconcile(world.uow, world.mirror, world.queue)
    assert (drift.extra_in_redis, drift.missing_in_redis) == ((1, 0) if edit == "extra" else (0, 1))
    assert world.queue.rebuilds == [world.org]
    full = await verify(world.uow, world.mirror, world.org)
    assert (full.postgres, full.extra_in_redis, full.missing_in_redis) == (
        2,
        1 if edit == "extra" else 0,
        0 if edit == "extra" else 1,
    )


async def test_the_full_comparison_goes_on_where_the_last_round_stopped(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(mirror_repair, "VERIFY_CHUNK", 2)
    numbers = [f"1212555{n:04d}" for n in range(100, 108)]
    await listed(world, *numbers)
    world.mirror.live[world.org].numbers.discard(numbers[-1])  # by hand: the checksum is blind
    rounds: list[list[int]] = []
    while not any(rounds[-1:]) and len(rounds) < 10:
        drifts = await verify_slice(world.uow, world.mirror, 2)
        rounds.append([d.missing_in_redis for d in drifts])
    assert rounds == [[], [], [], [1]]  # two numbers a round: the eighth is in the fourth
    assert world.mirror.cursor == VerifyCursor(world.org, "postgres", numbers[-1])


async def test_a_cursor_left_on_an_organization_gone_moves_on_to_the_next(world: World) -> None:
    later = world.new_org("Later").organization_id
    first, second = sorted([world.org, later])
    world.mirror.cursor = VerifyCursor(UUID(int=first.int + 1), "postgres", LISTED)  # deleted
    assert await verify_slice(world.uow, world.mirror, 1) == []
    assert world.mirror.cursor == VerifyCursor(second, "redis")  # its (empty) list compared


async def test_verify_counts_every_number_of_one_organization(world: World) -> None:
    await listed(world, LISTED, OTHER, THIRD)
    assert await verify(world.uow, world.mirror, world.org) == Drift(world.org, True, 3, 3, 0, 0)
    world.mirror.restart()
    assert await verify(world.uow, world.mirror, world.org) == Drift(world.org, False, 3, None, 3)
