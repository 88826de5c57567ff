"""Shared lists and exemptions against real Postgres and Redis: a subscribed organization's
checks consult its registries (reason ``registry``, the list's id in ``lists``), a stale one
fails closed (``registry_stale``), an exemption lifts the shared lists and nothing else, a
load swaps in whole, the Postgres fallback and a dialer going straight to Redis answer as the
mirror does, and the reconciliation repairs a shared list's mirror."""

import asyncio
from collections.abc import Awaitable
from datetime import timedelta
from typing import cast

import httpx
import pytest
from redis.asyncio import Redis

from domain.errors import NotFound
from domain.model import BulkItem
from domain.time import utcnow
from domain.usecases.checks import RebuildRequests, check_numbers
from domain.usecases.entries import bulk_add
from domain.usecases.exemptions import create_exemption, delete_exemption
from domain.usecases.lists import create_prefix
from domain.usecases.mirror_repair import check_summary, rebuild_mirror
from domain.usecases.shared_lists import subscribe, unsubscribe
from domain.usecases.shared_repair import reconcile_shared
from infra.bootstrap import Resources
from infra.dnc_client import DncClient
from infra.redis import layout
from tests.support.helpers import Org, forget_mirror
from tests.support.lists import campaign, principal
from tests.support.shared import change, load, shared_list

A, B, C, D, E = "12125550100", "12125550101", "12125550102", "13105550199", "442079460958"
EVERY = [A, B, C, D, E]


async def answers(
    resources: Resources, org: Org, numbers: list[str] = EVERY, lists: tuple[str, ...] = ()
) -> dict[str, tuple[str | None, tuple[str, ...]]]:
    result = await check_numbers(
        resources.uow(), resources.mirror, RebuildRequests(resources.queue), org.id, numbers, lists
    )
    return {v.phone_number: (v.reason, v.lists) for v in result.verdicts}


async def from_postgres(
    resources: Resources, org: Org, numbers: list[str] = EVERY
) -> dict[str, tuple[str | None, tuple[str, ...]]]:
    """The same check with the organization's mirror gone: Postgres answers."""
    await forget_mirror(resources.mirror, org.id)
    result = await check_numbers(
        resources.uow(), resources.mirror, RebuildRequests(resources.queue), org.id, numbers
    )
    assert result.source == "postgres"
    await rebuild_mirror(resources.uow(), resources.mirror, org.id)
    return {v.phone_number: (v.reason, v.lists) for v in result.verdicts}


async def test_a_subscribed_registry_blocks_its_numbers_with_its_id(
    resources: Resources, org: Org
) -> None:
    registry = await shared_list(resources, "National registry 212")
    report = await load(resources, registry, [A, B, B])
    assert report.shared.count == 2
    assert report.read == 3
    assert report.mirrored
    assert (await answers(resources, org))[A] == (None, ())  # not subscribed yet
    await subscribe(resources.uow(), resources.mirror, org.id, registry)
    seen = await answers(resources, org)
    assert seen == {
        A: ("registry", (registry,)),
        B: ("registry", (registry,)),
        C: (None, ()),
        D: (None, ()),
        E: (None, ()),
    }
    assert await from_postgres(resources, org) == seen
    await unsubscribe(resources.uow(), resources.mirror, org.id, registry)
    assert (await answers(resources, org))[A] == (None, ())
    with pytest.raises(NotFound):
        await unsubscribe(resources.uow(), resources.mirror, org.id, registry)


async def test_the_organizations_own_word_comes_first_and_every_list_is_named(
    resources: Resources, org: Org
) -> None:
    registry = await shared_list(resources, "Registry")
    litigators = await shared_list(resources, "Litigators", "litigator")
    await load(resources, registry, [A, B])
    await load(resources, litigators, [B, C])
    for each in (registry, litigators):
        await subscribe(resources.uow(), resources.mirror, org.id, each)
    await bulk_add(resources.uow(), resources.mirror, principal(org), [BulkItem(A)])
    await create_prefix(resources.uow(), resources.mirror, principal(org), "1310", None)
    named = await campaign(resources, org, "Spring", C)
    seen = await answers(resources, org, lists=(named,))
    assert seen[A] == ("dnc", ("default", registry))
    assert seen[B] == ("registry", (registry, litigators))
    assert seen[C] == ("dnc", (named, litigators))
    assert seen[D] == ("prefix", ())
    assert seen[E] == (None, ())


