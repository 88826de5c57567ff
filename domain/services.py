"""The use cases. Each takes its ports explicitly and commits its unit of work once.

Mirror writes err towards blocking: an added number (or DNC switched on) reaches Redis
before the transaction commits, so a failed commit leaves an extra block that the mirror
sync removes; anything that unblocks reaches Redis only through the sync after the commit.
"""

import hashlib
import logging
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit
from uuid import UUID, uuid4

from domain.errors import AlreadyListed, InvalidInput, NotFound, Unauthenticated, Unavailable
from domain.mirror import record_change, settle
from domain.model import (
    ApiToken,
    AuditEvent,
    Batch,
    CallRecord,
    DncEntry,
    Organization,
    Principal,
    Role,
    Scope,
    User,
)
from domain.notifications import dnc_added_email
from domain.phone import normalize
from domain.ports import (
    DncMirror,
    JobQueue,
    Mailer,
    MailerUnavailable,
    MailRejected,
    TokenRevocations,
    UnitOfWork,
)
from domain.text import one_line
from domain.time import as_utc, utcnow

log = logging.getLogger(__name__)

EMAIL_DNC_ADDED = "email.dnc_added"
MAX_CALLS_PER_REQUEST = 1000
TOKEN_PREFIX = "dnc_"  # noqa: S105 - a prefix, not a secret
_BATCH_ID = re.compile(r"[A-Za-z0-9._:\-]{1,64}")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


def hash_token(raw: str) -> str:
    """Tokens are random and long, so a plain SHA-256 is enough; only the hash is stored."""
    return hashlib.sha256(raw.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class AddNumber:
    phone_number: str
    batch_id: str
    request_uuid: str
    type: str | None = None
    expires_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class NewCall:
    phone_number: str
    request_uuid: str | None = None
    recording_url: str | None = None
    transcription: str | None = None
    status: str | None = None
    started_at: datetime | None = None
    duration_seconds: int | None = None


async def add_number(
    uow: UnitOfWork, mirror: DncMirror, queue: JobQueue, principal: Principal, cmd: AddNumber
) -> DncEntry:
    """The vendor's add: link the number to its batch and call, copy the evidence, notify."""
    number = normalize(cmd.phone_number)
    one_line("type", cmd.type)
    expires_at = as_utc(cmd.expires_at, "expiresAt") if cmd.expires_at is not None else None
    if expires_at is not None and expires_at <= utcnow():
        raise InvalidInput("expiresAt must be in the future")
    org_id = principal.organization_id
    async with uow:
        batch = await _batch(uow, org_id, cmd.batch_id)
        if batch.user_id is None or await uow.users.get(org_id, batch.user_id) is None:
            raise NotFound(f"No user found for batch {cmd.batch_id!r}")
        call = await uow.calls.get(org_id, batch.id, cmd.request_uuid)
        if call is None:
            raise NotFound(
                f"Call record not found for batchId {cmd.batch_id!r} "
                f"and requestUUID {cmd.request_uuid!r}"
            )
        now = utcnow()
        listed = await uow.entries.get_active(org_id, number)
        if listed is not None and (listed.expires_at is None or listed.expires_at > now):
            raise AlreadyListed(f"Phone number {number} is already on the DNC list")
        if listed is not None:  # expired but not purged yet: retire it, list the number anew
            await uow.entries.remove(org_id, listed.id, None, "expired")
        entry = DncEntry(
            id=uuid4(),
            organization_id=org_id,
            phone_number=number,
            type=cmd.type,
            source="call",
            batch_id=batch.batch_id,
            batch_pk=batch.id,
            call_record_id=call.id,
            request_uuid=call.request_uuid,
            call_recording=call.recording_url,
            transcription=call.transcription,
            added_by=principal.user_id,
            created_at=now,
            expires_at=expires_at,
        )
        await uow.entries.add(entry)
        await uow.audit.record(
            AuditEvent(
                organization_id=org_id,
                actor_user_id=principal.user_id,
                action="dnc.add",
                phone_number=number,
                entity_id=str(entry.id),
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
        await record_change(uow, org_id, [number])
        await uow.organizations.lock_mirror(org_id)  # no sync may interleave until the commit
        await mirror.apply(org_id, add=[number])  # before the commit: errs towards blocking
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
) -> DncEntry:
    number = normalize(phone_number)
    async with uow:
        entry = await uow.entries.get_active(principal.organization_id, number)
    if entry is None:
        raise NotFound(f"Phone number {number} is not on the DNC list")
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
                before={"type": entry.type, "batchId": entry.batch_id},
                after={"reason": reason},
            )
        )
        await record_change(uow, org_id, [entry.phone_number])
        await uow.commit()
    if not await settle(uow, mirror, org_id):
        raise Unavailable(
            f"Phone number {entry.phone_number} was removed from the list, but the dialer cache "
            "could not be updated yet; it catches up by itself, and until then dialers keep "
            "skipping the number"
        )
    return entry


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
        batch = await _batch(uow, org_id, batch_id)
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


async def _batch(uow: UnitOfWork, organization_id: UUID, batch_id: str) -> Batch:
    batch = (
        await uow.batches.get(organization_id, batch_id) if _BATCH_ID.fullmatch(batch_id) else None
    )
    if batch is None:
        raise NotFound(f"Batch {batch_id!r} not found")
    return batch


