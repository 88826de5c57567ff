"""Named lists and prefix rules in the Redis mirror, against real Postgres and Redis: the one
script answers the org-wide list, the named lists asked about and the prefix rules in one round
trip; a list that is not ready reads as unknown; rebuilds, syncs and the reconciliation cover
every list; a deleted list leaves no key behind."""

from collections.abc import Awaitable
from typing import Any, cast

from redis.asyncio import Redis

from domain.model import DEFAULT_LIST, BulkItem
from domain.usecases.checks import RebuildRequests, check_numbers
from domain.usecases.entries import bulk_add
from domain.usecases.lists import create_prefix, delete_list
from domain.usecases.mirror_repair import (
    check_summary,
    mirror_status,
    rebuild_mirror,
    reconcile,
    verify,
)
from infra.bootstrap import Resources
from infra.redis import layout
from infra.redis.checking import CHECK_SCRIPT
from tests.support.helpers import Org
from tests.support.lists import campaign, principal

A, B, C, D = "12125550100", "12125550101", "442079460958", "13105550199"


async def script(resources: Resources, org: Org, named: list[str], numbers: list[str]) -> Any:
    redis = cast(Redis, resources.mirror.redis)
    keys = layout.check_keys(resources.mirror.prefix, org.id, named)
    return await redis.register_script(CHECK_SCRIPT)(keys=keys, args=["o", ",".join(numbers)])


async def test_one_round_trip_answers_every_list_asked_and_the_prefix_rules(
    resources: Resources, org: Org
) -> None:
    first = await campaign(resources, org, "First", A, B)
    second = await campaign(resources, org, "Second", B)
    await bulk_add(resources.uow(), resources.mirror, principal(org), [BulkItem(A)])
    await create_prefix(resources.uow(), resources.mirror, principal(org), "+44 20", None)
    reply = await script(resources, org, [first, second], [A, B, C, D])
    # bits: 1 the org-wide list, 2 the first named list, 4 the second, 8 a prefix rule (16
    # an exemption), two hex digits a number; no subscriptions
    assert reply == [1, 1, b"", b"03060800"]
    for n, number in enumerate([A, B, C, D]):  # each number alone gets its own digits
        alone = await script(resources, org, [first, second], [number])
        assert alone == [1, 1, b"", reply[3][2 * n : 2 * n + 2]]
    # without named lists: 1 the org-wide list, 2 a prefix rule, one digit a number
    assert await script(resources, org, [], [A, B, C, D]) == [1, 1, b"", b"1020"]
    # the API reads the same reply
    result = await check_numbers(
        resources.uow(),
        resources.mirror,
        RebuildRequests(resources.queue),
        org.id,
        [A, B, C, D],
        [first, second],
    )
    assert result.source == "redis"
    assert [(v.blocked, v.reason, v.lists) for v in result.verdicts] == [
        (True, "dnc", (DEFAULT_LIST, first)),
        (True, "dnc", (first, second)),
        (True, "prefix", ()),
        (False, None, ()),
    ]


async def test_a_list_not_ready_and_prefix_rules_unknown_read_as_unknown(
    resources: Resources, org: Org
) -> None:
    named = await campaign(resources, org, "First", A)
    redis = cast(Redis, resources.mirror.redis)
    assert await script(resources, org, ["never-made"], [A]) == [-1, 0]
    meta = layout.list_meta_key(resources.mirror.prefix, org.id, named)
    await cast(Awaitable[int], redis.hdel(meta, "ready3"))
    assert await script(resources, org, [named], [A]) == [-1, 0]
    assert (await script(resources, org, [], [A]))[:2] == [1, 1]  # the others still answer
    meta = resources.mirror.meta_key(org.id)
    await cast(Awaitable[int], redis.hdel(meta, "prefixes"))
    assert await script(resources, org, [], [A]) == [-1, 0]
    await cast(Awaitable[int], redis.hset(meta, "prefixes", ""))
    assert (await script(resources, org, [], [A]))[:2] == [1, 1]
    await cast(Awaitable[int], redis.hdel(meta, "shared"))  # subscriptions unknown
    assert await script(resources, org, [], [A]) == [-1, 0]
    # the API then answers from Postgres, and a rebuild makes every list ready again
    rebuilds = RebuildRequests(resources.queue)
    result = await check_numbers(resources.uow(), resources.mirror, rebuilds, org.id, [A], [named])
    assert (result.source, result.verdicts[0].lists) == ("postgres", (named,))
    await rebuild_mirror(resources.uow(), resources.mirror, org.id)
    assert await script(resources, org, [named], [A]) == [1, 1, b"", b"2"]


