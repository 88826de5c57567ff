"""Reading the list: its entries, one entry, the settings, the audit log."""

from collections.abc import Iterable
from datetime import datetime, timedelta
from uuid import UUID

from domain.errors import InvalidInput, NotFound
from domain.model import (
    DEFAULT_LIST,
    AuditPage,
    AuditQuery,
    DncEntry,
    EnforcementReport,
    EntryPage,
    PageRequest,
    PastEntry,
    Principal,
)
from domain.phone import normalize
from domain.ports import UnitOfWork
from domain.text import storable
from domain.time import as_utc, utcnow
from domain.usecases.lists import known_list, list_id_of

MAX_BIGINT = 2**63 - 1


async def list_entries(
    uow: UnitOfWork,
    principal: Principal,
    request: PageRequest,
    search: str | None,
    list_id: str | None = None,
) -> EntryPage:
    """One list's entries, newest first (a 400 for a list the organization does not have)."""
    text = (storable("search", search) or "").strip() or None
    org_id = principal.organization_id
    on = await known_list(uow, org_id, list_id)
    async with uow:
        rows = await uow.entries.page(
            org_id, text, request.after, request.offset, request.limit + 1, on
        )
        total = None if request.after else await uow.entries.count_listed(org_id, text, on)
    return EntryPage(rows[: request.limit], total, len(rows) > request.limit)


async def get_entry(
    uow: UnitOfWork, principal: Principal, phone_number: str, list_id: str | None = None
) -> DncEntry:
    number = normalize(phone_number)
    on = await known_list(uow, principal.organization_id, list_id)
    async with uow:
        entry = await uow.entries.get_active(principal.organization_id, number, on)
    if entry is None:
        where = "the DNC list" if on == DEFAULT_LIST else f"list {on!r}"
        raise NotFound(f"Phone number {number} is not on {where}")
    return entry


async def entry_history(
    uow: UnitOfWork, principal: Principal, phone_number: str, list_id: str | None = None
) -> tuple[str, list[PastEntry]]:
    """The number (normalized) and every entry it has had on the organization's lists (on
    ``list_id`` only, when given), listed and removed, oldest first: none if it never was."""
    number = normalize(phone_number)
    on = None if list_id is None else await known_list(uow, principal.organization_id, list_id)
    async with uow:
        return number, await uow.entries.history(principal.organization_id, number, on)


REPORT_DAYS = 30  # the period of a report that names no start


async def enforcement_report(
    uow: UnitOfWork, principal: Principal, since: datetime | None, until: datetime | None
) -> EnforcementReport:
    """How many do-not-call requests made on calls in the period (by the call's time; until
    now and the 30 days before it, by default) were listed, and how soon."""
    end = as_utc(until, "until") if until is not None else utcnow()
    start = as_utc(since, "since") if since is not None else end - timedelta(days=REPORT_DAYS)
    if start >= end:
        raise InvalidInput("since must be before until")
    async with uow:
        return await uow.entries.enforcement(principal.organization_id, start, end)


async def get_settings(uow: UnitOfWork, principal: Principal) -> tuple[bool, int]:
    async with uow:
        org = await uow.organizations.get(principal.organization_id)
        if org is None:
            raise NotFound("Organization not found")
        return org.dnc_enabled, await uow.entries.count_blocked(org.id, utcnow())


async def read_audit(
    uow: UnitOfWork,
    principal: Principal,
    query: AuditQuery,
    page: int,
    limit: int,
    after_id: int | None,
) -> AuditPage:
    PageRequest(page, limit)  # the same bounds as the list
    if after_id is not None and not 0 <= after_id <= MAX_BIGINT:
        raise InvalidInput("cursor is not one this API handed out; use nextCursor as given")
    query = AuditQuery(
        normalize(query.phone_number) if query.phone_number is not None else None,
        storable("action", query.action),
        query.actor,
        as_utc(query.since, "since") if query.since is not None else None,
        as_utc(query.until, "until") if query.until is not None else None,
        list_id_of(query.list_id),  # a deleted list's history stays readable
    )
    offset = 0 if after_id else (page - 1) * limit
    async with uow:
        rows = await uow.audit.page(principal.organization_id, query, after_id, offset, limit + 1)
        total = await uow.audit.count(principal.organization_id, query)
    return AuditPage(rows[:limit], total, len(rows) > limit)


async def emails_of(
    uow: UnitOfWork, organization_id: UUID, user_ids: Iterable[UUID | None]
) -> dict[UUID, str]:
    """The email addresses of the organization's users among ``user_ids`` (to show who did
    what); an id of no user of the organization is left out."""
    wanted = {user_id for user_id in user_ids if user_id is not None}
    async with uow:
        users = [await uow.users.get(organization_id, user_id) for user_id in wanted]
    return {user.id: user.email for user in users if user is not None}
