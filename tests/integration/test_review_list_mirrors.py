# ruff: noqa: B023  (the closures are awaited inside their loop round)
"""Adversarial review of lists and prefix rules in the Redis mirror: the direct script called as
dialers may call it, and races between deleting a list, writing to it, prefix rules and checks."""

import asyncio
import time
from pathlib import Path
from typing import Any, cast

import pytest
from redis.asyncio import Redis
from redis.exceptions import ResponseError

from domain.errors import InvalidInput
from domain.model import DEFAULT_LIST, BulkItem
from domain.usecases.checks import RebuildRequests, check_numbers
from domain.usecases.entries import bulk_add
from domain.usecases.lists import create_prefix, delete_list, delete_prefix
from domain.usecases.mirror_repair import rebuild_mirror, reconcile
from domain.usecases.shared_lists import create_shared_list, subscribe
from infra.bootstrap import Resources
from infra.redis import layout
from infra.redis.checking import CHECK_SCRIPT
from infra.settings import Settings
from tests.support.helpers import Org, sql
from tests.support.lists import campaign, principal
from tests.support.shared import load

A, B, C, D = "12125550100", "12125550101", "442079460958", "13105550199"
DATA = Path(__file__).parent / "data"
BEFORE_LISTS = (DATA / "check_before_lists.lua").read_text()
BEFORE_SHARED = (DATA / "check_before_shared.lua").read_text()


def redis_of(resources: Resources) -> Redis:
    return cast(Redis, resources.mirror.redis)


async def run(
    resources: Resources, org: Org, script: str, named: list[str], args: list[str]
) -> Any:
    """An organization's check.lua call: ``args`` the numbers, 'o' put before them."""
    keys = layout.check_keys(resources.mirror.prefix, org.id, named)
    return await redis_of(resources).register_script(script)(keys=keys, args=["o", *args])


async def run_old(
    resources: Resources, org: Org, script: str, named: list[str], args: list[str]
) -> Any:
    """A call of a script shipped before exemptions, with the keys it took: two for the
    org-wide list (its meta key and its bucket keys' prefix), then two for each named list."""
    keys = layout.check_keys(resources.mirror.prefix, org.id, named)
    del keys[2]  # the exemptions key
    return await redis_of(resources).register_script(script)(keys=keys, args=args)


async def check(resources: Resources, org: Org, numbers: list[str], named: list[str] = []) -> Any:  # noqa: B006
    return await check_numbers(
        resources.uow(), resources.mirror, RebuildRequests(resources.queue), org.id, numbers, named
    )


# --- the direct script ------------------------------------------------------------------------


async def test_the_script_shipped_before_lists_does_not_read_a_prefix_rule_as_callable(
    resources: Resources, org: Org
) -> None:
    """The check.lua dialers loaded before this release (two keys, "mI = 1 listed, 0 not")
    still runs against the new layout: the keys and meta fields it reads are all there. It
    knows nothing of prefix rules, so a number blocked by a rule alone reads as 0, callable.
    When 0003 changed the script's keys, the old call was made to fail (an error, read as
    unknown); this change needs the same: an old script must read the mirror as not ready."""
    await create_prefix(resources.uow(), resources.mirror, principal(org), "1212555", None)
    assert (await check(resources, org, [A])).verdicts[0].blocked  # the API blocks it
    reply = await run_old(resources, org, BEFORE_LISTS, [], ["@", A])
    assert reply[:2] != [1, 1] or reply[2] != b"0", reply  # not "enabled, ready, callable"