async def test_a_rebuild_after_redis_lost_everything_restores_every_list_and_rule(
    resources: Resources, org: Org
) -> None:
    first = await campaign(resources, org, "First", A, B)
    second = await campaign(resources, org, "Second", C)
    await create_prefix(resources.uow(), resources.mirror, principal(org), "1310555", "storm")
    redis = cast(Redis, resources.mirror.redis)
    pattern = f"{resources.mirror.prefix}:{{{org.id}}}:*"
    keys = [key async for key in redis.scan_iter(match=pattern, count=1000)]
    await redis.delete(*keys)
    report = await rebuild_mirror(resources.uow(), resources.mirror, org.id)
    assert (report.loaded, report.swapped) == (3, True)
    assert await script(resources, org, [first, second], [A, B, C, D]) == [1, 1, b"", b"02020408"]
    for list_id in (DEFAULT_LIST, first, second):
        drift = await verify(resources.uow(), resources.mirror, org.id, list_id)
        assert not drift.drifted, drift
    statuses = await mirror_status(resources.uow(), resources.mirror, org.id)
    assert [(s.list_id, s.state.ready, s.postgres, s.redis) for s in statuses] == [
        (DEFAULT_LIST, True, 0, 0),
        (first, True, 2, 2),
        (second, True, 1, 1),
    ]


async def test_the_reconciliation_sees_drift_in_a_named_list_and_in_the_rules(
    resources: Resources, org: Org
) -> None:
    named = await campaign(resources, org, "First", A, B)
    await create_prefix(resources.uow(), resources.mirror, principal(org), "1310555", None)
    assert await reconcile(resources.uow(), resources.mirror, resources.queue) == []
    redis = cast(Redis, resources.mirror.redis)
    state = await resources.mirror.state(org.id, named)
    assert state.generation
    assert state.buckets
    bucket, member = layout.locate(int(A), state.buckets)
    key = layout.list_bucket_key(resources.mirror.prefix, org.id, named, state.generation, bucket)
    await cast(Awaitable[int], redis.srem(key, member))  # lost behind the scripts' back
    [drift] = await reconcile(resources.uow(), resources.mirror, resources.queue)
    assert (drift.list_id, drift.missing_in_redis) == (named, 1)
    await rebuild_mirror(resources.uow(), resources.mirror, org.id)
    assert await reconcile(resources.uow(), resources.mirror, resources.queue) == []
    await cast(Awaitable[int], redis.hset(resources.mirror.meta_key(org.id), "prefixes", ""))
    summary = await check_summary(resources.uow(), resources.mirror, org.id)  # the rules differ
    assert summary is not None
    assert summary.checksum_differs


async def test_a_deleted_list_leaves_no_key_and_reads_as_unknown(
    resources: Resources, org: Org
) -> None:
    named = await campaign(resources, org, "First", A, B)
    await delete_list(resources.uow(), resources.mirror, org.id, org.admin_id, named)
    redis = cast(Redis, resources.mirror.redis)
    pattern = f"{resources.mirror.prefix}:{{{org.id}}}:l:{named}:*"
    assert [key async for key in redis.scan_iter(match=pattern, count=1000)] == []
    assert await script(resources, org, [named], [A]) == [-1, 0]
