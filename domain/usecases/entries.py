"""Every change that alters what a check answers: list numbers (one at a time, in bulk, by
import), remove them, expire them, switch DNC on or off.

Every path that lists numbers goes through :func:`list_numbers`, every path that takes them
off through :func:`remove_numbers`; both run inside the caller's transaction, and the caller
settles the mirror after its commit. Mirror writes err towards blocking: an added number (or
DNC switched on) reaches Redis before the transaction commits, so a failed commit leaves an
extra block that the mirror sync removes; anything that unblocks reaches Redis only through
the sync after the commit.
"""

import asyncio
import logging
from collections.abc import Collection, Coroutine, Iterable, Sequence
from dataclasses import replace
from typing import Any, NamedTuple
from uuid import UUID

from domain.errors import AlreadyListed, InvalidInput, NotFound, Unavailable
from domain.model import (
    DEFAULT_LIST,
    AddNumber,
    AuditEvent,
    BulkItem,
    BulkOutcome,
    DncEntry,
    Principal,
    WrittenChange,
)
from domain.phone import normalize
from domain.ports import DncMirror, JobQueue, UnitOfWork
from domain.rules import EXPIRED, SOURCE_BULK, SOURCE_CALL, blocks, expiry, new_entry
from domain.text import one_line
from domain.time import utcnow
from domain.usecases.evidence import find_batch
from domain.usecases.lists import list_id_of, require_known, require_lists
from domain.usecases.mirror_sync import apply_in_chunks, record_change, settle
from domain.usecases.notify import EMAIL_DNC_ADDED

log = logging.getLogger(__name__)
MAX_BULK_ADD = 10_000


async def list_numbers(
    uow: UnitOfWork,
    mirror: DncMirror,
    organization_id: UUID,
    added: Collection[str],
    retired: Iterable[str] = (),
    list_id: str = DEFAULT_LIST,
) -> None:
    """Inside the caller's transaction, once the new entries are written to the list: note
    the change (the numbers added, and those whose expired entry was retired), hold the
    organization's mirror lock until the commit (no sync may interleave) and block the added
    numbers in the mirror before the commit (errs towards blocking)."""
    await record_change(uow, organization_id, [*added, *retired], list_id)
    await uow.organizations.lock_mirror(organization_id)
    await apply_in_chunks(mirror, organization_id, add=sorted(added), list_id=list_id)


async def list_many(
    uow: UnitOfWork,
    mirror: DncMirror,
    organization_id: UUID,
    added: Sequence[str],
    retired: Iterable[str] = (),
    list_id: str = DEFAULT_LIST,
    meanwhile: Coroutine[Any, Any, None] | None = None,
) -> WrittenChange:
    """:func:`list_numbers` for a change of many numbers (an import; ``added`` sorted): also
    what the mirror was when they were written, for
    :func:`domain.usecases.mirror_sync.settle_written` to spare writing them again after the
    commit (settle with it, not with ``settle``). ``meanwhile``, the caller's own last writes
    to its transaction (an import's audit rows), runs while the numbers go to the mirror."""
    try:
        change_id = await record_change(uow, organization_id, [*added, *retired], list_id)
        await uow.organizations.lock_mirror(organization_id)
        written_to = await mirror.state(organization_id, list_id)
    except BaseException:
        if meanwhile is not None:
            meanwhile.close()  # never started
        raise
    alongside = asyncio.ensure_future(meanwhile) if meanwhile is not None else None
    try:
        await apply_in_chunks(mirror, organization_id, add=added, list_id=list_id)
    except BaseException:
        if alongside is not None:
            alongside.cancel()
            await asyncio.wait([alongside])
            if not alongside.cancelled():
                alongside.exception()  # the mirror's error is the one raised
        raise
    if alongside is not None:
        await alongside
    return WrittenChange(change_id, list_id, written_to)


async def remove_numbers(
    uow: UnitOfWork, organization_id: UUID, numbers: Iterable[str], list_id: str = DEFAULT_LIST
) -> None:
    """Inside the caller's transaction, once the entries are retired from the list: note the
    change; the numbers are unblocked in the mirror only by the sync after the commit."""
    await record_change(uow, organization_id, numbers, list_id)


async def _writable(uow: UnitOfWork, organization_id: UUID, list_ids: Iterable[str]) -> None:
    """The named lists a transaction writes to, held until its commit (the org-wide list
    always exists)."""
    named = [list_id for list_id in list_ids if list_id != DEFAULT_LIST]
    if named:
        await require_lists(uow, organization_id, named)


async def _known(uow: UnitOfWork, organization_id: UUID, list_id: str) -> None:
    if list_id != DEFAULT_LIST:
        await require_known(uow, organization_id, [list_id])


def _on(list_id: str) -> str:
    return "the DNC list" if list_id == DEFAULT_LIST else f"list {list_id!r}"