async def test_the_script_shipped_before_shared_lists_reads_the_mirror_as_unknown(
    resources: Resources, org: Org
) -> None:
    """The check.lua dialers loaded before shared lists (two keys, then two a named list;
    '@' and the numbers) knows neither shared lists nor exemptions: a number a subscribed
    registry holds would read as callable. It must find no flag (ready2) and answer
    "unknown", for the org-wide list and for a named list alike."""
    named = await campaign(resources, org, "First")
    registry = await create_shared_list(resources.uow(), "National registry", "registry")
    await load(resources, registry.id, [A])
    await subscribe(resources.uow(), resources.mirror, org.id, registry.id)
    result = await check(resources, org, [A, B])
    assert result.source == "redis"  # the API blocks it, from Redis
    assert [(v.blocked, v.reason, v.lists) for v in result.verdicts] == [
        (True, "registry", (registry.id,)),
        (False, None, ()),
    ]
    # as the release before shared lists left the mirror: its flag on every list
    metas = [
        layout.list_meta_key(resources.mirror.prefix, org.id, i) for i in (DEFAULT_LIST, named)
    ]
    for meta in metas:
        await redis_of(resources).hset(meta, "ready2", "1")  # type: ignore[misc]
    reply = await run_old(resources, org, BEFORE_SHARED, [named], ["@", f"{A},{B}"])
    assert reply == [1, 1, b"00"]  # what a dialer would hear: A callable
    await rebuild_mirror(resources.uow(), resources.mirror, org.id)  # the flags of this release
    for lists in ([], [named]):
        assert await run_old(resources, org, BEFORE_SHARED, lists, ["@", f"{A},{B}"]) == [-1, 0]
        assert await run_old(resources, org, BEFORE_SHARED, lists, [A, B]) == [-1, 0]


@pytest.mark.parametrize("number", ["+12125550100", " 12125550100", "012125550100", "12125550100 "])
async def test_a_number_that_is_not_bare_digits_is_refused_not_half_answered(
    resources: Resources, org: Org, number: str
) -> None:
    """check.lua looks a number up by its value (tonumber reads '+1212…', ' 1212…' and
    '01212…' as 12125550100) but matches prefix rules on its text: the same argument is
    found on a list and missed by a rule. A dialer that sends '+E.164' (the form every other
    entry point accepts) hears "callable" for a number a rule blocks. It must be an error (read
    as unknown) or answered whole."""
    named = await campaign(resources, org, "First", A)
    await create_prefix(resources.uow(), resources.mirror, principal(org), "1212555", None)
    try:
        reply = await run(resources, org, CHECK_SCRIPT, [named], [number])
    except ResponseError:
        return  # refused: the caller reads that as unknown
    # the named list (2) and the rule (4) both block 12125550100
    assert reply == [1, 1, b"", b"6"], reply


@pytest.mark.parametrize("packed", ["12125550100,1 212 555 0101", "12125550100;13105550199"])
async def test_a_packed_call_with_separators_is_refused_not_misaligned(
    resources: Resources, org: Org, packed: str
) -> None:
    """Packed, the script reads every run of digits as a number: '1 212 555 0101' becomes four
    numbers and every mask after it shifts; a dialer that reads masks by position then hears
    another number's answer. Anything but digits and commas should be an error."""
    await bulk_add(resources.uow(), resources.mirror, principal(org), [BulkItem(B)])
    try:
        reply = await run(resources, org, CHECK_SCRIPT, [], [packed])
    except ResponseError:
        return
    assert len(reply[3]) == packed.count(",") + 1, reply


@pytest.mark.parametrize("count", [0, 1, 2, 4, 6])
async def test_an_organizations_call_with_an_even_count_of_keys_is_an_error(
    resources: Resources, org: Org, count: int
) -> None:
    """'o' takes three keys, then two a named list; 's' two a shared list: any other count is
    an error, whatever keys they are."""
    keys = layout.check_keys(resources.mirror.prefix, org.id, ["a", "b"])[:count]
    with pytest.raises(ResponseError, match="takes 3 keys"):
        await redis_of(resources).register_script(CHECK_SCRIPT)(keys=keys, args=["o", A])
    shared = layout.shared_check_keys(resources.mirror.prefix, ["r1", "r2"])
    for keys in (shared[:1], shared[:3], [], layout.check_keys(resources.mirror.prefix, org.id)):
        with pytest.raises(ResponseError, match="2 keys for each shared list"):
            await redis_of(resources).register_script(CHECK_SCRIPT)(keys=keys, args=["s", A])


