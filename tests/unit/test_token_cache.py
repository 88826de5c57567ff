"""The per-process token cache: concurrent misses of one token share one lookup."""

import asyncio
from uuid import uuid4

import pytest

from app.auth import TokenCache
from domain.errors import Unauthenticated
from domain.model import Principal


def principal() -> Principal:
    return Principal(uuid4(), uuid4(), "admin", "check", uuid4())


async def test_concurrent_misses_share_one_lookup() -> None:
    cache, lookups, who = TokenCache(30), [], principal()

    async def load() -> Principal:
        lookups.append(1)
        await asyncio.sleep(0.01)
        return who

    answers = await asyncio.gather(*(cache.get_or_load("h", load) for _ in range(50)))
    assert answers == [who] * 50
    assert len(lookups) == 1
    assert await cache.get_or_load("h", load) is who  # cached now
    assert len(lookups) == 1


async def test_a_refused_token_is_refused_to_every_waiter_and_not_cached() -> None:
    cache, lookups = TokenCache(30), []

    async def load() -> Principal:
        lookups.append(1)
        await asyncio.sleep(0.01)
        raise Unauthenticated("Invalid or revoked token")

    results = await asyncio.gather(
        *(cache.get_or_load("h", load) for _ in range(10)), return_exceptions=True
    )
    assert all(isinstance(r, Unauthenticated) for r in results)
    with pytest.raises(Unauthenticated):
        await cache.get_or_load("h", load)
    assert len(lookups) == 2


async def test_a_waiter_that_leaves_does_not_cancel_the_others() -> None:
    cache, who = TokenCache(30), principal()

    async def load() -> Principal:
        await asyncio.sleep(0.05)
        return who

    leaver = asyncio.ensure_future(cache.get_or_load("h", load))
    stayer = asyncio.ensure_future(cache.get_or_load("h", load))
    await asyncio.sleep(0.01)
    leaver.cancel()
    assert await stayer is who
