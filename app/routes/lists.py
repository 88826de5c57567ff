"""Browsing the list, adding in bulk, and the audit log."""

import base64
import binascii
import json
from datetime import datetime
from uuid import UUID

from litestar import Controller, get, post
from litestar.di import NamedDependency
from litestar.params import FromQuery, JSONBody

from app.auth import authorize
from app.errors import DataEnvelope, error_responses, ok
from app.schemas.dnc import EntryRead
from app.schemas.lists import (
    AuditItem,
    AuditPageOut,
    BulkAddRequest,
    BulkAddResult,
    BulkItemOut,
    ListPage,
)
from domain.errors import InvalidInput
from domain.model import DEFAULT_LIST, AuditQuery, BulkItem, PageRequest, Principal
from domain.time import as_utc
from domain.usecases.browse import list_entries, read_audit
from domain.usecases.entries import bulk_add, count_outcomes
from infra.db.uow import SqlUnitOfWork
from infra.redis.mirror import RedisMirror

MAX_CURSOR_DIGITS = 19  # a bigint


def encode_cursor(*parts: object) -> str:
    return base64.urlsafe_b64encode(json.dumps([str(p) for p in parts]).encode()).decode()


def decode_cursor(cursor: str, size: int) -> list[str]:
    try:
        parts = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        if isinstance(parts, list) and len(parts) == size:
            return [str(p) for p in parts]
    except (ValueError, binascii.Error, UnicodeDecodeError):
        pass
    raise InvalidInput("cursor is not one this API handed out; use nextCursor as given")


class ListController(Controller):
    path = "/api/dnc"
    guards = (authorize,)
    tags = ("Managing the list",)

    @get(
        "/list",
        summary="One list's entries (listId; default: the org-wide list), newest first",
        responses=error_responses(400),
    )
    async def list(
        self,
        uow: NamedDependency[SqlUnitOfWork],
        principal: NamedDependency[Principal],
        page: FromQuery[int] = 1,
        limit: FromQuery[int] = 10,
        search: FromQuery[str | None] = None,
        cursor: FromQuery[str | None] = None,
        listId: FromQuery[str | None] = None,
    ) -> DataEnvelope[ListPage]:
        after = None
        if cursor:
            at, entry_id = decode_cursor(cursor, 2)
            try:
                after = (as_utc(datetime.fromisoformat(at), "cursor"), UUID(entry_id))
            except (ValueError, InvalidInput):
                raise InvalidInput("cursor is not one this API handed out") from None
        request = PageRequest(page, limit, after)
        result = await list_entries(uow, principal, request, search, listId)
        last = result.items[-1] if result.items else None
        next_cursor = (
            encode_cursor(last.created_at.isoformat(), last.id)
            if last and result.has_more
            else None
        )
        return ok(
            ListPage(
                [EntryRead.of(e) for e in result.items], page, limit, result.total, next_cursor
            )
        )

    @post(
        "/bulk-add",
        status_code=200,
        summary="Add up to 10,000 numbers; each item's outcome in order",
        responses=error_responses(400, 413),
    )
    async def bulk_add(
        self,
        data: JSONBody[BulkAddRequest],
        uow: NamedDependency[SqlUnitOfWork],
        mirror: NamedDependency[RedisMirror],
        principal: NamedDependency[Principal],
    ) -> DataEnvelope[BulkAddResult]:
        items = [BulkItem(n.phone_number, n.type, n.expires_at, n.list_id) for n in data.numbers]
        outcomes = await bulk_add(uow, mirror, principal, items, data.list_id)
        results = [BulkItemOut(o.phone_number, o.normalized, o.outcome, o.error) for o in outcomes]
        count = count_outcomes(outcomes)
        return ok(BulkAddResult(results, count["added"], count["duplicate"], count["invalid"]))

    @get(
        "/audit",
        summary="Who added, removed, toggled or rebuilt what, and when (of the list listId; "
        "the org-wide list's include the organization's own events)",
        responses=error_responses(400),
    )
    async def audit(
        self,
        uow: NamedDependency[SqlUnitOfWork],
        principal: NamedDependency[Principal],
        page: FromQuery[int] = 1,
        limit: FromQuery[int] = 50,
        phoneNumber: FromQuery[str | None] = None,
        action: FromQuery[str | None] = None,
        actor: FromQuery[UUID | None] = None,
        since: FromQuery[datetime | None] = None,
        until: FromQuery[datetime | None] = None,
        cursor: FromQuery[str | None] = None,
        listId: FromQuery[str | None] = None,
    ) -> DataEnvelope[AuditPageOut]:
        after_id = None
        if cursor:
            [raw] = decode_cursor(cursor, 1)
            # int() fails on "²", which isdigit(), and on thousands of digits
            if not (raw.isascii() and raw.isdigit() and len(raw) <= MAX_CURSOR_DIGITS):
                raise InvalidInput("cursor is not one this API handed out")
            after_id = int(raw)
        on = DEFAULT_LIST if listId is None else listId
        query = AuditQuery(phoneNumber, action, actor, since, until, on)
        result = await read_audit(uow, principal, query, page, limit, after_id)
        items = [AuditItem.of(record) for record in result.items]
        next_cursor = encode_cursor(items[-1].id) if items and result.has_more else None
        return ok(AuditPageOut(items, page, limit, result.total, next_cursor))
