"""The console's pages (GET): what the organization's people read."""

import re
from datetime import datetime
from typing import Any
from uuid import UUID

from litestar import Request, get
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery
from litestar.response import Stream, Template

from app.console.actions import sign_in_page
from app.console.render import HEADERS, page
from app.console.session import Signed, form_time
from app.deps import resources_of
from app.routes.lists import decode_cursor, encode_cursor
from app.schemas.subscriptions import SubscriptionRead
from domain.errors import InvalidInput
from domain.model import DEFAULT_LIST, AuditQuery, PageRequest
from domain.rules import blocks
from domain.time import as_utc, utcnow
from domain.usecases.browse import (
    emails_of,
    entry_history,
    get_settings,
    list_entries,
    read_audit,
)
from domain.usecases.lists import all_lists, all_prefixes, get_list
from domain.usecases.mirror_repair import mirror_status
from domain.usecases.shared_lists import subscriptions_of
from domain.usecases.transfer import export_list

PAGE_SIZE = 25
AUDIT_PAGE_SIZE = 50
NOTICES = {  # what an action that went well says on the page it returns to (?done=…)
    "added": "The number was added to the list.",
    "removed": "The number was removed from the list; its entry is kept in its history.",
    "list": "The list was created.",
    "prefix": "The prefix rule was created.",
    "prefix-deleted": "The prefix rule was ended.",
    "enabled": "DNC is on: dialers skip every listed number.",
    "disabled": "DNC is off: every number is callable until you switch it on again.",
    "rebuild": "A rebuild of the Redis mirror was queued.",
}


PHONE_LIKE = re.compile(r"[\d\s+().-]*\d[\d\s+().-]*")


# A notice about a state the page shows is shown only while the state holds: anyone can send a
# link with ?done=enabled, and "DNC is on" above a switch that is off reassures falsely. The
# state: DNC on (the overview), the number listed (a number's page).
STATE_NOTICES = {"enabled": True, "disabled": False, "removed": False}


def notice(done: str | None, state: bool | None = None) -> str | None:
    """What ``done`` says went well; a notice about a state, only if ``state`` agrees."""
    key = done or ""
    if key in STATE_NOTICES and STATE_NOTICES[key] is not state:
        return None
    return NOTICES.get(key)


def searchable(raw: str | None) -> str | None:
    """What a person typed to find a number, as the list stores numbers (digits only):
    "+1 (212) 555-0142" is searched as 12125550142. Other text is searched as typed."""
    if raw and PHONE_LIKE.fullmatch(raw.strip()):
        return re.sub(r"\D", "", raw)
    return raw or None


@get("/login")
async def sign_in_form(request: Request[Any, Any, Any]) -> Template:
    return sign_in_page(request)


@get("/")
async def overview(
    request: Request[Any, Any, Any],
    signed: NamedDependency[Signed],
    done: FromQuery[str | None] = None,
) -> Template:
    resources = resources_of(request.app.state)
    org_id = signed.principal.organization_id
    enabled, count = await get_settings(resources.uow(), signed.principal)
    lists = await all_lists(resources.uow(), org_id)
    mirrors = await mirror_status(resources.uow(), resources.mirror, org_id)
    return await page(
        request,
        signed,
        "overview.html",
        enabled=enabled,
        count=count,
        lists=lists,
        mirrors=mirrors,
        notice=notice(done, enabled),
    )


@get("/lists")
async def lists(
    request: Request[Any, Any, Any],
    signed: NamedDependency[Signed],
    done: FromQuery[str | None] = None,
) -> Template:
    found = await all_lists(resources_of(request.app.state).uow(), signed.principal.organization_id)
    return await page(request, signed, "lists.html", lists=found, notice=notice(done))


@get("/lists/{list_id:str}")
async def entries(
    request: Request[Any, Any, Any],
    signed: NamedDependency[Signed],
    list_id: FromPath[str],
    search: FromQuery[str | None] = None,
    cursor: FromQuery[str | None] = None,
    done: FromQuery[str | None] = None,
) -> Template:
    resources = resources_of(request.app.state)
    the_list = await get_list(resources.uow(), signed.principal.organization_id, list_id)
    after = None
    if cursor:
        at, entry_id = decode_cursor(cursor, 2)
        try:
            after = (as_utc(datetime.fromisoformat(at), "cursor"), UUID(entry_id))
        except ValueError:
            raise InvalidInput("cursor is not one this console handed out") from None
    result = await list_entries(
        resources.uow(),
        signed.principal,
        PageRequest(1, PAGE_SIZE, after),
        searchable(search),
        list_id,
    )
    last = result.items[-1] if result.items else None
    next_cursor = (
        encode_cursor(last.created_at.isoformat(), last.id) if last and result.has_more else None
    )
    return await page(
        request,
        signed,
        "entries.html",
        the_list=the_list,
        entries=result.items,
        total=result.total,
        search=search or "",
        next_cursor=next_cursor,
        paged=cursor is not None,
        notice=notice(done),
    )