async def add_number(
    uow: UnitOfWork, mirror: DncMirror, queue: JobQueue, principal: Principal, cmd: AddNumber
) -> DncEntry:
    """The vendor's add: link the number to its batch and call, copy the evidence, notify."""
    number = normalize(cmd.phone_number)
    one_line("type", cmd.type)
    expires_at = expiry(cmd.expires_at, utcnow())
    org_id = principal.organization_id
    list_id = list_id_of(cmd.list_id)
    async with uow:
        await _writable(uow, org_id, [list_id])
        batch = await find_batch(uow, org_id, cmd.batch_id)
        if batch.user_id is None or await uow.users.get(org_id, batch.user_id) is None:
            raise NotFound(f"No user found for batch {cmd.batch_id!r}")
        call = await uow.calls.get(org_id, batch.id, cmd.request_uuid)
        if call is None:
            raise NotFound(
                f"Call record not found for batchId {cmd.batch_id!r} "
                f"and requestUUID {cmd.request_uuid!r}"
            )
        now = utcnow()
        listed = await uow.entries.get_active(org_id, number, list_id)
        if listed is not None and blocks(listed, now):
            raise AlreadyListed(f"Phone number {number} is already on {_on(list_id)}")
        if listed is not None:  # expired but not purged yet: retire it, list the number anew
            await uow.entries.remove(org_id, listed.id, None, EXPIRED)
            await audit_expired(uow, org_id, [listed.id])
        entry = new_entry(
            org_id,
            number,
            principal.user_id,
            now,
            SOURCE_CALL,
            cmd.type,
            expires_at,
            batch,
            call,
            list_id,
        )
        await uow.entries.add(entry)
        await uow.audit.record(
            AuditEvent(
                organization_id=org_id,
                actor_user_id=principal.user_id,
                action="dnc.add",
                phone_number=number,
                entity_id=str(entry.id),
                list_id=list_id,
                after={
                    "type": entry.type,
                    "batchId": batch.batch_id,
                    "requestUUID": call.request_uuid,
                },
            )
        )
        outbox_ids = [
            await uow.outbox.add(
                org_id, EMAIL_DNC_ADDED, {"entryId": str(entry.id), "userId": str(admin.id)}
            )
            for admin in await uow.users.admins(org_id)
        ]
        await list_numbers(uow, mirror, org_id, [number], list_id=list_id)
        await uow.commit()
    await settle(uow, mirror, org_id)
    await _dispatch(queue, outbox_ids)
    return entry


async def set_dnc_enabled(
    uow: UnitOfWork, mirror: DncMirror, principal: Principal, enabled: bool
) -> None:
    org_id = principal.organization_id
    async with uow:
        if await uow.users.count(org_id) == 0:
            raise NotFound("No users found for this organization")
        before = await uow.organizations.get_for_update(org_id)
        await uow.organizations.set_dnc_enabled(org_id, enabled)
        await uow.audit.record(
            AuditEvent(
                organization_id=org_id,
                actor_user_id=principal.user_id,
                action="dnc.enable" if enabled else "dnc.disable",
                before={"enabled": before.dnc_enabled} if before else None,
                after={"enabled": enabled},
            )
        )
        await record_change(uow, org_id, [])
        if enabled:
            await uow.organizations.lock_mirror(org_id)  # no sync may interleave until commit
            await mirror.apply(org_id, enabled=True)  # before the commit: errs towards blocking
        await uow.commit()
    if not await settle(uow, mirror, org_id) and not enabled:
        raise Unavailable(
            "DNC was switched off and saved, but the dialer cache could not be updated yet; "
            "it catches up by itself, and until then dialers keep skipping listed numbers"
        )


async def remove_number(
    uow: UnitOfWork,
    mirror: DncMirror,
    principal: Principal,
    phone_number: str,
    reason: str | None,
    list_id: str | None = None,
) -> DncEntry:
    """Take the number off a list (None: the org-wide list)."""
    number = normalize(phone_number)
    list_id = list_id_of(list_id)
    await _known(uow, principal.organization_id, list_id)
    async with uow:
        entry = await uow.entries.get_active(principal.organization_id, number, list_id)
    if entry is None:
        raise NotFound(f"Phone number {number} is not on {_on(list_id)}")
    return await remove_entry(uow, mirror, principal, entry.id, reason)


async def remove_entry(
    uow: UnitOfWork, mirror: DncMirror, principal: Principal, entry_id: UUID, reason: str | None
) -> DncEntry:
    """Tombstone an entry (evidence kept), audited; dialers may call the number afterwards."""
    one_line("reason", reason)
    org_id = principal.organization_id
    async with uow:
        entry = await uow.entries.remove(org_id, entry_id, principal.user_id, reason)
        if entry is None:
            raise NotFound(f"No DNC entry {entry_id} on the list")
        await uow.audit.record(
            AuditEvent(
                organization_id=org_id,
                actor_user_id=principal.user_id,
                action="dnc.remove",
                phone_number=entry.phone_number,
                entity_id=str(entry.id),
                list_id=entry.list_id,
                before={"type": entry.type, "batchId": entry.batch_id},
                after={"reason": reason},
            )
        )
        await remove_numbers(uow, org_id, [entry.phone_number], entry.list_id)
        await uow.commit()
    if not await settle(uow, mirror, org_id):
        raise Unavailable(
            f"Phone number {entry.phone_number} was removed from the list, but the dialer cache "
            "could not be updated yet; it catches up by itself, and until then dialers keep "
            "skipping the number"
        )
    return entry