async def test_twenty_named_lists_and_the_rules_answer_every_bit(
    resources: Resources, org: Org
) -> None:
    """23 bits in 6 hex digits a number: the org-wide list, 20 named lists, the rules, an
    exemption."""
    named = [await campaign(resources, org, f"l{i}") for i in range(20)]
    items = [BulkItem(A, list_id=list_id) for list_id in named[::3]]
    await bulk_add(resources.uow(), resources.mirror, principal(org), items)
    await create_prefix(resources.uow(), resources.mirror, principal(org), "1212555", None)
    reply = await run(resources, org, CHECK_SCRIPT, named, [f"{A},{D}"])
    expected = sum(1 << (i + 1) for i in range(0, 20, 3)) | 1 << 21
    assert reply == [1, 1, b"", f"{expected:06x}{0:06x}".encode()]
    result = await check(resources, org, [A, D], named)
    assert result.source == "redis"
    assert result.verdicts[0].lists == tuple(named[::3])
    assert result.verdicts[1].blocked is False


# --- prefix rules and checks ------------------------------------------------------------------


async def test_prefix_rules_created_together_all_reach_redis(
    resources: Resources, org: Org
) -> None:
    prefixes = [f"1212555{i:02d}" for i in range(12)]
    await asyncio.gather(
        *(
            create_prefix(resources.uow(), resources.mirror, principal(org), p, None)
            for p in prefixes
        )
    )
    numbers = [f"{p}00" for p in prefixes]
    reply = await run(resources, org, CHECK_SCRIPT, [], [",".join(numbers)])
    assert reply == [1, 1, b"", b"2" * len(prefixes)]


async def test_a_rule_blocks_from_its_return_on_while_checks_and_removals_run(
    resources: Resources, org: Org
) -> None:
    """Checks all along; once create_prefix returned every check of a matching number blocks,
    until its own removal starts."""
    stop = asyncio.Event()
    created_at: list[float] = []
    removing_at: list[float] = []
    wrong: list[float] = []

    async def checker() -> None:
        while not stop.is_set():
            at = time.monotonic()
            result = await check(resources, org, [A])
            if (
                created_at
                and not removing_at
                and at > created_at[0]
                and not result.verdicts[0].blocked
            ):
                wrong.append(at)
            await asyncio.sleep(0)

    async def writer() -> None:
        await asyncio.sleep(0.05)
        rule = await create_prefix(
            resources.uow(), resources.mirror, principal(org), "121255", None
        )
        created_at.append(time.monotonic())
        for i in range(10):  # unrelated rules come and go meanwhile
            other = await create_prefix(
                resources.uow(), resources.mirror, principal(org), f"44207946{i:02d}", None
            )
            await delete_prefix(resources.uow(), resources.mirror, principal(org), str(other.id))
        removing_at.append(time.monotonic())
        await delete_prefix(resources.uow(), resources.mirror, principal(org), str(rule.id))
        stop.set()

    await asyncio.gather(checker(), checker(), writer())
    assert wrong == []
    assert (await check(resources, org, [A])).verdicts[0].blocked is False


async def test_many_prefix_rules_do_not_hold_redis_up_for_every_organization(
    resources: Resources, org: Org, settings: Settings
) -> None:
    """Nothing limits how many rules an organization may have, and check.lua parses all of
    them on every call (Redis runs one script at a time, for every tenant). 100,000 rules (one
    per 10,000-number block of +1 212) make a one-number check take ~45 ms of Redis's time.
    Either rules are capped (a 400 past the cap) or a check costs about the same with many."""
    await sql(
        settings,
        "INSERT INTO dnc_prefixes (id, organization_id, prefix) "
        "SELECT gen_random_uuid(), $1, (1212000000 + i)::text FROM generate_series(0, 99999) i",
        org.id,
    )
    try:
        await create_prefix(resources.uow(), resources.mirror, principal(org), "13105550", None)
    except InvalidInput:
        return  # capped
    started = time.perf_counter()
    for _ in range(10):
        await run(resources, org, CHECK_SCRIPT, [], [D])
    per_call = (time.perf_counter() - started) / 10
    assert per_call < 0.005, f"{per_call * 1000:.1f} ms of Redis a one-number check"


# --- deleting a list while it is written to, rebuilt or checked ------------------------------


