"""The per-process token cache: concurrent misses of one token share one lookup."""

import asyncio
from uuid import uuid4

import pytest

from domain.errors import Unauthenticated
from domain.model import Principal
from infra.token_cache import TokenCache


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


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_unconfirmed_a_cached_principal_is_trusted_for_one_second_only() -> None:
    clock, who = Clock(), principal()
    cache = TokenCache(30, clock)
    cache.put("h", who)
    clock.now += 0.9
    assert cache.get("h") is who
    clock.now += 0.1  # one second old, and no word from the revocation listener
    assert cache.get("h") is None


def test_confirmed_a_cached_principal_lives_its_full_time() -> None:
    clock, who = Clock(), principal()
    cache = TokenCache(30, clock)
    cache.put("h", who)
    clock.now += 20
    cache.trust_until(clock.now + 1)  # the listener heard everything up to now
    assert cache.get("h") is who
    clock.now += 1  # and nothing since
    assert cache.get("h") is None
    cache.trust_until(clock.now + 1)
    clock.now += 10  # past DNC_TOKEN_CACHE_SECONDS: looked up again however confirmed
    cache.trust_until(clock.now + 1)
    assert cache.get("h") is None


def test_a_revocation_drops_the_principal() -> None:
    clock, who, other = Clock(), principal(), principal()
    cache = TokenCache(30, clock)
    cache.trust_until(clock.now + 100)
    cache.put("h", who)
    cache.put("other", other)
    cache.forget("h")
    assert cache.get("h") is None
    assert cache.get("other") is other
    cache.forget_all()  # the listener (re)subscribed: it may have missed some
    assert cache.get("other") is None


async def test_a_lookup_under_way_when_the_revocation_arrives_is_not_cached() -> None:
    cache, who = TokenCache(30), principal()
    cache.trust_until(10**9)
    release = asyncio.Event()

    async def before_the_revocation() -> Principal:  # read the token while it was live
        await release.wait()
        return who

    async def after_the_revocation() -> Principal:
        raise Unauthenticated("The bearer token is not valid or has been revoked")

    early = asyncio.ensure_future(cache.get_or_load("h", before_the_revocation))
    await asyncio.sleep(0)
    cache.forget("h")  # the revocation arrives while that lookup is under way
    with pytest.raises(Unauthenticated):  # a request after it does not wait for that lookup
        await asyncio.wait_for(cache.get_or_load("h", after_the_revocation), 10)
    release.set()
    assert await early is who  # it asked before the revocation arrived
    assert cache.get("h") is None  # but what it read is not kept