async def test_an_exemption_lifts_the_shared_lists_and_never_the_organizations_own(
    resources: Resources, org: Org
) -> None:
    registry = await shared_list(resources, "Registry")
    await load(resources, registry, [A, B, D])
    await subscribe(resources.uow(), resources.mirror, org.id, registry)
    await bulk_add(resources.uow(), resources.mirror, principal(org), [BulkItem(B)])
    await create_prefix(resources.uow(), resources.mirror, principal(org), "1310", None)
    now = utcnow()
    who = principal(org)
    for number in (A, B, D):
        await create_exemption(resources.uow(), resources.mirror, who, number, "ebr_purchase", now)
    seen = await answers(resources, org)
    assert seen[A] == (None, ())  # the registry is lifted
    assert seen[B] == ("dnc", ("default",))  # a do-not-call request beats the relationship
    assert seen[D] == ("prefix", ())
    assert await from_postgres(resources, org) == seen


async def test_deleting_an_exemption_blocks_the_number_before_the_answer(
    resources: Resources, org: Org
) -> None:
    registry = await shared_list(resources, "Registry")
    await load(resources, registry, [A])
    await subscribe(resources.uow(), resources.mirror, org.id, registry)
    who = principal(org)
    exemption = await create_exemption(
        resources.uow(), resources.mirror, who, A, "written_consent", None
    )
    assert (await answers(resources, org))[A] == (None, ())
    await delete_exemption(resources.uow(), resources.mirror, who, str(exemption.id))
    assert (await answers(resources, org))[A] == ("registry", (registry,))


async def test_a_stale_registry_blocks_every_number_it_cannot_vouch_for(
    resources: Resources, org: Org
) -> None:
    registry = await shared_list(resources, "Registry", max_age_days=31)
    await load(resources, registry, [A], downloaded_at=utcnow() - timedelta(days=32))
    await subscribe(resources.uow(), resources.mirror, org.id, registry)
    who = principal(org)
    await create_exemption(resources.uow(), resources.mirror, who, C, "ebr_inquiry", utcnow())
    seen = await answers(resources, org)
    assert seen[A] == ("registry", (registry,))
    assert seen[B] == ("registry_stale", (registry,))
    assert seen[C] == (None, ())  # an exemption lifts the registry, stale or not
    assert seen[E] == ("registry_stale", (registry,))
    assert await from_postgres(resources, org) == seen
    # a change file brings it up to date: fresh again, and B is now on it
    await change(resources, registry, added=[B], deleted=[A])
    seen = await answers(resources, org)
    assert seen[A] == (None, ())
    assert seen[B] == ("registry", (registry,))
    assert seen[E] == (None, ())
    assert await from_postgres(resources, org) == seen


async def test_a_list_never_loaded_fails_closed(resources: Resources, org: Org) -> None:
    registry = await shared_list(resources, "Registry, not loaded yet")
    await subscribe(resources.uow(), resources.mirror, org.id, registry)
    # its mirror does not exist yet: unknown, so Postgres answers, and fails closed too
    seen = await answers(resources, org)
    assert all(seen[n] == ("registry_stale", (registry,)) for n in EVERY)
    assert await reconcile_shared(resources.uow(), resources.shared_mirror) == [registry]
    assert await answers(resources, org) == seen


async def test_a_check_during_a_load_sees_the_old_list_or_the_new_one(
    resources: Resources, org: Org
) -> None:
    registry = await shared_list(resources, "Registry")
    old = [f"1212555{n:04d}" for n in range(0, 3000)]
    new = [f"1212556{n:04d}" for n in range(0, 3000)]
    await load(resources, registry, old)
    await subscribe(resources.uow(), resources.mirror, org.id, registry)
    probe = [old[0], old[-1], new[0], new[-1]]
    seen: set[tuple[bool, ...]] = set()
    loading = asyncio.create_task(load(resources, registry, new))
    while not loading.done():
        result = await check_numbers(
            resources.uow(), resources.mirror, RebuildRequests(resources.queue), org.id, probe
        )
        seen.add(tuple(v.blocked for v in result.verdicts))
    await loading
    result = await check_numbers(
        resources.uow(), resources.mirror, RebuildRequests(resources.queue), org.id, probe
    )
    seen.add(tuple(v.blocked for v in result.verdicts))
    assert seen <= {(True, True, False, False), (False, False, True, True)}
    assert (False, False, True, True) in seen


