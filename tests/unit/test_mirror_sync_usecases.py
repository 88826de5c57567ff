"""Keeping the mirror equal to Postgres change by change (domain/usecases/mirror_sync.py),
against the in-memory fakes: each sync writes the numbers' *current* truth, so the order of
the changes cannot leave the mirror stale. The same syncs run against real Redis and Postgres
in tests/integration/test_mirror_concurrency.py and tests/integration/test_mirror_faults.py."""

from uuid import UUID

import pytest

from domain.errors import Unavailable
from domain.model import WrittenChange
from domain.rules import SOURCE_IMPORT, new_entry
from domain.time import utcnow
from domain.usecases import mirror_sync
from domain.usecases.entries import list_many, remove_number, set_dnc_enabled
from domain.usecases.mirror_sync import (
    MIRROR_SYNC,
    SYNC_BATCH,
    settle,
    settle_written,
    sync_all,
    sync_mirror,
)
from tests.unit.world import LISTED, World

OTHER = "12125550101"


async def note(world: World, org: UUID, *payloads: dict[str, object]) -> None:
    """Committed ``mirror.sync`` messages, as writes' transactions leave them."""
    async with world.uow:
        for payload in payloads:
            await world.uow.outbox.add(org, MIRROR_SYNC, payload)
        await world.uow.commit()


async def test_a_sync_writes_what_postgres_says_now_for_the_numbers_named(world: World) -> None:
    await world.add()
    world.mirror.live[world.org].numbers.add(OTHER)  # stale: OTHER was removed long ago
    world.mirror.live[world.org].numbers.discard(LISTED)  # stale: LISTED is listed
    world.mirror.live[world.org].numbers.add("12125550102")  # stale, but not named
    await note(world, world.org, {"numbers": [OTHER]})
    await note(world, world.org, {"numbers": [LISTED, OTHER]})
    assert await sync_mirror(world.uow, world.mirror, world.org) == 2
    assert world.mirror.numbers[world.org] == {LISTED, "12125550102"}
    assert world.pending_syncs() == 0
    assert await sync_mirror(world.uow, world.mirror, world.org) == 0


async def test_a_removal_saved_while_redis_was_down_reaches_it_with_the_next_sync(
    world: World,
) -> None:
    await world.add()
    world.mirror.down = True
    with pytest.raises(Unavailable):
        await remove_number(world.uow, world.mirror, world.principal, LISTED, None)
    assert await settle(world.uow, world.mirror, world.org) is False  # still down
    assert world.pending_syncs() == 1
    world.mirror.down = False
    assert await settle(world.uow, world.mirror, world.org) is True
    assert world.mirror.numbers[world.org] == set()
    assert await world.blocked(LISTED) == [False]


async def test_dnc_switched_off_while_redis_was_down_reaches_it_with_the_next_sync(
    world: World,
) -> None:
    await world.add()
    world.mirror.down = True
    with pytest.raises(Unavailable, match="DNC was switched off and saved"):
        await set_dnc_enabled(world.uow, world.mirror, world.principal, False)
    world.mirror.down = False
    assert world.mirror.enabled[world.org] is True  # errs towards blocking meanwhile
    assert await world.blocked(LISTED) == [True]
    await sync_mirror(world.uow, world.mirror, world.org)
    assert world.mirror.enabled[world.org] is False
    assert await world.blocked(LISTED) == [False]


async def test_every_pending_message_is_applied_batch_after_batch(world: World) -> None:
    await world.add()
    world.mirror.live[world.org].numbers.clear()
    nothing: dict[str, object] = {"numbers": []}
    await note(world, world.org, *[nothing] * SYNC_BATCH, {"numbers": [LISTED]})
    assert await sync_mirror(world.uow, world.mirror, world.org) == SYNC_BATCH + 1
    assert world.mirror.numbers[world.org] == {LISTED}


