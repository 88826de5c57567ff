"""The DNC list: the vendor's add and enable-disable, an entry, the settings, removing."""

from datetime import datetime
from typing import Annotated

import msgspec
from msgspec import Meta

from app.schemas import enveloped
from app.schemas.fields import AwareDatetime, ListId, PhoneText, Text64
from domain.model import DncEntry, EnforcementReport, PastEntry


class AddRequest(msgspec.Struct, rename="camel", forbid_unknown_fields=False):
    phone_number: PhoneText
    batch_id: Text64
    request_uuid: Annotated[str, Meta(max_length=128)] = msgspec.field(name="requestUUID")
    type: Text64 | None = None
    expires_at: AwareDatetime | None = None
    list_id: ListId | None = None


class EnableDisableRequest(msgspec.Struct):
    enable: bool


@enveloped
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
    list_id: str

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
            list_id=entry.list_id,
        )


class PastEntryRead(EntryRead, rename="camel"):
    """An entry in a number's history: its evidence, who added it, and, once removed, when,
    by whom and why."""

    active: bool = True
    requested_at: datetime | None = None
    removed_at: datetime | None = None
    removed_by: str | None = None
    removal_reason: str | None = None

    @classmethod
    def of_past(cls, past: PastEntry) -> "PastEntryRead":
        read = EntryRead.of(past.entry)
        return cls(
            **{f: getattr(read, f) for f in EntryRead.__struct_fields__},
            active=past.removed_at is None,
            requested_at=past.entry.requested_at,
            removed_at=past.removed_at,
            removed_by=str(past.removed_by) if past.removed_by else None,
            removal_reason=past.removal_reason,
        )


@enveloped
class ReportRead(msgspec.Struct, rename="camel"):
    since: datetime
    until: datetime
    requests: int
    median_seconds_to_enforcement: float | None
    max_seconds_to_enforcement: float | None

    @classmethod
    def of(cls, report: EnforcementReport) -> "ReportRead":
        return cls(
            report.since,
            report.until,
            report.requests,
            report.median_seconds,
            report.max_seconds,
        )


@enveloped
class HistoryRead(msgspec.Struct, rename="camel"):
    phone_number: str
    entries: list[PastEntryRead]


@enveloped
class SettingsRead(msgspec.Struct):
    enabled: bool
    count: int


class RemoveRequest(msgspec.Struct, rename="camel"):
    phone_number: PhoneText
    reason: Annotated[str, Meta(max_length=1000)] | None = None
    list_id: ListId | None = None
