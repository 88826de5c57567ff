"""May a dialer call these numbers? (domain/usecases/checks.py), against the in-memory fakes:
from the mirror when it is ready, from Postgres when it is not or cannot answer, refused when
neither can. The same checks run against real Redis and Postgres in tests/integration/
test_lookup.py and tests/integration/test_mirror_faults.py. (Listing, removing and switching DNC
off as the checks see them: test_entries_usecases.py.)"""

from dataclasses import replace
from datetime import timedelta

import pytest

from domain.errors import Unavailable
from domain.time import utcnow
from domain.usecases.checks import (
    NEITHER,
    YIELD_EVERY,
    RebuildRequests,
    check_numbers,
    release_in_turns,
)
from tests.unit.world import LISTED, World

OTHER = "12125550101"


async def test_with_dnc_off_every_valid_number_is_callable_and_an_invalid_one_is_not(
    world: World,
) -> None:
    await world.add()
    t = world.uow.committed
    t.organizations[world.org] = replace(t.organizations[world.org], dnc_enabled=False)
    world.mirror.enabled[world.org] = False
    for mirror_down in (False, True):  # the mirror answers, then Postgres
        world.mirror.down = mirror_down
        result = await check_numbers(
            world.uow, world.mirror, world.rebuilds, world.org, [LISTED, "x", OTHER]
        )
        assert result.dnc_enabled is False
        assert result.source == ("postgres" if mirror_down else "redis")
        assert [(v.blocked, v.reason) for v in result.verdicts] == [
            (False, None),
            (True, "invalid"),
            (False, None),
        ]
        assert (result.blocked_count, result.invalid_count) == (1, 1)


async def test_a_mirror_that_cannot_be_reached_is_not_rebuilt_postgres_answers(
    world: World,
) -> None:
    await world.add()
    world.mirror.down = True
    result = await check_numbers(
        world.uow, world.mirror, world.rebuilds, world.org, ["(212) 555-0100", OTHER]
    )
    assert result.source == "postgres"
    assert [(v.normalized, v.blocked, v.reason) for v in result.verdicts] == [
        (LISTED, True, "dnc"),
        (OTHER, False, None),
    ]
    assert world.queue.rebuilds == []


async def test_postgres_blocks_what_the_mirror_would_and_nothing_else(world: World) -> None:
    """Listed and not expired, in the caller's organization only."""
    expiring = await world.add(expires_at=utcnow() + timedelta(hours=1))
    await world.add(OTHER, principal=world.new_org("Other"))
    await world.add("2125550102")
    t = world.uow.committed
    t.entries[expiring.id] = replace(expiring, expires_at=utcnow() - timedelta(seconds=1))
    world.mirror.down = True
    assert await world.blocked(LISTED, OTHER, "2125550102") == [False, False, True]


async def test_rebuilds_are_asked_for_at_most_every_few_seconds_per_organization(
    world: World,
) -> None:
    other = world.new_org("Other")
    world.mirror.restart()  # nothing is ready
    for _ in range(3):
        await world.blocked(LISTED)
        await world.blocked(LISTED, org=other.organization_id)
    assert world.queue.rebuilds == [world.org, other.organization_id]
    eager = RebuildRequests(world.queue, interval_seconds=0)
    await check_numbers(world.uow, world.mirror, eager, world.org, [LISTED])
    assert world.queue.rebuilds == [world.org, other.organization_id, world.org]


async def test_a_rebuild_that_cannot_be_asked_for_does_not_fail_the_check(world: World) -> None:
    await world.add()
    world.mirror.ready[world.org] = False
    world.queue.down = True
    result = await check_numbers(world.uow, world.mirror, world.rebuilds, world.org, [LISTED])
    assert (result.source, result.verdicts[0].blocked) == ("postgres", True)


async def test_a_mirror_not_ready_and_postgres_unreachable_is_refused(world: World) -> None:
    world.mirror.ready[world.org] = False
    world.uow.fail_next = OSError("connection refused")
    with pytest.raises(Unavailable) as refused:
        await world.blocked(LISTED)
    assert refused.value.message == NEITHER
    assert "do not dial these numbers" in NEITHER
    assert world.queue.rebuilds == [world.org]


async def test_an_organization_postgres_does_not_know_is_checked_with_dnc_on(
    world: World,
) -> None:
    """Fail closed: without the organization's switch, the list still blocks."""
    await world.add()
    del world.uow.committed.organizations[world.org]
    world.mirror.down = True
    result = await check_numbers(world.uow, world.mirror, world.rebuilds, world.org, [LISTED])
    assert (result.dnc_enabled, result.verdicts[0].blocked) == (True, True)


async def test_a_bulk_check_from_postgres_answers_as_the_mirror_does(world: World) -> None:
    await world.add()
    await world.add(OTHER)
    numbers = [[LISTED, "+1 212 555 0101", "nope", f"+1212556{i:04d}"][i % 4] for i in range(1001)]
    assert len(numbers) > 4 * YIELD_EVERY  # answered in turns
    answers = []
    for mirror_down in (False, True):
        world.mirror.down = mirror_down
        result = await check_numbers(world.uow, world.mirror, world.rebuilds, world.org, numbers)
        assert result.source == ("postgres" if mirror_down else "redis")
        answers.append([(v.phone_number, v.blocked, v.reason) for v in result.verdicts])
        assert (result.blocked_count, result.invalid_count) == (751, 250)
    assert answers[0] == answers[1]
    assert [reason for _, _, reason in answers[0][:4]] == ["dnc", "dnc", "invalid", None]


async def test_a_number_asked_twice_is_answered_twice(world: World) -> None:
    await world.add()
    result = await check_numbers(
        world.uow, world.mirror, world.rebuilds, world.org, [LISTED, "212-555-0100", LISTED]
    )
    assert [v.phone_number for v in result.verdicts] == [LISTED, "212-555-0100", LISTED]
    assert all(v.blocked for v in result.verdicts)
    assert result.blocked_count == 3


async def test_a_bulk_answer_is_released_in_turns_to_nothing() -> None:
    answers = list(range(3 * YIELD_EVERY + 1))
    await release_in_turns(answers)
    assert answers == []
