"""Browsing the list, adding in bulk, and the audit log."""

from datetime import datetime
from typing import Annotated, Any

import msgspec
from msgspec import Meta

from app.schemas import enveloped
from app.schemas.dnc import EntryRead
from app.schemas.fields import AwareDatetime, ListId, Text64
from domain.model import AuditRecord


@enveloped
class ListPage(msgspec.Struct, rename="camel"):
    items: list[EntryRead]
    page: int
    limit: int
    total: int | None  # null when paging by cursor: counting costs a full scan
    next_cursor: str | None


class BulkItemIn(msgspec.Struct, rename="camel"):
    phone_number: Annotated[str, Meta(max_length=64)]
    type: Text64 | None = None
    expires_at: AwareDatetime | None = None
    list_id: ListId | None = None  # absent: the request's list


class BulkAddRequest(msgspec.Struct, rename="camel"):
    numbers: Annotated[list[BulkItemIn], Meta(max_length=10_000)]
    list_id: ListId | None = None  # absent: the org-wide list


class BulkItemOut(msgspec.Struct, rename="camel", omit_defaults=True):
    phone_number: str
    normalized: str | None
    outcome: str
    error: str | None = None


@enveloped
class BulkAddResult(msgspec.Struct):
    results: list[BulkItemOut]
    added: int
    duplicate: int
    invalid: int


class AuditItem(msgspec.Struct, rename="camel"):
    id: int
    action: str
    actor_user_id: str | None
    phone_number: str | None
    entity_id: str | None
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    created_at: datetime
    list_id: str | None

    @classmethod
    def of(cls, record: AuditRecord) -> "AuditItem":
        return cls(
            id=record.id,
            action=record.action,
            actor_user_id=str(record.actor_user_id) if record.actor_user_id else None,
            phone_number=record.phone_number,
            entity_id=record.entity_id,
            before=record.before,
            after=record.after,
            created_at=record.created_at,
            list_id=record.list_id,
        )


@enveloped
class AuditPageOut(msgspec.Struct, rename="camel"):
    items: list[AuditItem]
    page: int
    limit: int
    total: int
    next_cursor: str | None
