"""``read_ahead``: the items in order, the next one read while the caller works on the last,
and a caller that stops early leaves no read running and the source closed."""

import asyncio
from collections.abc import AsyncIterator
from contextlib import aclosing

import pytest

from domain.streams import read_ahead


class Source:
    def __init__(self, items: int) -> None:
        self.items = items
        self.read: list[int] = []
        self.closed = False
        self.reading = 0  # reads in flight: never more than one

    async def stream(self) -> AsyncIterator[int]:
        try:
            for item in range(self.items):
                self.reading += 1
                assert self.reading == 1
                await asyncio.sleep(0.01)
                self.reading -= 1
                self.read.append(item)
                yield item
        finally:
            self.closed = True


async def test_the_items_come_in_order_and_the_next_is_read_meanwhile() -> None:
    source = Source(5)
    seen = []
    async with aclosing(read_ahead(source.stream())) as items:
        async for item in items:
            await asyncio.sleep(0.02)  # the caller's work: the next read finishes meanwhile
            assert source.read[-1] == min(item + 1, 4)
            seen.append(item)
    assert seen == [0, 1, 2, 3, 4]
    assert source.closed


async def test_stopping_early_cancels_the_read_in_flight_and_closes_the_source() -> None:
    source = Source(100)
    async with aclosing(read_ahead(source.stream())) as items:
        async for item in items:
            if item == 2:
                break
    assert source.closed
    assert source.read[-1] <= 3  # nothing read after the caller stopped
    read = len(source.read)
    await asyncio.sleep(0.05)
    assert len(source.read) == read


async def test_a_failing_read_reaches_the_caller() -> None:
    async def failing() -> AsyncIterator[int]:
        yield 1
        raise RuntimeError("the database went away")

    seen = []

    async def read_all() -> None:
        async with aclosing(read_ahead(failing())) as items:
            async for item in items:
                seen.append(item)

    with pytest.raises(RuntimeError, match="went away"):
        await read_all()
    assert seen == [1]