async def test_the_organizations_rebuild_brings_back_its_subscriptions_and_exemptions(
    resources: Resources, org: Org
) -> None:
    registry = await shared_list(resources, "Registry")
    await load(resources, registry, [A, B])
    await subscribe(resources.uow(), resources.mirror, org.id, registry)
    who = principal(org)
    await create_exemption(resources.uow(), resources.mirror, who, B, "written_consent", None)
    before = await answers(resources, org)
    await forget_mirror(resources.mirror, org.id)
    redis = cast(Redis, resources.mirror.redis)
    await cast(Awaitable[int], redis.unlink(layout.exemptions_key(resources.mirror.prefix, org.id)))
    await rebuild_mirror(resources.uow(), resources.mirror, org.id)
    after = await answers(resources, org)
    assert after == before
    assert after[A] == ("registry", (registry,))
    assert after[B] == (None, ())
    drift = await check_summary(resources.uow(), resources.mirror, org.id)
    assert drift is not None
    assert not drift.drifted


async def test_subscriptions_written_behind_the_scripts_back_are_found_by_the_reconciliation(
    resources: Resources, org: Org
) -> None:
    registry = await shared_list(resources, "Registry")
    await load(resources, registry, [A])
    await subscribe(resources.uow(), resources.mirror, org.id, registry)
    await resources.mirror.set_subscriptions(org.id, [])  # Redis forgot it
    drift = await check_summary(resources.uow(), resources.mirror, org.id)
    assert drift is not None
    assert drift.drifted


async def test_the_reconciliation_rebuilds_a_shared_list_whose_mirror_drifted(
    resources: Resources, org: Org
) -> None:
    registry = await shared_list(resources, "Registry")
    await load(resources, registry, [A, B])
    await subscribe(resources.uow(), resources.mirror, org.id, registry)
    assert await reconcile_shared(resources.uow(), resources.shared_mirror) == []
    state = await resources.shared_mirror.state(registry)
    assert state.generation
    assert state.buckets
    redis = cast(Redis, resources.mirror.redis)
    bucket, member = layout.locate(int(A), state.buckets)
    key = resources.mirror.bucket_key(layout.shared_owner(registry), state.generation, bucket)
    await cast(Awaitable[int], redis.srem(key, str(member)))  # behind the scripts' back ...
    meta = resources.shared_mirror.meta_key(registry)
    await cast(Awaitable[int], redis.hincrby(meta, "count", -1))  # ... and its checksum
    assert (await answers(resources, org))[A] == (None, ())
    assert await reconcile_shared(resources.uow(), resources.shared_mirror) == [registry]
    assert (await answers(resources, org))[A] == ("registry", (registry,))


async def _bucket_of(resources: Resources, list_id: str, number: str) -> tuple[str, int]:
    """The key of the live bucket that holds ``number``, and its member for it."""
    state = await resources.shared_mirror.state(list_id)
    assert state.generation
    assert state.buckets
    bucket, member = layout.locate(int(number), state.buckets)
    owner = layout.shared_owner(list_id)
    return resources.mirror.bucket_key(owner, state.generation, bucket), member


async def test_a_bucket_lost_from_redis_is_found_by_the_full_verification(
    resources: Resources, org: Org
) -> None:
    registry = await shared_list(resources, "Registry")
    numbers = [f"1212555{n:04d}" for n in range(3000)]
    await load(resources, registry, numbers)
    await subscribe(resources.uow(), resources.mirror, org.id, registry)
    key, _ = await _bucket_of(resources, registry, A)
    redis = cast(Redis, resources.mirror.redis)
    await cast(Awaitable[int], redis.delete(key))  # the checksum in the meta key is untouched
    assert (await answers(resources, org, [A]))[A] == (None, ())
    # the cheap check cannot see it; the walk can
    assert await reconcile_shared(resources.uow(), resources.shared_mirror, 0) == []
    assert await reconcile_shared(resources.uow(), resources.shared_mirror) == [registry]
    assert (await answers(resources, org, [A]))[A] == ("registry", (registry,))
    assert await reconcile_shared(resources.uow(), resources.shared_mirror) == []


