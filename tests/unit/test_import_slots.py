"""Imports take a slot of their own; when every slot stays taken, the next one is refused
(503) after the wait instead of queueing for ever."""

import asyncio
from typing import Any, cast

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from domain.errors import Unavailable
from infra.bootstrap import IMPORTS_BUSY, ImportSlots

ENGINE = cast(AsyncEngine, object())


async def test_a_busy_import_is_refused_after_the_wait_and_a_freed_slot_is_taken() -> None:
    slots = ImportSlots(ENGINE, concurrency=2, wait_seconds=0.2)
    release = asyncio.Event()
    holding = 0

    async def hold() -> None:
        nonlocal holding
        async with slots.slot() as engine:
            assert engine is ENGINE
            holding += 1
            await release.wait()

    holders = [asyncio.create_task(hold()) for _ in range(2)]
    while holding < 2:
        await asyncio.sleep(0.01)
    with pytest.raises(Unavailable) as refused:
        async with slots.slot():
            pass
    assert refused.value.message == IMPORTS_BUSY

    waiting: asyncio.Task[Any] = asyncio.create_task(hold())
    await asyncio.sleep(0)
    release.set()
    await asyncio.wait_for(asyncio.gather(*holders, waiting), 5)
    assert holding == 3


async def test_a_failing_import_gives_its_slot_back() -> None:
    slots = ImportSlots(ENGINE, concurrency=1, wait_seconds=0.1)
    for _ in range(3):
        with pytest.raises(RuntimeError):
            async with slots.slot():
                raise RuntimeError("the import failed")
    async with slots.slot():
        pass
