"""Named lists and prefix rules, against the in-memory unit of work and mirror: everything that
holds for the org-wide list holds for a named one, a prefix rule blocks on every check, and
an unknown list is a 400. The same paths run against real Postgres and Redis in tests/api."""

from datetime import timedelta
from unittest.mock import patch
from uuid import UUID, uuid4

import pytest

from domain.errors import Conflict, InvalidInput, NotFound
from domain.model import DEFAULT_LIST, BulkItem, CheckResult, Principal
from domain.time import utcnow
from domain.usecases.checks import RebuildRequests, check_numbers
from domain.usecases.entries import bulk_add, expire_due, remove_number, set_dnc_enabled
from domain.usecases.identity import create_organization
from domain.usecases.lists import (
    all_lists,
    all_prefixes,
    create_list,
    create_prefix,
    delete_list,
    delete_prefix,
    prefix_of,
)
from tests.unit.fakes import FakeMirror, FakeQueue, FakeUnitOfWork

A = "12125550100"
B = "12125550101"
C = "442079460958"


class World:
    def __init__(self) -> None:
        self.uow = FakeUnitOfWork()
        self.mirror = FakeMirror()
        self.queue = FakeQueue()
        self.rebuilds = RebuildRequests(self.queue)
        self.principal: Principal

    async def start(self) -> "World":
        org, admin = await create_organization(self.uow, "Acme", "admin@acme.test")
        self.principal = Principal(admin.id, org.id, "admin", "full", uuid4())
        self.mirror.load(org.id, set())
        return self

    @property
    def org(self) -> UUID:
        return self.principal.organization_id

    async def new_list(self, name: str = "Campaign 7") -> str:
        return (
            await create_list(self.uow, self.mirror, self.org, self.principal.user_id, name, None)
        ).id

    async def add(self, *numbers: str, list_id: str = DEFAULT_LIST) -> list[str]:
        items = [BulkItem(n) for n in numbers]
        outcomes = await bulk_add(self.uow, self.mirror, self.principal, items, list_id)
        return [o.outcome for o in outcomes]

    async def check(self, *numbers: str, lists: tuple[str, ...] = ()) -> CheckResult:
        return await check_numbers(
            self.uow, self.mirror, self.rebuilds, self.org, list(numbers), lists
        )

    async def answers(
        self, *numbers: str, lists: tuple[str, ...] = ()
    ) -> list[tuple[bool, str | None, tuple[str, ...]]]:
        result = await self.check(*numbers, lists=lists)
        return [(v.blocked, v.reason, v.lists) for v in result.verdicts]


@pytest.fixture
async def world() -> World:
    return await World().start()


async def test_an_organization_starts_with_its_org_wide_list_and_named_lists_follow(
    world: World,
) -> None:
    named = await world.new_list()
    lists = await all_lists(world.uow, world.org)
    assert [(found.id, found.kind, found.count) for found in lists] == [
        (DEFAULT_LIST, "org", 0),
        (named, "campaign", 0),
    ]
    assert world.mirror.named_ready[world.org, named]  # checks naming it answer from Redis
    assert (await world.check(A, lists=(named,))).source == "redis"


async def test_a_list_name_is_taken_whatever_its_case_and_must_not_be_empty(
    world: World,
) -> None:
    await world.new_list("Spring promo")
    with pytest.raises(Conflict, match="exists already"):
        await world.new_list("SPRING PROMO ")
    with pytest.raises(InvalidInput, match="name must not be empty"):
        await world.new_list("  ")


async def test_a_named_list_blocks_only_the_checks_that_name_it(world: World) -> None:
    named = await world.new_list()
    assert await world.add(A, list_id=named) == ["added"]
    assert await world.answers(A) == [(False, None, ())]
    assert await world.answers(A, lists=(named,)) == [(True, "dnc", (named,))]
    world.mirror.down = True  # Postgres answers the same
    assert await world.answers(A) == [(False, None, ())]
    assert await world.answers(A, lists=(named,)) == [(True, "dnc", (named,))]


async def test_already_listed_means_on_that_list_and_a_number_may_be_on_several(
    world: World,
) -> None:
    named = await world.new_list()
    assert await world.add(A) == ["added"]
    assert await world.add(A, list_id=named) == ["added"]
    assert await world.add(A, list_id=named) == ["duplicate"]
    for down in (False, True):
        world.mirror.down = down
        assert await world.answers(A, lists=(named, DEFAULT_LIST, named)) == [
            (True, "dnc", (DEFAULT_LIST, named))
        ]


async def test_bulk_items_may_each_name_their_list(world: World) -> None:
    first, second = await world.new_list("one"), await world.new_list("two")
    items = [BulkItem(A, list_id=first), BulkItem(A, list_id=second), BulkItem(B)]
    outcomes = await bulk_add(world.uow, world.mirror, world.principal, items, first)
    assert [o.outcome for o in outcomes] == ["added", "added", "added"]
    assert await world.answers(A, B, lists=(first, second)) == [
        (True, "dnc", (first, second)),
        (True, "dnc", (first,)),  # B went to the request's list
    ]


async def test_removing_from_a_named_list_leaves_the_others(world: World) -> None:
    named = await world.new_list()
    await world.add(A)
    await world.add(A, list_id=named)
    await remove_number(world.uow, world.mirror, world.principal, A, "asked", named)
    assert await world.answers(A, lists=(named,)) == [(True, "dnc", (DEFAULT_LIST,))]
    with pytest.raises(NotFound, match=f"not on list '{named}'"):
        await remove_number(world.uow, world.mirror, world.principal, A, None, named)


