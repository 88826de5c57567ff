"""Reading the list, one entry, the settings and the audit log (domain/usecases/browse.py),
against the in-memory fakes. The same reads run against real Postgres in
tests/api/test_list_management.py."""

import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest

from domain.errors import InvalidInput, InvalidPhoneNumber, NotFound
from domain.model import MAX_PAGE, AuditQuery, BulkItem, DncEntry, PageRequest, Principal
from domain.usecases.browse import MAX_BIGINT, get_entry, get_settings, list_entries, read_audit
from domain.usecases.entries import bulk_add, remove_number, set_dnc_enabled
from tests.unit.world import LISTED, World

T0 = datetime(2020, 1, 1, tzinfo=UTC)  # before anything the tests list now


async def listed(world: World, count: int, principal: Principal | None = None) -> list[str]:
    """``count`` numbers (12125550100, 12125550101, ...), every fifth one of the type
    "litigator" (the first included), the i-th listed i minutes after the first; the numbers,
    newest first."""
    who = principal or world.principal
    items = [
        BulkItem(f"+1212555{100 + i:04d}", type="customer_request" if i % 5 else "litigator")
        for i in range(count)
    ]
    await bulk_add(world.uow, world.mirror, who, items)
    t = world.uow.committed
    for entry in list(t.entries.values()):
        if entry.organization_id == who.organization_id and entry.source == "bulk":
            i = int(entry.phone_number[-3:]) - 100
            t.entries[entry.id] = replace(entry, created_at=T0 + timedelta(minutes=i))
    return [f"1212555{100 + i:04d}" for i in reversed(range(count))]


def numbers(entries: list[DncEntry]) -> list[str]:
    return [e.phone_number for e in entries]


async def test_the_list_pages_newest_first_and_counts_the_whole_list(world: World) -> None:
    newest_first = await listed(world, 25)
    first = await list_entries(world.uow, world.principal, PageRequest(1, 10), None)
    assert (numbers(first.items), first.total, first.has_more) == (newest_first[:10], 25, True)
    last = await list_entries(world.uow, world.principal, PageRequest(3, 10), None)
    assert (numbers(last.items), last.total, last.has_more) == (newest_first[20:], 25, False)
    beyond = await list_entries(world.uow, world.principal, PageRequest(4, 10), None)
    assert (beyond.items, beyond.total, beyond.has_more) == ([], 25, False)


async def test_a_cursor_walks_the_list_once_whatever_is_added_meanwhile(world: World) -> None:
    newest_first = await listed(world, 25)
    seen: list[str] = []
    after = None
    while True:
        page = await list_entries(world.uow, world.principal, PageRequest(1, 10, after), None)
        assert page.total == (25 if after is None else None)  # a cursor skips the full count
        seen += numbers(page.items)
        if not page.has_more:
            break
        after = (page.items[-1].created_at, page.items[-1].id)
        await world.add(f"21255502{len(seen):02d}")  # newest of all: before the cursor
    assert seen == newest_first


async def test_the_list_shows_the_callers_listed_entries_expired_ones_included(
    world: World,
) -> None:
    await listed(world, 3)
    await listed(world, 2, world.new_org("Other"))
    await remove_number(world.uow, world.mirror, world.principal, "+1 212 555 0101", None)
    t = world.uow.committed
    [entry] = [e for e in t.entries.values() if e.phone_number == "12125550102"]
    t.entries[entry.id] = replace(entry, expires_at=T0)  # expired, not retired yet
    page = await list_entries(world.uow, world.principal, PageRequest(), None)
    assert (numbers(page.items), page.total) == (["12125550102", "12125550100"], 2)


async def test_a_search_is_trimmed_and_counted(world: World) -> None:
    await listed(world, 25)
    page = await list_entries(world.uow, world.principal, PageRequest(1, 3), "  LITIGATOR ")
    assert numbers(page.items) == ["12125550120", "12125550115", "12125550110"]
    assert (page.total, page.has_more) == (5, True)
    blank = await list_entries(world.uow, world.principal, PageRequest(1, 3), "   ")
    assert blank.total == 25


async def test_a_search_with_a_nul_character_is_refused(world: World) -> None:
    with pytest.raises(InvalidInput, match=re.escape("search must not contain NUL characters")):
        await list_entries(world.uow, world.principal, PageRequest(), "a\x00b")


@pytest.mark.parametrize(
    ("page", "limit", "message"),
    [
        (0, 10, "page must be 1 or more"),
        (MAX_PAGE + 1, 10, f"page must be at most {MAX_PAGE}; go deeper with the cursor"),
        (1, 0, "limit must be between 1 and 1000"),
        (1, 1001, "limit must be between 1 and 1000"),
    ],
)
async def test_pages_are_bounded_for_the_list_and_the_audit_log(
    world: World, page: int, limit: int, message: str
) -> None:
    with pytest.raises(InvalidInput, match=re.escape(message)):
        PageRequest(page, limit)
    with pytest.raises(InvalidInput, match=re.escape(message)):
        await read_audit(world.uow, world.principal, AuditQuery(), page, limit, None)


async def test_an_entry_is_found_by_its_number_in_any_format(world: World) -> None:
    entry = await world.add(type="customer_request")
    found = await get_entry(world.uow, world.principal, "+1 (212) 555-0100")
    assert (found.id, found.type, found.batch_id) == (entry.id, "customer_request", entry.batch_id)
    with pytest.raises(NotFound, match="Phone number 12125550101 is not on the DNC list"):
        await get_entry(world.uow, world.principal, "212-555-0101")
    with pytest.raises(InvalidPhoneNumber):
        await get_entry(world.uow, world.principal, "not a number")