async def test_a_large_change_is_written_in_bounded_calls(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(mirror_sync, "APPLY_CHUNK", 3)
    numbers = [f"1212555{n:04d}" for n in range(100, 107)]
    await world.add(numbers[0])
    world.mirror.live[world.org].numbers.update(numbers[1:])  # six of them stale
    world.mirror.writes.clear()
    await note(world, world.org, {"numbers": numbers})
    await sync_mirror(world.uow, world.mirror, world.org)
    assert world.mirror.numbers[world.org] == {numbers[0]}
    assert world.mirror.writes == [(world.org, 1, 3), (world.org, 0, 3)]  # three of each a call


async def test_one_organization_failing_does_not_hold_up_the_others(world: World) -> None:
    other = world.new_org("Other").organization_id
    world.mirror.away.add(world.org)  # Acme's Redis Cluster node
    world.mirror.live[world.org].numbers.add(LISTED)
    world.mirror.live[other].numbers.add(LISTED)
    await note(world, world.org, {"numbers": [LISTED]})
    await note(world, other, {"numbers": [LISTED]})
    assert await sync_all(world.uow, world.mirror) == 1
    assert world.mirror.numbers == {world.org: {LISTED}, other: set()}
    assert (world.pending_syncs(world.org), world.pending_syncs(other)) == (1, 0)


@pytest.mark.parametrize("payload", [{}, {"numbers": "12125550100"}, {"numbers": None}])
async def test_a_message_without_a_list_of_numbers_is_applied_as_naming_none(
    world: World, payload: dict[str, object]
) -> None:
    await world.add()
    await note(world, world.org, payload)
    assert await sync_mirror(world.uow, world.mirror, world.org) == 1
    assert world.mirror.numbers[world.org] == {LISTED}
    assert world.pending_syncs() == 0


async def listed_many(world: World, numbers: list[str]) -> WrittenChange:
    """What an import leaves: entries committed, their numbers written to the mirror before."""
    async with world.uow:
        for number in numbers:
            await world.uow.entries.add(
                new_entry(world.org, number, None, utcnow(), SOURCE_IMPORT, None, None)
            )
        written = await list_many(world.uow, world.mirror, world.org, numbers)
        await world.uow.commit()
    return written


async def test_a_change_written_to_the_mirror_still_live_is_settled_without_writing_again(
    world: World,
) -> None:
    written = await listed_many(world, [LISTED, OTHER])
    writes = len(world.mirror.writes)
    assert await settle_written(world.uow, world.mirror, world.org, written) is True
    assert world.pending_syncs() == 0
    assert len(world.mirror.writes) == writes  # nothing written a second time
    assert await world.blocked(LISTED, OTHER) == [True, True]


@pytest.mark.parametrize("meanwhile", ["restarted", "rebuilding", "rebuilt"])
async def test_a_change_written_to_a_mirror_replaced_since_is_written_again(
    world: World, meanwhile: str
) -> None:
    """Redis restarted empty (and rebuilt from what Postgres had then, without the change),
    or a rebuild begun (its generation may lack the numbers), or one done since: the numbers
    are written again from Postgres's truth."""
    written = await listed_many(world, [LISTED, OTHER])
    if meanwhile == "rebuilding":
        await world.mirror.begin_rebuild(world.org, 2)
    else:
        world.mirror.restart()
        world.mirror.load(world.org, set() if meanwhile == "restarted" else {LISTED})
    assert await settle_written(world.uow, world.mirror, world.org, written) is True
    assert world.pending_syncs() == 0
    live = world.mirror.live[world.org].numbers
    assert {LISTED, OTHER} <= live
    if meanwhile == "rebuilding":
        assert {LISTED, OTHER} <= world.mirror.building[world.org].numbers


async def test_a_change_written_while_redis_is_down_stays_pending(world: World) -> None:
    written = await listed_many(world, [LISTED])
    world.mirror.down = True
    assert await settle_written(world.uow, world.mirror, world.org, written) is False
    assert world.pending_syncs() == 1
    world.mirror.down = False
    assert await settle(world.uow, world.mirror, world.org) is True
    assert world.pending_syncs() == 0


async def test_the_callers_last_writes_run_while_the_numbers_go_to_the_mirror(
    world: World,
) -> None:
    ran: list[str] = []

    async def audit() -> None:
        ran.append("audit")

    async with world.uow:
        await list_many(world.uow, world.mirror, world.org, [LISTED], meanwhile=audit())
    assert ran == ["audit"]
    assert LISTED in world.mirror.live[world.org].numbers
    world.mirror.down = True
    async with world.uow:
        with pytest.raises(Unavailable):  # not started, and not left unawaited either
            await list_many(world.uow, world.mirror, world.org, [OTHER], meanwhile=audit())
    assert ran == ["audit"]