@get("/lists/{list_id:str}/numbers/{number:str}")
async def entry(
    request: Request[Any, Any, Any],
    signed: NamedDependency[Signed],
    list_id: FromPath[str],
    number: FromPath[str],
    done: FromQuery[str | None] = None,
) -> Template:
    resources = resources_of(request.app.state)
    the_list = await get_list(resources.uow(), signed.principal.organization_id, list_id)
    normalized, past = await entry_history(resources.uow(), signed.principal, number, list_id)
    now = utcnow()
    active = next(
        (p for p in reversed(past) if p.removed_at is None and blocks(p.entry, now)),
        None,
    )
    return await page(
        request,
        signed,
        "entry.html",
        the_list=the_list,
        number=normalized,
        active=active,
        history=list(reversed(past)),
        people=await emails_of(
            resources.uow(),
            signed.principal.organization_id,
            [p.entry.added_by for p in past] + [p.removed_by for p in past],
        ),
        notice=notice(done, active is not None),
    )


@get("/import")
async def transfer(request: Request[Any, Any, Any], signed: NamedDependency[Signed]) -> Template:
    found = await all_lists(resources_of(request.app.state).uow(), signed.principal.organization_id)
    return await page(request, signed, "import.html", lists=found)


@get("/export")
async def export(
    request: Request[Any, Any, Any],
    signed: NamedDependency[Signed],
    listId: FromQuery[str | None] = None,
) -> Stream:
    resources = resources_of(request.app.state)
    rows = await export_list(resources.uow(), resources.transfers(), signed.principal, listId)
    name = f"dnc-{listId or DEFAULT_LIST}.csv"
    return Stream(
        rows,
        media_type="text/csv",
        headers={**HEADERS, "Content-Disposition": f'attachment; filename="{name}"'},
    )


@get("/prefixes")
async def prefixes(
    request: Request[Any, Any, Any],
    signed: NamedDependency[Signed],
    done: FromQuery[str | None] = None,
) -> Template:
    rules = await all_prefixes(
        resources_of(request.app.state).uow(), signed.principal.organization_id
    )
    return await page(request, signed, "prefixes.html", rules=rules, notice=notice(done))


@get("/subscriptions")
async def subscriptions(
    request: Request[Any, Any, Any], signed: NamedDependency[Signed]
) -> Template:
    now = utcnow()
    found = await subscriptions_of(
        resources_of(request.app.state).uow(), signed.principal.organization_id
    )
    rows = [SubscriptionRead.of(shared, now) for shared in found]
    return await page(request, signed, "subscriptions.html", subscriptions=rows)


@get("/audit")
async def audit(
    request: Request[Any, Any, Any],
    signed: NamedDependency[Signed],
    phoneNumber: FromQuery[str | None] = None,
    action: FromQuery[str | None] = None,
    listId: FromQuery[str | None] = None,
    since: FromQuery[str | None] = None,
    until: FromQuery[str | None] = None,
    cursor: FromQuery[str | None] = None,
) -> Template:
    resources = resources_of(request.app.state)
    after_id = None
    if cursor:
        [raw] = decode_cursor(cursor, 1)
        if not (raw.isascii() and raw.isdigit() and len(raw) <= 19):
            raise InvalidInput("cursor is not one this console handed out")
        after_id = int(raw)
    filters = {
        "phoneNumber": phoneNumber or "",
        "action": action or "",
        "listId": listId or DEFAULT_LIST,
        "since": since or "",
        "until": until or "",
    }
    query = AuditQuery(
        searchable(phoneNumber),
        action or None,
        None,
        form_time(since, "since"),
        form_time(until, "until"),
        listId or DEFAULT_LIST,
    )
    result = await read_audit(
        resources.uow(), signed.principal, query, 1, AUDIT_PAGE_SIZE, after_id
    )
    lists = await all_lists(resources.uow(), signed.principal.organization_id)
    next_cursor = encode_cursor(result.items[-1].id) if result.items and result.has_more else None
    return await page(
        request,
        signed,
        "audit.html",
        records=result.items,
        people=await emails_of(
            resources.uow(),
            signed.principal.organization_id,
            [record.actor_user_id for record in result.items],
        ),
        total=result.total,
        filters=filters,
        lists=lists,
        next_cursor=next_cursor,
    )
