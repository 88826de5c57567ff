"""Batches and the calls in them."""

from datetime import datetime
from typing import Annotated

import msgspec
from msgspec import Meta

from app.schemas import enveloped
from app.schemas.fields import AwareDatetime, PhoneText, Text2k, Text64, Text200
from domain.model import Batch, CallRecord


class BatchCreate(msgspec.Struct, rename="camel"):
    batch_id: Text64 | None = None
    name: Text200 | None = None


@enveloped
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
        """The record's fields of these names, as they are."""
        return msgspec.convert(call, cls, from_attributes=True)


@enveloped
class CallsRead(msgspec.Struct, rename="camel"):
    batch_id: str
    calls: list[CallRead]