async def test_deleting_a_list_while_numbers_are_added_to_it_leaves_nothing_listed_behind(
    resources: Resources, org: Org, settings: Settings
) -> None:
    for round_ in range(6):
        named = await campaign(resources, org, f"race {round_}", A)
        items = [BulkItem(f"1310555{round_}{i:03d}") for i in range(200)]

        async def add() -> str:
            try:
                await bulk_add(resources.uow(), resources.mirror, principal(org), items, named)
            except InvalidInput:
                return "refused"
            return "added"

        async def remove() -> None:
            await asyncio.sleep(0.002 * round_)
            await delete_list(resources.uow(), resources.mirror, org.id, org.admin_id, named)

        outcome, _ = await asyncio.gather(add(), remove())
        rows = await sql(
            settings,
            "SELECT count(*) AS n FROM dnc_entries WHERE organization_id = $1 AND list_id = $2 "
            "AND removed_at IS NULL",
            org.id,
            named,
        )
        assert rows[0]["n"] == 0, (round_, outcome)
        pattern = f"{resources.mirror.prefix}:{{{org.id}}}:l:{named}:*"
        keys = [key async for key in redis_of(resources).scan_iter(match=pattern, count=1000)]
        assert keys == [], (round_, outcome)
        with pytest.raises(InvalidInput):
            await check(resources, org, [A], [named])


async def test_deleting_a_list_during_a_rebuild_of_the_organization_leaves_no_key(
    resources: Resources, org: Org
) -> None:
    for round_ in range(4):
        named = await campaign(resources, org, f"rebuilt {round_}", A, B)
        await asyncio.gather(
            rebuild_mirror(resources.uow(), resources.mirror, org.id),
            delete_list(resources.uow(), resources.mirror, org.id, org.admin_id, named),
        )
        pattern = f"{resources.mirror.prefix}:{{{org.id}}}:l:{named}:*"
        keys = [key async for key in redis_of(resources).scan_iter(match=pattern, count=1000)]
        assert keys == [], round_
    assert await reconcile(resources.uow(), resources.mirror, resources.queue) == []


async def test_a_named_list_whose_keys_are_lost_is_still_blocked_and_repaired(
    resources: Resources, org: Org
) -> None:
    named = await campaign(resources, org, "First", A)
    redis = redis_of(resources)
    pattern = f"{resources.mirror.prefix}:{{{org.id}}}:l:{named}:*"
    keys = [key async for key in redis.scan_iter(match=pattern, count=1000)]
    assert keys
    await redis.delete(*keys)
    result = await check(resources, org, [A, B], [named])
    assert (result.source, [v.blocked for v in result.verdicts]) == ("postgres", [True, False])
    [drift] = await reconcile(resources.uow(), resources.mirror, resources.queue)
    assert (drift.list_id, drift.ready) == (named, False)
    await rebuild_mirror(resources.uow(), resources.mirror, org.id)
    result = await check(resources, org, [A], [named])
    assert (result.source, result.verdicts[0].lists) == ("redis", (named,))
    assert (await check(resources, org, [A])).verdicts[0].lists == ()
    assert DEFAULT_LIST not in result.verdicts[0].lists


# --- the rotating full verification -----------------------------------------------------------


async def test_the_saved_verification_cursor_keeps_its_list(resources: Resources, org: Org) -> None:
    """README: the cursor hash holds `org`, `list`, `phase`, `after`, `bucket`. What
    RedisMirror.save_verify_cursor writes has no `list`, and verify_cursor reads every cursor
    back as the org-wide list's."""
    from domain.model import VerifyCursor

    named = await campaign(resources, org, "First", A)
    saved = VerifyCursor(org.id, "postgres", A, 0, named)
    await resources.mirror.save_verify_cursor(saved)
    assert await resources.mirror.verify_cursor() == saved


async def test_the_full_verification_reaches_the_end_of_a_named_list(
    resources: Resources, org: Org
) -> None:
    """A round that stops inside a named list must go on there next round. Since the cursor
    comes back as the org-wide list's, each round restarts the named list from its first
    number: a number lost behind the scripts' back at its end is never found, and nothing
    after the list (the next organizations) is ever verified again."""
    from domain.usecases.mirror_repair import verify_slice

    numbers = [f"1310555{i:04d}" for i in range(12)]
    named = await campaign(resources, org, "First", *numbers)
    state = await resources.mirror.state(org.id, named)
    assert state.generation
    assert state.buckets
    bucket, member = layout.locate(int(numbers[-1]), state.buckets)
    key = layout.list_bucket_key(resources.mirror.prefix, org.id, named, state.generation, bucket)
    await redis_of(resources).srem(key, member)  # type: ignore[misc]
    budget = 3  # with a budget above the list's size (one round covers it) it is found
    found = []
    for _ in range(30):  # budget 3 a round: 12 numbers take 4 rounds, 30 rounds are plenty
        found += await verify_slice(resources.uow(), resources.mirror, budget)
    assert [(d.list_id, d.missing_in_redis) for d in found][:1] == [(named, 1)]


