"""The evidence a listing copies: batches and the calls recorded in them."""

import re
import secrets
from collections.abc import Sequence
from datetime import datetime
from urllib.parse import urlsplit
from uuid import UUID, uuid4

from domain.errors import InvalidInput, NotFound
from domain.model import Batch, CallRecord, NewCall, Principal
from domain.phone import normalize
from domain.ports import UnitOfWork
from domain.text import one_line
from domain.time import as_utc, utcnow

MAX_CALLS_PER_REQUEST = 1000
_BATCH_ID = re.compile(r"[A-Za-z0-9._:\-]{1,64}")


async def create_batch(
    uow: UnitOfWork, principal: Principal, batch_id: str | None, name: str | None
) -> Batch:
    one_line("name", name)
    if batch_id is not None and not _BATCH_ID.fullmatch(batch_id):
        raise InvalidInput(
            "batchId must be 1 to 64 characters of letters, digits, '.', '_', ':' or '-'"
        )
    batch = Batch(
        id=uuid4(),
        organization_id=principal.organization_id,
        batch_id=batch_id or secrets.token_hex(12),
        user_id=principal.user_id,
        name=name,
        created_at=utcnow(),
    )
    async with uow:
        await uow.batches.add(batch)
        await uow.commit()
    return batch


async def record_calls(
    uow: UnitOfWork, principal: Principal, batch_id: str, calls: Sequence[NewCall]
) -> list[CallRecord]:
    if not calls:
        raise InvalidInput("calls must hold at least one call")
    if len(calls) > MAX_CALLS_PER_REQUEST:
        raise InvalidInput(f"at most {MAX_CALLS_PER_REQUEST} calls can be recorded per request")
    org_id = principal.organization_id
    async with uow:
        batch = await find_batch(uow, org_id, batch_id)
        now = utcnow()
        records = [_call_record(batch, call, now, i, len(calls)) for i, call in enumerate(calls)]
        seen: set[str] = set()
        for record in records:
            if record.request_uuid in seen:
                raise InvalidInput(f"requestUUID {record.request_uuid!r} appears twice")
            seen.add(record.request_uuid)
        await uow.calls.add_many(records)
        await uow.commit()
    return records


def _call_record(batch: Batch, call: NewCall, now: datetime, index: int, total: int) -> CallRecord:
    where = f"calls[{index}]." if total > 1 else ""
    try:
        number = normalize(call.phone_number)
    except InvalidInput as exc:
        raise InvalidInput(where + exc.message) from exc
    if call.recording_url is not None and not _is_http_url(call.recording_url):
        raise InvalidInput(f"{where}recordingUrl must be an http or https URL")
    request_uuid = (call.request_uuid if call.request_uuid is not None else str(uuid4())).strip()
    if not request_uuid:
        raise InvalidInput(f"{where}requestUUID must not be empty")
    started_at = (
        as_utc(call.started_at, f"{where}startedAt") if call.started_at is not None else None
    )
    return CallRecord(
        id=uuid4(),
        organization_id=batch.organization_id,
        batch_pk=batch.id,
        batch_id=batch.batch_id,
        request_uuid=request_uuid,
        phone_number=number,
        recording_url=call.recording_url,
        transcription=call.transcription,
        status=call.status,
        started_at=started_at,
        duration_seconds=call.duration_seconds,
        created_at=now,
    )


def _is_http_url(value: str) -> bool:
    try:
        parts = urlsplit(value)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.netloc)


async def find_batch(uow: UnitOfWork, organization_id: UUID, batch_id: str) -> Batch:
    batch = (
        await uow.batches.get(organization_id, batch_id) if _BATCH_ID.fullmatch(batch_id) else None
    )
    if batch is None:
        raise NotFound(f"Batch {batch_id!r} not found")
    return batch
