"""The rules of listing, removing, expiring and checking numbers, against the in-memory unit of
work and mirror (milliseconds each). The same paths run against real Postgres and Redis in
tests/api and tests/integration."""

from dataclasses import replace
from datetime import timedelta
from uuid import UUID

import pytest

from domain.errors import AlreadyListed, InvalidInput, NotFound, Unavailable
from domain.model import (
    BulkItem,
    MirrorAnswer,
)
from domain.time import utcnow
from domain.usecases.checks import check_numbers
from domain.usecases.entries import (
    bulk_add,
    expire_due,
    remove_number,
    set_dnc_enabled,
)
from tests.unit.world import LISTED, World


async def test_a_listed_number_is_blocked_by_the_mirror_and_by_postgres(world: World) -> None:
    entry = await world.add("(212) 555-0100")
    assert entry.phone_number == LISTED
    assert await world.blocked("212-555-0100", "+1 212 555 0101") == [True, False]
    assert world.mirror.numbers[world.org] == {LISTED}
    world.mirror.down = True  # Postgres answers the same
    assert await world.blocked("212-555-0100", "+1 212 555 0101") == [True, False]
    assert world.pending_syncs() == 0
    [event] = [e for e in world.uow.committed.audit if e.action == "dnc.add"]
    assert event.phone_number == LISTED


async def test_listing_twice_is_refused_and_changes_nothing(world: World) -> None:
    await world.add()
    audit_rows = len(world.uow.committed.audit)
    with pytest.raises(AlreadyListed):
        await world.add()
    assert len(world.uow.committed.audit) == audit_rows
    assert len(world.uow.committed.entries) == 1


async def test_an_expiry_in_the_past_is_refused(world: World) -> None:
    with pytest.raises(InvalidInput, match="in the future"):
        await world.add(expires_at=utcnow() - timedelta(seconds=1))
    assert world.uow.committed.entries == {}
    assert await world.blocked(LISTED) == [False]


async def test_an_expired_entry_is_retired_and_the_number_listed_anew(world: World) -> None:
    old = await world.add(expires_at=utcnow() + timedelta(hours=1))
    t = world.uow.committed
    t.entries[old.id] = replace(old, expires_at=utcnow() - timedelta(1))
    new = await world.add()
    assert old.id in world.uow.committed.removed
    assert new.id not in world.uow.committed.removed
    assert await world.blocked(LISTED) == [True]


async def test_a_removed_number_is_callable_everywhere(world: World) -> None:
    await world.add()
    await remove_number(world.uow, world.mirror, world.principal, "212 555 0100", "asked")
    assert await world.blocked(LISTED) == [False]
    world.mirror.down = True
    assert await world.blocked(LISTED) == [False]
    with pytest.raises(NotFound):
        await remove_number(world.uow, world.mirror, world.principal, LISTED, None)


async def test_a_remove_that_cannot_reach_redis_is_saved_and_keeps_blocking(world: World) -> None:
    """Unblocking reaches Redis only through the sync after the commit: with Redis down the
    removal is committed, the caller told, and the number still blocked in the mirror."""
    await world.add()
    world.mirror.down = True
    with pytest.raises(Unavailable, match="catches up by itself"):
        await remove_number(world.uow, world.mirror, world.principal, LISTED, None)
    assert len(world.uow.committed.removed) == 1
    assert world.pending_syncs() == 1
    world.mirror.down = False
    assert world.mirror.numbers[world.org] == {LISTED}  # errs towards blocking meanwhile
    assert await world.blocked(LISTED) == [True]


async def test_an_add_that_cannot_reach_redis_is_not_saved(world: World) -> None:
    """Adding reaches Redis before the commit; Redis down means nothing is saved, so nothing
    accepted is lost silently: the caller gets the error."""
    world.mirror.down = True
    with pytest.raises(Unavailable):
        await world.add()
    assert world.uow.committed.entries == {}