async def test_lists_come_in_the_order_named_from_redis_and_from_postgres(
    resources: Resources, org: Org
) -> None:
    first = await campaign(resources, org, "First", A)
    second = await campaign(resources, org, "Second", A)
    await bulk_add(resources.uow(), resources.mirror, principal(org), [BulkItem(A)])
    result = await check(resources, org, [A], [second, first, second])
    assert (result.source, result.verdicts[0].lists) == ("redis", (DEFAULT_LIST, second, first))
    await redis_of(resources).hdel(resources.mirror.meta_key(org.id), "ready3")  # type: ignore[misc]
    result = await check(resources, org, [A], [second, first])
    assert (result.source, result.verdicts[0].lists) == ("postgres", (DEFAULT_LIST, second, first))


async def test_the_python_client_falls_back_for_a_list_not_ready_and_refuses_an_unknown_one(
    resources: Resources, org: Org, other_org: Org, settings: Settings
) -> None:
    from litestar.testing import AsyncTestClient

    from app.asgi import create_app
    from infra.dnc_client import DncClient, DncUnavailable

    named = await campaign(resources, org, "First", A)
    theirs = await campaign(resources, other_org, "Theirs", B)
    await create_prefix(resources.uow(), resources.mirror, principal(org), "4420", None)
    async with AsyncTestClient(app=create_app(settings)) as http:
        http.headers["Authorization"] = f"Bearer {org.token}"
        dialer = DncClient(
            redis=resources.mirror.redis,
            organization_id=org.id,
            http=http,
            prefix=settings.redis_prefix,
        )
        result = await dialer.check([A, B, C, "+1 212 555 0100"], lists=[named, "default", named])
        assert result.source == "redis"
        assert [(v.blocked, v.reason, v.lists) for v in result.verdicts] == [
            (True, "dnc", (named,)),
            (False, None, ()),
            (True, "prefix", ()),
            (True, "dnc", (named,)),
        ]
        meta = layout.list_meta_key(resources.mirror.prefix, org.id, named)
        await redis_of(resources).hdel(meta, "ready3")  # type: ignore[misc]
        result = await dialer.check([A, C], lists=[named])
        assert (result.source, [v.lists for v in result.verdicts]) == ("api", [(named,), ()])
        assert result.verdicts[1].reason == "prefix"
        with pytest.raises(DncUnavailable):
            await dialer.check([B], lists=[theirs])
        with pytest.raises(DncUnavailable):
            await dialer.check([A], lists=named)  # a str, not a list


async def test_a_named_list_larger_than_a_round_does_not_stop_the_rotation(
    resources: Resources, org: Org, other_org: Org
) -> None:
    """The same cursor bug seen from the next organization: once a round ends inside a named
    list larger than a round's budget, every later round starts that organization over, and
    the organizations after it are never fully verified again."""
    from domain.usecases.mirror_repair import verify_slice

    first, later = sorted([org, other_org], key=lambda o: o.id)
    await campaign(resources, first, "Big", *[f"1310555{i:04d}" for i in range(12)])
    await bulk_add(resources.uow(), resources.mirror, principal(later), [BulkItem(A)])
    state = await resources.mirror.state(later.id)
    assert state.generation
    assert state.buckets
    bucket, member = layout.locate(int(A), state.buckets)
    key = layout.bucket_key(resources.mirror.prefix, later.id, state.generation, bucket)
    await redis_of(resources).srem(key, member)  # type: ignore[misc]
    found = []
    for _ in range(30):
        found += await verify_slice(resources.uow(), resources.mirror, 3)
    assert [d.organization_id for d in found][:1] == [later.id]