async def get_entry(uow: UnitOfWork, principal: Principal, phone_number: str) -> DncEntry:
    number = normalize(phone_number)
    async with uow:
        entry = await uow.entries.get_active(principal.organization_id, number)
    if entry is None:
        raise NotFound(f"Phone number {number} is not on the DNC list")
    return entry


async def get_settings(uow: UnitOfWork, principal: Principal) -> tuple[bool, int]:
    async with uow:
        org = await uow.organizations.get(principal.organization_id)
        if org is None:
            raise NotFound("Organization not found")
        return org.dnc_enabled, await uow.entries.count_blocked(org.id, utcnow())


# Provisioning (the CLI) -----------------------------------------------------------------


async def create_organization(
    uow: UnitOfWork, name: str, admin_email: str
) -> tuple[Organization, User]:
    if not name.strip():
        raise InvalidInput("the organization name must not be empty")
    one_line("the organization name", name)
    org = Organization(id=uuid4(), name=name.strip(), dnc_enabled=True)
    admin = User(id=uuid4(), organization_id=org.id, email=_email(admin_email), role="admin")
    async with uow:
        await uow.organizations.add(org)
        await uow.users.add(admin)
        await uow.commit()
    return org, admin


async def create_user(uow: UnitOfWork, organization_id: UUID, email: str, role: Role) -> User:
    user = User(id=uuid4(), organization_id=organization_id, email=_email(email), role=role)
    async with uow:
        if await uow.organizations.get(organization_id) is None:
            raise NotFound(f"Organization {organization_id} not found")
        await uow.users.add(user)
        await uow.commit()
    return user


async def create_token(uow: UnitOfWork, email: str, scope: Scope) -> str:
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    async with uow:
        user = await uow.users.get_by_email(_email(email))
        if user is None:
            raise NotFound(f"No user with email {email!r}")
        await uow.tokens.add(
            ApiToken(id=uuid4(), user_id=user.id, token_hash=hash_token(raw), scope=scope)
        )
        await uow.commit()
    return raw


async def revoke_token(uow: UnitOfWork, revocations: TokenRevocations, raw_token: str) -> bool:
    """Revoke the token, then announce it to the API processes (after the commit, so none
    reloads it as live). True if the announcement went out; if not, the processes' caches
    still stop trusting it within a second."""
    token_hash = hash_token(raw_token.strip())
    async with uow:
        if not await uow.tokens.revoke(token_hash):
            raise NotFound("No live token matches; it may be revoked already")
        await uow.commit()
    return await revocations.announce(token_hash)


async def authenticate(uow: UnitOfWork, raw_token: str) -> Principal:
    async with uow:
        principal = await uow.tokens.principal_for(hash_token(raw_token))
    if principal is None:
        raise Unauthenticated("The bearer token is not valid or has been revoked")
    return principal


def _email(value: str) -> str:
    one_line("the email address", value)
    email = value.strip().lower()
    if not _EMAIL.fullmatch(email):
        raise InvalidInput(f"{value!r} is not an email address")
    return email


# Outbox ----------------------------------------------------------------------------------


async def deliver_outbox_message(uow: UnitOfWork, mailer: Mailer, message_id: int) -> bool:
    """Send one outbox message; True if it was sent now, False if there was nothing to do.

    Raises :class:`MailerUnavailable` (after recording the attempt) so the job is retried.
    """
    async with uow:
        message = await uow.outbox.claim(message_id)
        if message is None:
            return False
        email = None
        if message.kind == EMAIL_DNC_ADDED:
            entry_id: UUID | None = None
            user_id: UUID | None = None
            try:
                entry_id = UUID(str(message.payload["entryId"]))
                user_id = UUID(str(message.payload["userId"]))
            except (KeyError, ValueError):
                log.error("outbox message %s has an unusable payload", message.id)
            org_id = message.organization_id
            entry = await uow.entries.get(org_id, entry_id) if entry_id else None
            user = await uow.users.get(org_id, user_id) if user_id else None
            org = await uow.organizations.get(org_id)
            if entry and user and org:
                key = f"<dnc-outbox-{message.id}@{org.id}.dnc>"
                email = dnc_added_email(entry, org.name, user.email, key)
        if email is None:
            log.warning("outbox message %s (%s) has nothing to send", message.id, message.kind)
        else:
            try:
                await mailer.send(email)
            except MailerUnavailable as exc:
                await uow.outbox.record_failure(message.id, str(exc))
                await uow.commit()
                raise
            except MailRejected as exc:
                log.error("outbox message %s was refused for good: %s", message.id, exc)
                await uow.outbox.record_failure(message.id, str(exc))
        await uow.outbox.mark_processed(message.id)
        await uow.commit()
    return email is not None


async def pending_outbox(uow: UnitOfWork, older_than: datetime, limit: int = 1000) -> list[int]:
    async with uow:
        return await uow.outbox.pending_ids(EMAIL_DNC_ADDED, older_than, limit)


async def _dispatch(queue: JobQueue, message_ids: list[int]) -> None:
    if not message_ids:
        return
    try:
        await queue.dispatch_outbox(message_ids)
    except Exception:  # the relay picks committed messages up; the caller's write stands
        log.exception("could not enqueue outbox messages %s; the relay will", message_ids)
