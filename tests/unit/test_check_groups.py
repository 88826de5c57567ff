"""Coalesced checks go to Redis in calls of at most MAX_NUMBERS_PER_CALL numbers."""

import asyncio

from infra.redis.coalescer import MAX_NUMBERS_PER_CALL, _groups


async def test_every_waiter_lands_in_exactly_one_call_of_bounded_size() -> None:
    loop = asyncio.get_running_loop()
    sizes = [1, 4_000, 4_000, 3_000, 50_000, 1, 9_999, 2]
    waiters = [(["1"] * size, loop.create_future()) for size in sizes]
    groups = _groups(waiters)  # type: ignore[arg-type]
    assert [w for group in groups for w in group] == waiters  # all of them, in order
    for group in groups:
        total = sum(len(numbers) for numbers, _ in group)
        assert total <= MAX_NUMBERS_PER_CALL or len(group) == 1  # a big check goes alone
    assert len(groups) == 5
    assert _groups([]) == [[]]