async def test_an_entry_removed_or_of_another_organization_is_not_found(world: World) -> None:
    await world.add()
    other = world.new_org("Other")
    with pytest.raises(NotFound, match="is not on the DNC list"):
        await get_entry(world.uow, other, LISTED)
    await remove_number(world.uow, world.mirror, world.principal, LISTED, "asked")
    with pytest.raises(NotFound, match="is not on the DNC list"):
        await get_entry(world.uow, world.principal, LISTED)


async def test_the_settings_count_what_checks_block(world: World) -> None:
    await listed(world, 3)
    t = world.uow.committed
    [entry] = [e for e in t.entries.values() if e.phone_number == "12125550102"]
    t.entries[entry.id] = replace(entry, expires_at=T0)  # listed, but no longer blocking
    assert await get_settings(world.uow, world.principal) == (True, 2)
    await set_dnc_enabled(world.uow, world.mirror, world.principal, False)
    assert await get_settings(world.uow, world.principal) == (False, 2)
    gone = replace(world.principal, organization_id=uuid4())
    with pytest.raises(NotFound, match="Organization not found"):
        await get_settings(world.uow, gone)


async def test_the_audit_log_is_filtered_newest_first(world: World) -> None:
    await world.add()
    await world.add("2125550101")
    member = Principal(uuid4(), world.org, "member", "full", uuid4())
    await remove_number(world.uow, world.mirror, member, LISTED, "asked")
    await set_dnc_enabled(world.uow, world.mirror, world.principal, False)
    await world.add("2125550102", principal=world.new_org("Other"))  # not in Acme's log

    async def audit(query: AuditQuery, page: int = 1, limit: int = 10) -> list[str]:
        found = await read_audit(world.uow, world.principal, query, page, limit, None)
        return [f"{r.action} {r.phone_number or ''}".strip() for r in found.items]

    everything = ["dnc.disable", "dnc.remove 12125550100", "dnc.add 12125550101"]
    assert await audit(AuditQuery()) == [*everything, "dnc.add 12125550100"]
    by_number = ["dnc.remove 12125550100", "dnc.add 12125550100"]
    assert await audit(AuditQuery(phone_number="(212) 555-0100")) == by_number
    adds = ["dnc.add 12125550101", "dnc.add 12125550100"]
    assert await audit(AuditQuery(action="dnc.add")) == adds
    assert await audit(AuditQuery(actor=member.user_id)) == ["dnc.remove 12125550100"]
    assert await audit(AuditQuery(), page=1, limit=3) == everything
    assert await audit(AuditQuery(), page=2, limit=3) == ["dnc.add 12125550100"]
    t = world.uow.committed
    t.audit_at[:] = [T0 + timedelta(hours=i) for i in range(len(t.audit_at))]
    window = AuditQuery(since=T0 + timedelta(hours=1), until=T0 + timedelta(hours=3))
    assert await audit(window) == ["dnc.remove 12125550100", "dnc.add 12125550101"]


async def test_an_audit_record_says_who_did_what_to_which_entry(world: World) -> None:
    entry = await world.add(type="litigator")
    found = await read_audit(world.uow, world.principal, AuditQuery(), 1, 10, None)
    [record] = found.items
    assert (found.total, found.has_more) == (1, False)
    assert (record.action, record.actor_user_id, record.entity_id) == (
        "dnc.add",
        world.principal.user_id,
        str(entry.id),
    )
    assert record.after == {
        "type": "litigator",
        "batchId": entry.batch_id,
        "requestUUID": entry.request_uuid,
    }


async def test_the_audit_cursor_continues_below_the_last_record_seen(world: World) -> None:
    for i in range(5):
        await world.add(f"21255501{i:02d}")
    first = await read_audit(world.uow, world.principal, AuditQuery(), 1, 2, None)
    second = await read_audit(world.uow, world.principal, AuditQuery(), 1, 2, first.items[-1].id)
    third = await read_audit(world.uow, world.principal, AuditQuery(), 1, 2, second.items[-1].id)
    walked = [r.phone_number for page in (first, second, third) for r in page.items]
    assert walked == [f"121255501{i:02d}" for i in reversed(range(5))]
    assert [p.has_more for p in (first, second, third)] == [True, True, False]
    assert {p.total for p in (first, second, third)} == {5}


@pytest.mark.parametrize("after_id", [-1, MAX_BIGINT + 1])
async def test_an_audit_cursor_not_handed_out_is_refused(world: World, after_id: int) -> None:
    with pytest.raises(InvalidInput, match="cursor is not one this API handed out"):
        await read_audit(world.uow, world.principal, AuditQuery(), 1, 10, after_id)


async def test_an_audit_window_needs_times_with_a_timezone(world: World) -> None:
    naive = datetime(2026, 1, 1)  # noqa: DTZ001
    for query, name in ((AuditQuery(since=naive), "since"), (AuditQuery(until=naive), "until")):
        with pytest.raises(InvalidInput, match=f"{name} needs a timezone"):
            await read_audit(world.uow, world.principal, query, 1, 10, None)
    with pytest.raises(InvalidPhoneNumber):
        await read_audit(world.uow, world.principal, AuditQuery(phone_number="x"), 1, 10, None)