async def test_bulk_add_outcomes_in_order(world: World) -> None:
    items = [
        BulkItem("212 555 0100"),
        BulkItem("+1 (212) 555-0100"),
        BulkItem("not a number"),
        BulkItem("212 555 0102", expires_at=utcnow() - timedelta(minutes=1)),
        BulkItem("212 555 0103", type="a\nb"),
        BulkItem("212 555 0104", type="litigator"),
    ]
    outcomes = await bulk_add(world.uow, world.mirror, world.principal, items)
    assert [o.outcome for o in outcomes] == [
        "added",
        "duplicate",
        "invalid",
        "invalid",
        "invalid",
        "added",
    ]
    assert outcomes[3].error == "expiresAt must be in the future"
    assert await world.blocked(LISTED, "+12125550104", "+12125550102") == [True, True, False]
    added = [e.phone_number or "" for e in world.uow.committed.audit if e.action == "dnc.add"]
    assert sorted(added) == [LISTED, "12125550104"]
    with pytest.raises(InvalidInput):
        await bulk_add(world.uow, world.mirror, world.principal, [])


async def test_expiry_unblocks_only_what_is_due(world: World) -> None:
    soon = await world.add(expires_at=utcnow() + timedelta(hours=1))
    await world.add("12125550199")
    t = world.uow.committed
    t.entries[soon.id] = replace(soon, expires_at=utcnow() - timedelta(1))
    assert await expire_due(world.uow, world.mirror) == 1
    assert await world.blocked(LISTED, "12125550199") == [False, True]
    assert world.mirror.numbers[world.org] == {"12125550199"}
    assert await expire_due(world.uow, world.mirror) == 0


async def test_switching_dnc_off_and_on(world: World) -> None:
    await world.add()
    await set_dnc_enabled(world.uow, world.mirror, world.principal, False)
    result = await check_numbers(world.uow, world.mirror, world.rebuilds, world.org, [LISTED])
    assert (result.dnc_enabled, result.verdicts[0].blocked) == (False, False)
    await set_dnc_enabled(world.uow, world.mirror, world.principal, True)
    assert await world.blocked(LISTED) == [True]


async def test_a_mirror_not_ready_answers_from_postgres_and_asks_for_a_rebuild(
    world: World,
) -> None:
    await world.add()
    world.mirror.ready[world.org] = False
    result = await check_numbers(world.uow, world.mirror, world.rebuilds, world.org, [LISTED])
    assert (result.source, result.verdicts[0].blocked) == ("postgres", True)
    assert world.queue.rebuilds == [world.org]


async def test_a_check_neither_store_can_answer_is_refused_never_guessed(world: World) -> None:
    await world.add()
    world.mirror.down = True
    world.uow.fail_next = ConnectionError("Postgres is gone")
    with pytest.raises(Unavailable, match="do not dial"):
        await world.blocked(LISTED)


async def test_a_mirror_answer_of_the_wrong_length_is_not_read_as_callable(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    await world.add()

    async def short(organization_id: UUID, numbers: object, lists: object = ()) -> MirrorAnswer:
        return MirrorAnswer(ready=True, enabled=True, blocking=())

    monkeypatch.setattr(world.mirror, "check", short)
    result = await check_numbers(world.uow, world.mirror, world.rebuilds, world.org, [LISTED])
    assert (result.source, result.verdicts[0].blocked) == ("postgres", True)


async def test_a_bulk_check_answers_in_order_and_counts(world: World) -> None:
    await world.add()
    numbers = [
        LISTED if i % 3 == 0 else "x" if i % 3 == 1 else f"+1212555{i:04d}" for i in range(3000)
    ]
    numbers[2] = "+12125551234"
    result = await check_numbers(world.uow, world.mirror, world.rebuilds, world.org, numbers)
    assert [v.phone_number for v in result.verdicts] == numbers
    assert [v.reason for v in result.verdicts[:3]] == ["dnc", "invalid", None]
    assert result.invalid_count == 1000
    assert result.blocked_count == 2000
    assert result.blocked_count == sum(v.blocked for v in result.verdicts)