async def test_the_walk_goes_on_where_the_last_round_stopped(
    resources: Resources, org: Org
) -> None:
    registry = await shared_list(resources, "Registry")
    numbers = [f"1212555{n:04d}" for n in range(3000)]
    await load(resources, registry, numbers)
    await subscribe(resources.uow(), resources.mirror, org.id, registry)
    lost = numbers[-1]  # the walk's last number, gone (the meta key's checksum is not)
    key, member = await _bucket_of(resources, registry, lost)
    redis = cast(Redis, resources.mirror.redis)
    await cast(Awaitable[int], redis.srem(key, str(member)))
    assert (await answers(resources, org, [lost]))[lost] == (None, ())
    rounds = 0
    while (await answers(resources, org, [lost]))[lost] == (None, ()):
        rebuilt = await reconcile_shared(resources.uow(), resources.shared_mirror, 500)
        rounds += 1
        assert rebuilt in ([], [registry])
        assert rounds <= 3000 // 500 + 1, "the walk never reached the lost number"
    assert rounds == 3000 // 500  # one slice a round, each going on from the last
    assert (await answers(resources, org, [lost]))[lost] == ("registry", (registry,))


async def test_a_number_redis_holds_and_postgres_does_not_is_found_too(
    resources: Resources, org: Org
) -> None:
    registry = await shared_list(resources, "Registry")
    await load(resources, registry, [A, B])
    await subscribe(resources.uow(), resources.mirror, org.id, registry)
    key, member = await _bucket_of(resources, registry, C)
    redis = cast(Redis, resources.mirror.redis)
    await cast(Awaitable[int], redis.sadd(key, str(member)))  # behind the scripts' back
    assert (await answers(resources, org, [C]))[C] == ("registry", (registry,))
    assert await reconcile_shared(resources.uow(), resources.shared_mirror) == [registry]
    assert (await answers(resources, org, [C]))[C] == (None, ())


async def test_the_verification_passes_over_a_list_a_load_holds(
    resources: Resources, org: Org
) -> None:
    registry = await shared_list(resources, "Registry")
    await load(resources, registry, [A, B])
    key, _ = await _bucket_of(resources, registry, A)
    redis = cast(Redis, resources.mirror.redis)
    await cast(Awaitable[int], redis.delete(key))
    holder = resources.uow()
    async with holder:  # a load's mirror phase holds the list's row
        assert await holder.shared_lists.get(registry, lock=True) is not None
        rebuilt = await asyncio.wait_for(
            reconcile_shared(resources.uow(), resources.shared_mirror), 10
        )
        assert rebuilt == []  # passed over at once, not waited for
    assert await reconcile_shared(resources.uow(), resources.shared_mirror) == [registry]


async def test_a_dialer_going_straight_to_redis_gets_the_answer_check_gives(
    resources: Resources, org: Org
) -> None:
    registry = await shared_list(resources, "Registry")
    stale = await shared_list(resources, "Old state list", "state", max_age_days=1)
    await load(resources, registry, [A, B])
    await load(resources, stale, [C], downloaded_at=utcnow() - timedelta(days=2))
    for each in (registry, stale):
        await subscribe(resources.uow(), resources.mirror, org.id, each)
    who = principal(org)
    await create_exemption(resources.uow(), resources.mirror, who, B, "written_consent", None)
    await bulk_add(resources.uow(), resources.mirror, principal(org), [BulkItem(D)])
    expected = await answers(resources, org)
    dialer = DncClient(
        redis=resources.mirror.redis,
        organization_id=org.id,
        http=httpx.AsyncClient(base_url="http://127.0.0.1:9"),  # never asked: Redis answers
        prefix=resources.mirror.prefix,
    )
    try:
        for _ in range(2):  # the first call learns the subscriptions, the second guesses them
            result = await dialer.check(EVERY)
            assert result.source == "redis"
            assert {v.phone_number: (v.reason, v.lists) for v in result.verdicts} == expected
        await unsubscribe(resources.uow(), resources.mirror, org.id, stale)
        result = await dialer.check(EVERY)  # its guess is out of date: the reply corrects it
        assert {v.phone_number: v.reason for v in result.verdicts}[E] is None
    finally:
        await dialer.http.aclose()
    assert expected[A] == ("registry", (registry, stale))
    assert expected[B] == (None, ())
    assert expected[C] == ("registry", (stale,))
    assert expected[D] == ("dnc", ("default", stale))
    assert expected[E] == ("registry_stale", (stale,))