async def test_an_unknown_list_is_a_400_for_checks_and_writes_and_nothing_is_written(
    world: World,
) -> None:
    for down in (False, True):
        world.mirror.down = down
        with pytest.raises(InvalidInput, match="Unknown list id 'nope'"):
            await world.check(A, lists=("nope",))
    world.mirror.down = False
    with pytest.raises(InvalidInput, match="Unknown list id"):
        await world.check(A, lists=("a b",))
    with pytest.raises(InvalidInput, match="Unknown list id 'nope'"):
        await world.add(A, list_id="nope")
    assert world.uow.committed.entries == {}
    assert world.queue.rebuilds == []  # a bad id asks for no rebuild


async def test_deleting_a_list_tombstones_its_entries_and_its_id_is_unknown_after(
    world: World,
) -> None:
    named = await world.new_list()
    await world.add(A, B, list_id=named)
    await world.add(A)
    deleted = await delete_list(world.uow, world.mirror, world.org, world.principal.user_id, named)
    assert deleted.count == 2
    t = world.uow.committed
    assert {e.id for e in t.entries.values() if e.list_id == named} <= set(t.removed)
    assert (world.org, named) not in world.mirror.named_ready  # its keys are gone
    [event] = [e for e in t.audit if e.action == "list.delete"]
    assert (event.list_id, event.after) == (named, {"removed": 2})
    with pytest.raises(InvalidInput, match="Unknown list id"):
        await world.check(A, lists=(named,))
    assert await world.answers(A, B) == [(True, "dnc", (DEFAULT_LIST,)), (False, None, ())]
    with pytest.raises(NotFound):
        await delete_list(world.uow, world.mirror, world.org, world.principal.user_id, named)
    with pytest.raises(InvalidInput, match="org-wide list cannot be deleted"):
        await delete_list(world.uow, world.mirror, world.org, world.principal.user_id, DEFAULT_LIST)


async def test_a_prefix_rule_blocks_every_number_it_starts_and_a_list_names_the_reason(
    world: World,
) -> None:
    rule = await create_prefix(world.uow, world.mirror, world.principal, "+1 212-555", "storm")
    assert rule.prefix == "1212555"
    await world.add(A)
    for down in (False, True):
        world.mirror.down = down
        assert await world.answers(A, B, C) == [
            (True, "dnc", (DEFAULT_LIST,)),
            (True, "prefix", ()),
            (False, None, ()),
        ]
    world.mirror.down = False
    await delete_prefix(world.uow, world.mirror, world.principal, str(rule.id))
    assert await world.answers(B) == [(False, None, ())]
    assert await all_prefixes(world.uow, world.org) == []


async def test_prefix_rules_are_4_to_14_digits_starting_with_a_country_code(
    world: World,
) -> None:
    assert prefix_of("44 20") == "4420"
    assert prefix_of("12125551234") == "12125551234"
    for bad in ("121", "1" * 15, "12a4", "+", "9991234", "٣٣٣٣٣"):
        with pytest.raises(InvalidInput):
            prefix_of(bad)
    await create_prefix(world.uow, world.mirror, world.principal, "1212", None)
    with pytest.raises(Conflict):
        await create_prefix(world.uow, world.mirror, world.principal, "+1212", None)
    with pytest.raises(NotFound):
        await delete_prefix(world.uow, world.mirror, world.principal, str(uuid4()))
    with pytest.raises(NotFound):
        await delete_prefix(world.uow, world.mirror, world.principal, "not-an-id")


async def test_with_dnc_off_neither_lists_nor_prefix_rules_block(world: World) -> None:
    named = await world.new_list()
    await world.add(A, list_id=named)
    await create_prefix(world.uow, world.mirror, world.principal, "1212555", None)
    await set_dnc_enabled(world.uow, world.mirror, world.principal, False)
    for down in (False, True):
        world.mirror.down = down
        assert await world.answers(A, B, lists=(named,)) == [
            (False, None, ()),
            (False, None, ()),
        ]


async def test_a_check_may_name_at_most_twenty_lists(world: World) -> None:
    with pytest.raises(InvalidInput, match="at most 20 lists"):
        await world.check(A, lists=tuple(f"l{i}" for i in range(21)))


async def test_an_entry_on_a_named_list_expires_like_any_other(world: World) -> None:
    named = await world.new_list()
    soon = utcnow() + timedelta(seconds=30)
    items = [BulkItem(A, expires_at=soon), BulkItem(B)]
    await bulk_add(world.uow, world.mirror, world.principal, items, named)
    assert await world.answers(A, B, lists=(named,)) == [
        (True, "dnc", (named,)),
        (True, "dnc", (named,)),
    ]
    later = soon + timedelta(seconds=1)
    with patch("domain.usecases.entries.utcnow", return_value=later):
        assert await expire_due(world.uow, world.mirror) == 1
    [event] = [e for e in world.uow.committed.audit if e.action == "dnc.expire"]
    assert (event.phone_number, event.list_id) == (A, named)
    assert world.mirror.named_live[world.org, named].numbers == {B}
    assert await world.answers(A, B, lists=(named,)) == [(False, None, ()), (True, "dnc", (named,))]