async def bulk_add(
    uow: UnitOfWork,
    mirror: DncMirror,
    principal: Principal,
    items: Sequence[BulkItem],
    list_id: str | None = None,
) -> list[BulkOutcome]:
    """Add up to 10,000 numbers in one transaction, each to its own list or the request's;
    each item's outcome, in order."""
    if not items:
        raise InvalidInput("numbers must hold at least one item")
    if len(items) > MAX_BULK_ADD:
        raise InvalidInput(f"at most {MAX_BULK_ADD} numbers can be added per request")
    org_id = principal.organization_id
    now = utcnow()
    request_list = list_id_of(list_id)
    prepared: list[_Prepared] = []
    for item in items:
        number: str | None = None
        error: str | None = None
        target = request_list if item.list_id is None else list_id_of(item.list_id)
        try:
            number = normalize(item.phone_number)
            one_line("type", item.type)
            item = replace(item, expires_at=expiry(item.expires_at, now))
        except InvalidInput as exc:
            number, error = None, exc.message
        prepared.append(_Prepared(item, number, error, target))
    fresh: dict[tuple[str, str], DncEntry] = {}
    for p in prepared:
        if p.number is not None and (p.list_id, p.number) not in fresh:
            kind = (p.item.type or "").strip() or None
            fresh[p.list_id, p.number] = new_entry(
                org_id,
                p.number,
                principal.user_id,
                now,
                SOURCE_BULK,
                kind,
                p.item.expires_at,
                list_id=p.list_id,
            )
    by_list: dict[str, list[str]] = {}
    for target, number in fresh:
        by_list.setdefault(target, []).append(number)
    async with uow:
        await _writable(uow, org_id, {p.list_id for p in prepared})
        for target, numbers in by_list.items():
            retired = await uow.entries.retire_expired(org_id, numbers, now, target)
            await audit_expired(uow, org_id, retired)
        added_ids = await uow.entries.add_many(list(fresh.values()))
        added = {key for key, entry in fresh.items() if entry.id in added_ids}
        outcomes = _outcomes(prepared, added)
        await uow.audit.record_added(
            org_id, principal.user_id, [fresh[key].id for key in sorted(added)], {}
        )
        await uow.audit.record(
            AuditEvent(
                organization_id=org_id,
                actor_user_id=principal.user_id,
                action="dnc.bulk_add",
                list_id=request_list,
                after=count_outcomes(outcomes),
            )
        )
        for target in sorted({key[0] for key in added}):
            numbers = [number for (on, number) in added if on == target]
            await list_numbers(uow, mirror, org_id, numbers, list_id=target)
        await uow.commit()
    await settle(uow, mirror, org_id)
    return outcomes


class _Prepared(NamedTuple):
    item: BulkItem
    number: str | None
    error: str | None
    list_id: str


def _outcomes(prepared: list[_Prepared], added: set[tuple[str, str]]) -> list[BulkOutcome]:
    outcomes = []
    first_seen: set[tuple[str, str]] = set()
    for p in prepared:
        key = (p.list_id, p.number or "")
        if p.number is None:
            outcomes.append(BulkOutcome(p.item.phone_number, None, "invalid", p.error))
        elif key in added and key not in first_seen:
            first_seen.add(key)
            outcomes.append(BulkOutcome(p.item.phone_number, p.number, "added"))
        else:
            outcomes.append(BulkOutcome(p.item.phone_number, p.number, "duplicate"))
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
        touched: dict[tuple[UUID, str], list[str]] = {}
        for entry in expired:
            touched.setdefault((entry.organization_id, entry.list_id), []).append(
                entry.phone_number
            )
        for org_id in {entry.organization_id for entry in expired}:
            await audit_expired(
                uow, org_id, [entry.id for entry in expired if entry.organization_id == org_id]
            )
        for (org_id, list_id), numbers in touched.items():
            await remove_numbers(uow, org_id, numbers, list_id)
        await uow.commit()
    for org_id in {org_id for org_id, _ in touched}:
        await settle(uow, mirror, org_id)
    if expired:
        log.info("expired %d entries", len(expired))
    return len(expired)


async def audit_expired(uow: UnitOfWork, organization_id: UUID, entry_ids: list[UUID]) -> None:
    """One ``dnc.expire`` row per entry retired because its expiry passed, whoever retired it
    (the worker, or a write that lists the number anew): an expiry is nobody's act."""
    await uow.audit.record_removed(organization_id, None, "dnc.expire", entry_ids, {})


async def _dispatch(queue: JobQueue, message_ids: list[int]) -> None:
    if not message_ids:
        return
    try:
        await queue.dispatch_outbox(message_ids)
    except Exception:  # the relay picks committed messages up; the caller's write stands
        log.exception("could not enqueue outbox messages %s; the relay will", message_ids)
