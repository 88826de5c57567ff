"""Managing the list: browse it, add in bulk, expire entries, read the audit log."""

import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from uuid import UUID, uuid4

from domain.errors import InvalidInput
from domain.mirror import apply_in_chunks, record_change, settle
from domain.model import AuditEvent, AuditRecord, DncEntry, Principal
from domain.phone import normalize
from domain.ports import DncMirror, UnitOfWork
from domain.text import one_line, storable
from domain.time import as_utc, utcnow

log = logging.getLogger(__name__)
MAX_BULK_ADD = 10_000
MAX_PAGE_SIZE = 1000
MAX_BIGINT = 2**63 - 1
MAX_PAGE = 1_000_000  # deeper than this, page with the cursor (an offset must fit in a bigint)


@dataclass(frozen=True, slots=True)
class PageRequest:
    """Offset paging (``page``) for the vendor's clients, keyset paging (``after``) for the rest."""

    page: int = 1
    limit: int = 10
    after: tuple[datetime, UUID] | None = None

    def __post_init__(self) -> None:
        if self.page < 1:
            raise InvalidInput("page must be 1 or more")
        if self.page > MAX_PAGE:
            raise InvalidInput(f"page must be at most {MAX_PAGE}; go deeper with the cursor")
        if not 1 <= self.limit <= MAX_PAGE_SIZE:
            raise InvalidInput(f"limit must be between 1 and {MAX_PAGE_SIZE}")

    @property
    def offset(self) -> int:
        return 0 if self.after else (self.page - 1) * self.limit


@dataclass(frozen=True, slots=True)
class EntryPage:
    items: list[DncEntry]
    total: int | None  # counted for page requests; a cursor request skips the full count
    has_more: bool


async def list_entries(
    uow: UnitOfWork, principal: Principal, request: PageRequest, search: str | None
) -> EntryPage:
    text = (storable("search", search) or "").strip() or None
    async with uow:
        rows = await uow.entries.page(
            principal.organization_id, text, request.after, request.offset, request.limit + 1
        )
        total = (
            None
            if request.after
            else await uow.entries.count_listed(principal.organization_id, text)
        )
    return EntryPage(rows[: request.limit], total, len(rows) > request.limit)


@dataclass(frozen=True, slots=True)
class BulkItem:
    phone_number: str
    type: str | None = None
    expires_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class BulkOutcome:
    phone_number: str
    normalized: str | None
    outcome: str  # "added", "duplicate" or "invalid"
    error: str | None = None


async def bulk_add(
    uow: UnitOfWork, mirror: DncMirror, principal: Principal, items: Sequence[BulkItem]
) -> list[BulkOutcome]:
    """Add up to 10,000 numbers in one transaction; each item's outcome, in order."""
    if not items:
        raise InvalidInput("numbers must hold at least one item")
    if len(items) > MAX_BULK_ADD:
        raise InvalidInput(f"at most {MAX_BULK_ADD} numbers can be added per request")
    org_id = principal.organization_id
    now = utcnow()
    prepared: list[tuple[BulkItem, str | None, str | None]] = []
    for item in items:
        number: str | None = None
        error: str | None = None
        try:
            number = normalize(item.phone_number)
            one_line("type", item.type)
            if item.expires_at is not None:
                item = replace(item, expires_at=as_utc(item.expires_at, "expiresAt"))
        except InvalidInput as exc:
            number, error = None, exc.message
        if number is not None and item.expires_at is not None and item.expires_at <= now:
            number, error = None, "expiresAt must be in the future"
        prepared.append((item, number, error))
    fresh: dict[str, DncEntry] = {}
    for item, number, _ in prepared:
        if number is not None and number not in fresh:
            fresh[number] = _new_entry(org_id, number, item, principal.user_id, now)
    async with uow:
        await uow.entries.retire_expired(org_id, list(fresh), now)
        added = await uow.entries.add_many(list(fresh.values()))
        outcomes = _outcomes(prepared, added)
        added_ids = [fresh[number].id for number in sorted(added)]
        await uow.audit.record_added(org_id, principal.user_id, added_ids, {})
        await uow.audit.record(
            AuditEvent(
                organization_id=org_id,
                actor_user_id=principal.user_id,
                action="dnc.bulk_add",
                after=count_outcomes(outcomes),
            )
        )
        await record_change(uow, org_id, sorted(added))
        await uow.organizations.lock_mirror(org_id)  # no sync may interleave until the commit
        await apply_in_chunks(mirror, org_id, add=sorted(added))  # before the commit
        await uow.commit()
    await settle(uow, mirror, org_id)
    return outcomes


def _new_entry(org_id: UUID, number: str, item: BulkItem, user_id: UUID, now: datetime) -> DncEntry:
    return DncEntry(
        id=uuid4(),
        organization_id=org_id,
        phone_number=number,
        type=(item.type or "").strip() or None,
        source="bulk",
        batch_id=None,
        batch_pk=None,
        call_record_id=None,
        request_uuid=None,
        call_recording=None,
        transcription=None,
        added_by=user_id,
        created_at=now,
        expires_at=item.expires_at,
    )


def _outcomes(
    prepared: list[tuple[BulkItem, str | None, str | None]], added: set[str]
) -> list[BulkOutcome]:
    outcomes = []
    first_seen: set[str] = set()
    for item, number, error in prepared:
        if number is None:
            outcomes.append(BulkOutcome(item.phone_number, None, "invalid", error))
        elif number in added and number not in first_seen:
            first_seen.add(number)
            outcomes.append(BulkOutcome(item.phone_number, number, "added"))
        else:
            outcomes.append(BulkOutcome(item.phone_number, number, "duplicate"))
    return outcomes


def count_outcomes(outcomes: list[BulkOutcome]) -> dict[str, int]:
    """How many items were added, duplicate and invalid."""
    counts = {"added": 0, "duplicate": 0, "invalid": 0}
    for outcome in outcomes:
        counts[outcome.outcome] += 1
    return counts


async def expire_due(uow: UnitOfWork, mirror: DncMirror, limit: int = 10_000) -> int:
    """Retire entries whose ``expiresAt`` has passed (audited) and unblock them in the mirror."""
    now = utcnow()
    async with uow:
        expired = await uow.entries.expire_due(now, limit)
        touched: dict[UUID, list[str]] = {}
        for entry in expired:
            touched.setdefault(entry.organization_id, []).append(entry.phone_number)
            await uow.audit.record(
                AuditEvent(
                    organization_id=entry.organization_id,
                    actor_user_id=None,
                    action="dnc.expire",
                    phone_number=entry.phone_number,
                    entity_id=str(entry.id),
                    before={
                        "expiresAt": entry.expires_at.isoformat() if entry.expires_at else None
                    },
                )
            )
        for org_id, numbers in touched.items():
            await record_change(uow, org_id, numbers)
        await uow.commit()
    for org_id in touched:
        await settle(uow, mirror, org_id)
    if expired:
        log.info("expired %d entries", len(expired))
    return len(expired)


@dataclass(frozen=True, slots=True)
class AuditQuery:
    phone_number: str | None = None
    action: str | None = None
    actor: UUID | None = None
    since: datetime | None = None
    until: datetime | None = None


@dataclass(frozen=True, slots=True)
class AuditPage:
    items: list[AuditRecord]
    total: int
    has_more: bool


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
    )
    offset = 0 if after_id else (page - 1) * limit
    async with uow:
        rows = await uow.audit.page(principal.organization_id, query, after_id, offset, limit + 1)
        total = await uow.audit.count(principal.organization_id, query)
    return AuditPage(rows[:limit], total, len(rows) > limit)
