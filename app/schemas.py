"""Request and response messages (msgspec), named as the contract names them."""

from datetime import datetime
from typing import Annotated, Any

import msgspec
from msgspec import Meta

from domain.model import Batch, CallRecord, DncEntry
from domain.usecases.checks import MAX_BULK_CHECK

Text64 = Annotated[str, Meta(max_length=64)]
Text200 = Annotated[str, Meta(max_length=200)]
Text2k = Annotated[str, Meta(max_length=2048)]
PhoneText = Annotated[str, Meta(max_length=40)]
AwareDatetime = Annotated[datetime, Meta(tz=True)]


class AddRequest(msgspec.Struct, rename="camel", forbid_unknown_fields=False):
    phone_number: PhoneText
    batch_id: Text64
    request_uuid: Annotated[str, Meta(max_length=128)] = msgspec.field(name="requestUUID")
    type: Text64 | None = None
    expires_at: AwareDatetime | None = None


class EnableDisableRequest(msgspec.Struct):
    enable: bool


class BatchCreate(msgspec.Struct, rename="camel"):
    batch_id: Text64 | None = None
    name: Text200 | None = None


class BatchRead(msgspec.Struct, rename="camel"):
    batch_id: str
    name: str | None
    created_at: datetime

    @classmethod
    def of(cls, batch: Batch) -> "BatchRead":
        return cls(batch_id=batch.batch_id, name=batch.name, created_at=batch.created_at)


class CallFields(msgspec.Struct, rename="camel"):
    request_uuid: Annotated[str, Meta(max_length=128)] | None = msgspec.field(
        default=None, name="requestUUID"
    )
    phone_number: PhoneText | None = None
    recording_url: Text2k | None = None
    transcription: Annotated[str, Meta(max_length=1_000_000)] | None = None
    status: Text64 | None = None
    started_at: AwareDatetime | None = None
    duration_seconds: Annotated[int, Meta(ge=0, le=2**31 - 1)] | None = None


class CallsRequest(CallFields):
    """One call (the fields at the top level) or several (``calls``)."""

    calls: list[CallFields] | None = None


class CallRead(msgspec.Struct, rename="camel"):
    request_uuid: str = msgspec.field(name="requestUUID")
    batch_id: str
    phone_number: str
    recording_url: str | None
    transcription: str | None
    status: str | None
    started_at: datetime | None
    duration_seconds: int | None
    created_at: datetime

    @classmethod
    def of(cls, call: CallRecord) -> "CallRead":
        return cls(
            request_uuid=call.request_uuid,
            batch_id=call.batch_id,
            phone_number=call.phone_number,
            recording_url=call.recording_url,
            transcription=call.transcription,
            status=call.status,
            started_at=call.started_at,
            duration_seconds=call.duration_seconds,
            created_at=call.created_at,
        )


class CallsRead(msgspec.Struct, rename="camel"):
    batch_id: str
    calls: list[CallRead]


class EntryRead(msgspec.Struct, rename="camel"):
    id: str
    phone_number: str
    type: str | None
    source: str
    batch_id: str | None
    request_uuid: str | None = msgspec.field(name="requestUUID")
    call_recording: str | None
    transcription: str | None
    added_by: str | None
    created_at: datetime
    expires_at: datetime | None

    @classmethod
    def of(cls, entry: DncEntry) -> "EntryRead":
        return cls(
            id=str(entry.id),
            phone_number=entry.phone_number,
            type=entry.type,
            source=entry.source,
            batch_id=entry.batch_id,
            request_uuid=entry.request_uuid,
            call_recording=entry.call_recording,
            transcription=entry.transcription,
            added_by=str(entry.added_by) if entry.added_by else None,
            created_at=entry.created_at,
            expires_at=entry.expires_at,
        )


class SettingsRead(msgspec.Struct):
    enabled: bool
    count: int


class Health(msgspec.Struct):
    status: str


class Readiness(msgspec.Struct):
    postgres: bool
    redis: bool


class CheckRequest(msgspec.Struct, rename="camel"):
    phone_numbers: Annotated[
        list[Annotated[str, Meta(max_length=64)]], Meta(max_length=MAX_BULK_CHECK)
    ]


class SingleCheck(msgspec.Struct, rename="camel"):
    phone_number: str
    blocked: bool
    dnc_enabled: bool
    reason: str | None


class CheckItem(msgspec.Struct, rename="camel"):
    phone_number: str
    normalized: str | None
    blocked: bool
    reason: str | None


class BulkCheck(msgspec.Struct, rename="camel"):
    dnc_enabled: bool
    results: list[CheckItem]
    blocked_count: int


class RemoveRequest(msgspec.Struct, rename="camel"):
    phone_number: PhoneText
    reason: Annotated[str, Meta(max_length=1000)] | None = None


class RebuildAccepted(msgspec.Struct, rename="camel"):
    job_id: str


class LastRebuild(msgspec.Struct, rename="camel"):
    at: str
    count: int


class CacheStatus(msgspec.Struct, rename="camel"):
    ready: bool
    rebuilding: bool
    postgres_count: int
    redis_count: int | None
    last_rebuild: LastRebuild | None


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


class BulkAddRequest(msgspec.Struct):
    numbers: Annotated[list[BulkItemIn], Meta(max_length=10_000)]


class BulkItemOut(msgspec.Struct, rename="camel", omit_defaults=True):
    phone_number: str
    normalized: str | None
    outcome: str
    error: str | None = None


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


class AuditPageOut(msgspec.Struct, rename="camel"):
    items: list[AuditItem]
    page: int
    limit: int
    total: int
    next_cursor: str | None


class ImportLineError(msgspec.Struct):
    line: int
    error: str


class ImportOut(msgspec.Struct, rename="camel"):
    import_id: str
    status: str
    rows: int
    processed: int
    added: int
    duplicate: int
    invalid: int
    errors: list[ImportLineError]
    job_id: str | None = None
    failure: str | None = None
