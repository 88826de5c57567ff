"""Review of shared lists (second pass): what a check answers when a full load's Redis swap
does not follow its Postgres commit (a Redis blip at that moment, a process killed between
the two, or a second load of the list taking the mirror's build over)."""

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import pytest

from domain.errors import InvalidInput, Unavailable
from domain.model import BadLine, ChangeChunk, MirrorBuild
from domain.time import utcnow
from domain.usecases.checks import RebuildRequests, check_numbers
from domain.usecases.shared_lists import apply_shared_changes, get_shared_list, subscribe
from domain.usecases.shared_repair import reconcile_shared
from infra.bootstrap import Resources
from infra.redis.shared import RedisSharedMirror
from tests.support.helpers import Org
from tests.support.shared import change, load, shared_list

OLD, NEW = "12125550100", "12125550101"
Swap = Callable[..., Awaitable[bool]]


async def _blocked(resources: Resources, org: Org, number: str) -> tuple[bool, str]:
    result = await check_numbers(
        resources.uow(), resources.mirror, RebuildRequests(resources.queue), org.id, [number]
    )
    return result.verdicts[0].blocked, result.source


def _swap_fails(how: str) -> Swap:
    """A swap that does not happen: Redis unreachable for it, or a second load of the list
    beginning its mirror build first (the first load's swap then finds itself taken over)."""
    real = RedisSharedMirror.swap

    async def swap(self: RedisSharedMirror, list_id: str, build: MirrorBuild, *args: Any) -> bool:
        if how == "unreachable":
            raise Unavailable("Redis went away at the swap")
        await self.begin_rebuild(list_id, 1)  # the second load
        return await real(self, list_id, build, *args)

    return swap


@pytest.mark.parametrize("how", ["unreachable", "taken_over"])
async def test_a_load_not_swapped_in_redis_never_answers_its_new_numbers_callable(
    resources: Resources, org: Org, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    registry = await shared_list(resources, "Registry")
    await load(resources, registry, [OLD])
    await subscribe(resources.uow(), resources.mirror, org.id, registry)
    assert await _blocked(resources, org, NEW) == (False, "redis")
    monkeypatch.setattr(RedisSharedMirror, "swap", _swap_fails(how))
    report = await load(resources, registry, [OLD, NEW])  # Postgres holds NEW now
    assert not report.mirrored
    assert report.shared.count == 2
    assert await _blocked(resources, org, NEW) == (True, "postgres")
    assert not (await resources.shared_mirror.state(registry)).ready
    monkeypatch.undo()  # the reconciliation's own swap goes through
    assert await reconcile_shared(resources.uow(), resources.shared_mirror) == [registry]
    assert await _blocked(resources, org, NEW) == (True, "redis")


async def test_a_change_file_older_than_the_lists_data_is_refused(
    resources: Resources, org: Org
) -> None:
    """Yesterday's change file applied after today's full load: its deletion of a number
    today's data holds again would make that listed number callable."""
    registry = await shared_list(resources, "Registry")
    today = utcnow()
    await load(resources, registry, [OLD], downloaded_at=today)
    await subscribe(resources.uow(), resources.mirror, org.id, registry)
    with pytest.raises(InvalidInput, match="older than the list's data"):
        await change(resources, registry, deleted=[OLD], downloaded_at=today - timedelta(days=1))
    assert await _blocked(resources, org, OLD) == (True, "redis")
    assert (await get_shared_list(resources.uow(), registry)).downloaded_at == today
    report = await change(resources, registry, deleted=[OLD], downloaded_at=today)  # same: fine
    assert report.deleted == 1


async def test_a_change_file_of_nothing_but_bad_lines_does_not_renew_a_stale_list(
    resources: Resources, org: Org
) -> None:
    """The wrong file given to apply-changes (every line bad) must not make a stale list
    vouch for the numbers it does not hold."""
    registry = await shared_list(resources, "Registry", max_age_days=31)
    await load(resources, registry, [OLD], downloaded_at=utcnow() - timedelta(days=32))
    await subscribe(resources.uow(), resources.mirror, org.id, registry)
    assert await _blocked(resources, org, NEW) == (True, "redis")  # registry_stale
    garbage = ChangeChunk((), (), (BadLine("wrong.csv", 1, "name,phone"),))
    with pytest.raises(InvalidInput, match="holds no change"):
        await apply_shared_changes(resources.uow(), resources.shared_mirror, registry, [garbage])
    assert await _blocked(resources, org, NEW) == (True, "redis")
    assert (await get_shared_list(resources.uow(), registry)).stale(utcnow())
    await change(resources, registry)  # an empty change file (no change that day) renews it
    assert await _blocked(resources, org, NEW) == (False, "redis")


async def test_concurrent_loads_of_one_list_never_answer_a_number_both_hold_callable(
    resources: Resources, org: Org
) -> None:
    """Two loads of one list at once: a number on every version of the list stays blocked
    throughout, from Redis or from Postgres, and the end is one load's list, in both stores."""
    registry = await shared_list(resources, "Registry")
    both = "12125559999"
    first = [both, *(f"1212555{n:04d}" for n in range(2000))]
    second = [both, *(f"1212556{n:04d}" for n in range(2000))]
    await load(resources, registry, [both])
    await subscribe(resources.uow(), resources.mirror, org.id, registry)
    loads = asyncio.gather(load(resources, registry, first), load(resources, registry, second))
    task = asyncio.ensure_future(asyncio.wait_for(loads, timeout=20))
    checks = 0
    while not task.done():
        blocked, _ = await _blocked(resources, org, both)
        assert blocked
        checks += 1
    reports = await task
    assert checks
    await reconcile_shared(resources.uow(), resources.shared_mirror)  # a swap taken over
    live = await get_shared_list(resources.uow(), registry)
    assert live.generation in {report.shared.generation for report in reports}
    numbers = [first[1], second[1]]
    result = await check_numbers(
        resources.uow(), resources.mirror, RebuildRequests(resources.queue), org.id, numbers
    )
    assert result.source == "redis"
    expected = first if live.generation == reports[0].shared.generation else second
    assert [v.blocked for v in result.verdicts] == [n in expected for n in numbers]
