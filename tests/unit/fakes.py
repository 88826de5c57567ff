"""An in-memory unit of work and mirror (cosmicpython's fakes): the use cases' rules tested in
milliseconds. Each keeps the contract its port documents, with the semantics of the real
repositories (``infra/db/repositories/``) and of the mirror's scripts (``infra/redis/``); the
same paths run against real Postgres and Redis in tests/api and tests/integration."""

import copy
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Self
from uuid import UUID, uuid4

from domain.checksum import Checksum
from domain.errors import AlreadyListed, Conflict, NotFound, Unavailable
from domain.model import (
    DEFAULT_LIST,
    ApiToken,
    AuditEvent,
    AuditQuery,
    AuditRecord,
    Batch,
    Blocking,
    CallRecord,
    ConsoleSession,
    DncEntry,
    DncList,
    Email,
    EnforcementReport,
    Exemption,
    ImportReport,
    LostImports,
    MirrorAnswer,
    MirrorBuild,
    MirrorProbe,
    MirrorState,
    MirrorTruth,
    Organization,
    OrganizationRecord,
    OutboxMessage,
    PastEntry,
    PrefixRule,
    Principal,
    SharedCursor,
    SharedList,
    StagedImport,
    StagedNumbers,
    TokenRecord,
    User,
    UserRecord,
    VerifyCursor,
)
from domain.ports import DncMirror, JobQueue, Progress
from domain.rules import EXPIRED, LIST_DELETED, PrefixRules, blocks
from domain.rules import blocking as rules_blocking
from domain.time import utcnow
from infra.redis.layout import bucket_count_for, locate, number_at

REAL_SUITES = "covered against real Postgres and Redis in tests/integration"


@dataclass(frozen=True)
class Removal:
    """A tombstone: the entry stays (its evidence is kept), no longer on the list."""

    user_id: UUID | None
    reason: str | None


@dataclass
class Tables:
    """What Postgres holds; a unit of work works on a copy and keeps it on commit."""

    organizations: dict[UUID, Organization] = field(default_factory=dict)
    users: dict[UUID, User] = field(default_factory=dict)
    tokens: dict[str, tuple[ApiToken, bool]] = field(default_factory=dict)  # hash: revoked?
    console_sessions: dict[str, tuple[ConsoleSession, bool]] = field(default_factory=dict)
    batches: dict[UUID, Batch] = field(default_factory=dict)
    calls: dict[UUID, CallRecord] = field(default_factory=dict)
    entries: dict[UUID, DncEntry] = field(default_factory=dict)
    removed: dict[UUID, Removal] = field(default_factory=dict)  # tombstoned entries
    audit: list[AuditEvent] = field(default_factory=list)  # an event's id is its place + 1
    audit_at: list[datetime] = field(default_factory=list)  # when each event was written
    outbox: list[OutboxMessage] = field(default_factory=list)  # likewise
    outbox_at: list[datetime] = field(default_factory=list)
    outbox_errors: dict[int, str] = field(default_factory=dict)  # a message's last error
    processed: set[int] = field(default_factory=set)
    lists: dict[tuple[UUID, str], DncList] = field(default_factory=dict)
    deleted_lists: set[tuple[UUID, str]] = field(default_factory=set)
    prefixes: dict[UUID, PrefixRule] = field(default_factory=dict)
    removed_prefixes: set[UUID] = field(default_factory=set)
    shared_lists: dict[str, SharedList] = field(default_factory=dict)
    shared_checksums: dict[str, Checksum] = field(default_factory=dict)  # each list row's
    generations: dict[int, set[str]] = field(default_factory=dict)  # shared_numbers.g<n>
    subscriptions: list[tuple[UUID, str]] = field(default_factory=list)  # in creation order
    exemptions: dict[UUID, Exemption] = field(default_factory=dict)
    deleted_exemptions: dict[UUID, UUID | None] = field(default_factory=dict)  # by whom
    created_at: dict[UUID, datetime] = field(default_factory=dict)  # organizations, users, tokens
    revoked_at: dict[UUID, datetime] = field(default_factory=dict)  # tokens

    def audit_record(self, index: int) -> AuditRecord:
        event = self.audit[index]
        return AuditRecord(
            index + 1,
            event.action,
            event.actor_user_id,
            event.phone_number,
            event.entity_id,
            event.before,
            event.after,
            self.audit_at[index],
            event.list_id,
        )


def _iso(value: datetime | None) -> str | None:
    """A time as ``record_added``'s SQL writes it into the audit row."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ") if value else None


class _Organizations:
    def __init__(self, t: Tables) -> None:
        self.t = t

    async def get(self, organization_id: UUID) -> Organization | None:
        return self.t.organizations.get(organization_id)

    async def add(self, organization: Organization) -> None:
        self.t.organizations[organization.id] = organization
        self.t.created_at[organization.id] = utcnow()

    async def all(self) -> list[OrganizationRecord]:
        return [
            OrganizationRecord(
                org.id,
                org.name,
                org.dnc_enabled,
                self.t.created_at[org.id],
                sum(1 for u in self.t.users.values() if u.organization_id == org.id),
            )
            for org in sorted(self.t.organizations.values(), key=lambda o: self.t.created_at[o.id])
        ]

    async def get_for_update(self, organization_id: UUID) -> Organization | None:
        return self.t.organizations.get(organization_id)

    async def set_dnc_enabled(self, organization_id: UUID, enabled: bool) -> Organization:
        if organization_id not in self.t.organizations:
            raise NotFound(f"Organization {organization_id} not found")
        organization = replace(self.t.organizations[organization_id], dnc_enabled=enabled)
        self.t.organizations[organization_id] = organization
        return organization

    async def ids(self) -> list[UUID]:
        return sorted(self.t.organizations)

    async def lock_mirror(self, organization_id: UUID) -> None:
        """One task at a time runs a use case here: there is nothing to interleave with."""


class _Users:
    def __init__(self, t: Tables) -> None:
        self.t = t

    async def get(self, organization_id: UUID, user_id: UUID) -> User | None:
        user = self.t.users.get(user_id)
        return user if user and user.organization_id == organization_id else None

    async def get_by_email(self, email: str) -> User | None:
        return next((u for u in self.t.users.values() if u.email == email), None)

    async def admins(self, organization_id: UUID) -> list[User]:
        return [
            u
            for u in self.t.users.values()
            if u.organization_id == organization_id and u.role == "admin"
        ]

    async def count(self, organization_id: UUID) -> int:
        return sum(1 for u in self.t.users.values() if u.organization_id == organization_id)

    async def add(self, user: User) -> None:
        if await self.get_by_email(user.email):
            raise Conflict(f"A user with email {user.email!r} already exists")
        self.t.users[user.id] = user
        self.t.created_at[user.id] = utcnow()

    async def all(self, organization_id: UUID) -> list[UserRecord]:
        return [
            UserRecord(u.id, u.organization_id, u.email, u.role, self.t.created_at[u.id])
            for u in sorted(self.t.users.values(), key=lambda u: self.t.created_at[u.id])
            if u.organization_id == organization_id
        ]


class _Tokens:
    def __init__(self, t: Tables) -> None:
        self.t = t

    async def add(self, token: ApiToken) -> None:
        self.t.tokens[token.token_hash] = (token, False)
        self.t.created_at[token.id] = utcnow()

    async def revoke(self, token_hash: str) -> bool:
        found = self.t.tokens.get(token_hash)
        if found is None or found[1]:
            return False
        self.t.tokens[token_hash] = (found[0], True)
        self.t.revoked_at[found[0].id] = utcnow()
        return True

    async def of_user(self, organization_id: UUID, user_id: UUID) -> list[TokenRecord]:
        user = self.t.users.get(user_id)
        if user is None or user.organization_id != organization_id:
            return []
        mine = [token for token, _ in self.t.tokens.values() if token.user_id == user_id]
        return [
            TokenRecord(
                t.id, t.user_id, t.scope, self.t.created_at[t.id], self.t.revoked_at.get(t.id)
            )
            for t in sorted(mine, key=lambda t: self.t.created_at[t.id])
        ]

    async def principal_for(self, token_hash: str) -> Principal | None:
        found = self.t.tokens.get(token_hash)
        if found is None or found[1]:
            return None
        token = found[0]
        user = self.t.users[token.user_id]
        return Principal(user.id, user.organization_id, user.role, token.scope, token.id)


class _ConsoleSessions:
    def __init__(self, t: Tables) -> None:
        self.t = t

    async def open(self, session: ConsoleSession) -> None:
        self.t.console_sessions[session.session_hash] = (session, False)

    async def principal_for(
        self, session_hash: str, now: datetime
    ) -> tuple[Principal, ConsoleSession] | None:
        found = self.t.console_sessions.get(session_hash)
        if found is None or found[1] or found[0].expires_at <= now:
            return None
        session = found[0]
        token = next(
            (
                t
                for t, revoked in self.t.tokens.values()
                if t.id == session.token_id and not revoked
            ),
            None,
        )
        if token is None:
            return None
        user = self.t.users[token.user_id]
        return Principal(user.id, user.organization_id, user.role, token.scope, token.id), session

    async def end(self, session_hash: str) -> bool:
        found = self.t.console_sessions.get(session_hash)
        if found is None or found[1]:
            return False
        self.t.console_sessions[session_hash] = (found[0], True)
        return True


class _Batches:
    def __init__(self, t: Tables) -> None:
        self.t = t

    async def get(self, organization_id: UUID, batch_id: str) -> Batch | None:
        return next(
            (
                b
                for b in self.t.batches.values()
                if b.organization_id == organization_id and b.batch_id == batch_id
            ),
            None,
        )

    async def add(self, batch: Batch) -> None:
        if await self.get(batch.organization_id, batch.batch_id):
            raise Conflict(f"Batch {batch.batch_id!r} already exists")
        self.t.batches[batch.id] = batch


class _Calls:
    def __init__(self, t: Tables) -> None:
        self.t = t

    async def get(
        self, organization_id: UUID, batch_pk: UUID, request_uuid: str
    ) -> CallRecord | None:
        return next(
            (
                c
                for c in self.t.calls.values()
                if (c.organization_id, c.batch_pk, c.request_uuid)
                == (organization_id, batch_pk, request_uuid)
            ),
            None,
        )

    async def add_many(self, calls: Sequence[CallRecord]) -> None:
        """A requestUUID is unique in the organization, whatever the batch."""
        taken = {(c.organization_id, c.request_uuid) for c in self.t.calls.values()}
        inserted = []
        for call in calls:
            if (call.organization_id, call.request_uuid) not in taken:
                taken.add((call.organization_id, call.request_uuid))
                inserted.append(call)
        if len(inserted) != len(calls):
            refused = sorted({c.request_uuid for c in calls} - {c.request_uuid for c in inserted})
            raise Conflict(f"A call with requestUUID {refused[0]!r} already exists")
        for call in inserted:
            self.t.calls[call.id] = call


class _Entries:
    def __init__(self, t: Tables) -> None:
        self.t = t

    def _listed(self, organization_id: UUID, list_id: str | None = DEFAULT_LIST) -> list[DncEntry]:
        """The list's entries not removed (``None``: every list's)."""
        return [
            e
            for e in self.t.entries.values()
            if e.organization_id == organization_id
            and e.id not in self.t.removed
            and list_id in (None, e.list_id)
        ]

    def _blocking(
        self, organization_id: UUID, now: datetime, list_id: str = DEFAULT_LIST
    ) -> list[DncEntry]:
        return [e for e in self._listed(organization_id, list_id) if blocks(e, now)]

    def _matching(
        self, organization_id: UUID, search: str | None, list_id: str = DEFAULT_LIST
    ) -> list[DncEntry]:
        """``not_removed_matching``: the type or the requestUUID contains the text (ILIKE),
        or the number contains the text's digits."""
        if not search:
            return self._listed(organization_id, list_id)
        text = search.lower()
        digits = "".join(ch for ch in search if ch.isdigit())
        return [
            e
            for e in self._listed(organization_id, list_id)
            if (e.type is not None and text in e.type.lower())
            or (e.request_uuid is not None and text in e.request_uuid.lower())
            or (digits and digits in e.phone_number)
        ]

    async def get(self, organization_id: UUID, entry_id: UUID) -> DncEntry | None:
        entry = self.t.entries.get(entry_id)
        return entry if entry and entry.organization_id == organization_id else None

    async def enforcement(
        self, organization_id: UUID, since: datetime, until: datetime
    ) -> EnforcementReport:
        taken = sorted(
            (e.created_at - e.requested_at).total_seconds()
            for e in self.t.entries.values()
            if e.organization_id == organization_id
            and e.requested_at is not None
            and since <= e.requested_at < until
        )
        if not taken:
            return EnforcementReport(since, until, 0, None, None)
        middle = len(taken) // 2
        median = taken[middle] if len(taken) % 2 else (taken[middle - 1] + taken[middle]) / 2
        return EnforcementReport(since, until, len(taken), median, taken[-1])

    async def history(
        self, organization_id: UUID, phone_number: str, list_id: str | None
    ) -> list[PastEntry]:
        found = [
            e
            for e in self.t.entries.values()
            if e.organization_id == organization_id
            and e.phone_number == phone_number
            and list_id in (None, e.list_id)
        ]
        past = []
        for e in sorted(found, key=lambda e: (e.created_at, str(e.id))):
            removal = self.t.removed.get(e.id)
            if removal is None:
                past.append(PastEntry(e))
            else:  # the fake keeps no removal time: the entry's own stands in
                past.append(PastEntry(e, e.created_at, removal.user_id, removal.reason))
        return past

    async def get_active(
        self, organization_id: UUID, phone_number: str, list_id: str = DEFAULT_LIST
    ) -> DncEntry | None:
        return next(
            (e for e in self._listed(organization_id, list_id) if e.phone_number == phone_number),
            None,
        )

    async def add(self, entry: DncEntry) -> None:
        if await self.get_active(entry.organization_id, entry.phone_number, entry.list_id):
            raise AlreadyListed(f"Phone number {entry.phone_number} is already on the DNC list")
        self.t.entries[entry.id] = entry

    async def remove(
        self, organization_id: UUID, entry_id: UUID, user_id: UUID | None, reason: str | None
    ) -> DncEntry | None:
        entry = await self.get(organization_id, entry_id)
        if entry is None or entry_id in self.t.removed:
            return None
        self.t.removed[entry_id] = Removal(user_id, reason)
        return entry

    async def count_blocked(
        self, organization_id: UUID, now: datetime, list_id: str = DEFAULT_LIST
    ) -> int:
        return len(self._blocking(organization_id, now, list_id))

    async def blocked_among(
        self,
        organization_id: UUID,
        numbers: Sequence[str],
        now: datetime,
        list_id: str = DEFAULT_LIST,
    ) -> set[str]:
        wanted = set(numbers)
        return {e.phone_number for e in self._blocking(organization_id, now, list_id)} & wanted

    async def blocking_lists(
        self, organization_id: UUID, numbers: Sequence[str], now: datetime, lists: Sequence[str]
    ) -> dict[str, set[str]]:
        wanted = set(numbers)
        found: dict[str, set[str]] = {}
        for e in self._listed(organization_id, None):
            if e.phone_number in wanted and e.list_id in lists and blocks(e, now):
                found.setdefault(e.phone_number, set()).add(e.list_id)
        return found

    async def stream_blocked(
        self, organization_id: UUID, now: datetime, chunk: int, list_id: str = DEFAULT_LIST
    ) -> AsyncIterator[list[str]]:
        numbers = [e.phone_number for e in self._blocking(organization_id, now, list_id)]
        for start in range(0, len(numbers), chunk):
            yield numbers[start : start + chunk]

    async def stream_blocked_buckets(
        self, organization_id: UUID, now: datetime, buckets: int, list_id: str = DEFAULT_LIST
    ) -> AsyncIterator[list[tuple[int, list[int]]]]:
        groups: dict[int, list[int]] = {}
        for entry in self._blocking(organization_id, now, list_id):
            n = int(entry.phone_number)
            groups.setdefault(n % buckets, []).append((n - n % buckets) // buckets)
        grouped = sorted(groups.items())
        for start in range(0, len(grouped), 500):
            yield grouped[start : start + 500]

    async def page(
        self,
        organization_id: UUID,
        search: str | None,
        after: tuple[datetime, UUID] | None,
        offset: int,
        limit: int,
        list_id: str = DEFAULT_LIST,
    ) -> list[DncEntry]:
        rows = sorted(
            self._matching(organization_id, search, list_id),
            key=lambda e: (e.created_at, e.id),
            reverse=True,
        )
        if after is not None:
            rows = [e for e in rows if (e.created_at, e.id) < after]
        elif offset:
            rows = rows[offset:]
        return rows[:limit]

    async def count_listed(
        self, organization_id: UUID, search: str | None, list_id: str = DEFAULT_LIST
    ) -> int:
        return len(self._matching(organization_id, search, list_id))

    async def add_many(self, entries: Sequence[DncEntry]) -> set[UUID]:
        added = set()
        for entry in entries:
            found = await self.get_active(entry.organization_id, entry.phone_number, entry.list_id)
            if found is None:
                self.t.entries[entry.id] = entry
                added.add(entry.id)
        return added

    async def remove_list(
        self, organization_id: UUID, list_id: str, user_id: UUID | None
    ) -> list[UUID]:
        listed = self._listed(organization_id, list_id)
        self.t.removed.update((e.id, Removal(user_id, LIST_DELETED)) for e in listed)
        return [e.id for e in listed]

    async def retire_expired(
        self,
        organization_id: UUID,
        numbers: Sequence[str],
        now: datetime,
        list_id: str = DEFAULT_LIST,
    ) -> list[UUID]:
        wanted = set(numbers)
        retired = []
        for entry in self._listed(organization_id, list_id):
            if entry.phone_number in wanted and not blocks(entry, now):
                self.t.removed[entry.id] = Removal(None, EXPIRED)
                retired.append(entry.id)
        return retired

    async def expire_due(self, now: datetime, limit: int) -> list[DncEntry]:
        due = [
            e for e in self.t.entries.values() if e.id not in self.t.removed and not blocks(e, now)
        ][:limit]
        self.t.removed.update((e.id, Removal(None, EXPIRED)) for e in due)
        return due

    async def mirror_truth(
        self, organization_id: UUID, expired_by: datetime, limit: int, list_id: str = DEFAULT_LIST
    ) -> MirrorTruth:
        """The checksum Postgres keeps is of every listed entry, exactly (triggers)."""
        listed = self._listed(organization_id, list_id)
        expiring = sorted(
            (e for e in listed if e.expires_at is not None and e.expires_at <= expired_by),
            key=lambda e: e.expires_at or expired_by,
        )[: limit + 1]
        organization = self.t.organizations.get(organization_id)
        return MirrorTruth(
            pending=any(
                m.organization_id == organization_id and m.kind == "mirror.sync"
                for m in self.t.outbox
                if m.id not in self.t.processed
            ),
            enabled=organization.dnc_enabled if organization else True,
            listed=Checksum.of(e.phone_number for e in listed),
            expired=[e.phone_number for e in expiring] if len(expiring) <= limit else None,
            prefixes=tuple(
                sorted(
                    r.prefix
                    for r in self.t.prefixes.values()
                    if r.organization_id == organization_id and r.id not in self.t.removed_prefixes
                )
            ),
        )

    async def fold_checksums(self, organization_id: UUID) -> None:
        """Nothing to fold: the fake's checksum is computed from the entries."""

    async def listed_page(
        self,
        organization_id: UUID,
        after: str,
        now: datetime,
        limit: int,
        list_id: str = DEFAULT_LIST,
    ) -> list[tuple[str, bool]]:
        listed = sorted(
            (e for e in self._listed(organization_id, list_id) if e.phone_number > after),
            key=lambda e: e.phone_number,
        )
        return [(e.phone_number, blocks(e, now)) for e in listed[:limit]]

    async def listed_among(
        self, organization_id: UUID, numbers: Sequence[str], list_id: str = DEFAULT_LIST
    ) -> set[str]:
        wanted = set(numbers)
        return {
            e.phone_number
            for e in self._listed(organization_id, list_id)
            if e.phone_number in wanted
        }


class _Audit:
    def __init__(self, t: Tables) -> None:
        self.t = t

    async def record_removed(
        self,
        organization_id: UUID,
        actor_user_id: UUID | None,
        action: str,
        entry_ids: Sequence[UUID],
        details: dict[str, Any],
    ) -> None:
        entries = [self.t.entries[entry_id] for entry_id in entry_ids]
        for entry in sorted(entries, key=lambda e: e.phone_number):
            await self.record(
                AuditEvent(
                    organization_id,
                    actor_user_id,
                    action,
                    entry.phone_number,
                    str(entry.id),
                    before={"type": entry.type, "expiresAt": _iso(entry.expires_at)},
                    after=details or None,
                    list_id=entry.list_id,
                )
            )

    async def record(self, event: AuditEvent) -> None:
        self.t.audit.append(event)
        self.t.audit_at.append(utcnow())

    async def record_added(
        self,
        organization_id: UUID,
        actor_user_id: UUID | None,
        entry_ids: Sequence[UUID],
        details: dict[str, Any],
    ) -> None:
        entries = [self.t.entries[entry_id] for entry_id in entry_ids]
        for entry in sorted(entries, key=lambda e: e.phone_number):
            after = {
                "type": entry.type,
                "source": entry.source,
                "expiresAt": _iso(entry.expires_at),
                **details,
            }
            await self.record(
                AuditEvent(
                    organization_id,
                    actor_user_id,
                    "dnc.add",
                    entry.phone_number,
                    str(entry.id),
                    after=after,
                    list_id=entry.list_id,
                )
            )

    def _matching(self, organization_id: UUID, query: AuditQuery) -> list[int]:
        """The places of the organization's events that match, newest first."""
        return [
            i
            for i in reversed(range(len(self.t.audit)))
            if (event := self.t.audit[i]).organization_id == organization_id
            and (
                event.list_id == query.list_id
                or (query.list_id == DEFAULT_LIST and event.list_id is None)
            )
            and (not query.phone_number or event.phone_number == query.phone_number)
            and (not query.action or event.action == query.action)
            and (not query.actor or event.actor_user_id == query.actor)
            and (not query.since or self.t.audit_at[i] >= query.since)
            and (not query.until or self.t.audit_at[i] < query.until)
        ]

    async def page(
        self,
        organization_id: UUID,
        query: AuditQuery,
        after_id: int | None,
        offset: int,
        limit: int,
    ) -> list[AuditRecord]:
        places = self._matching(organization_id, query)
        if after_id is not None:
            places = [i for i in places if i + 1 < after_id]
        elif offset:
            places = places[offset:]
        return [self.t.audit_record(i) for i in places[:limit]]

    async def count(self, organization_id: UUID, query: AuditQuery) -> int:
        return len(self._matching(organization_id, query))


class _Outbox:
    def __init__(self, t: Tables) -> None:
        self.t = t

    def _pending(self) -> list[OutboxMessage]:
        return [m for m in self.t.outbox if m.id not in self.t.processed]

    async def add(self, organization_id: UUID, kind: str, payload: dict[str, object]) -> int:
        message = OutboxMessage(len(self.t.outbox) + 1, organization_id, kind, dict(payload))
        self.t.outbox.append(message)
        self.t.outbox_at.append(utcnow())
        return message.id

    async def claim(self, message_id: int) -> OutboxMessage | None:
        return next((m for m in self._pending() if m.id == message_id), None)

    async def mark_processed(self, message_id: int) -> None:
        self.t.processed.add(message_id)

    async def record_failure(self, message_id: int, error: str) -> None:
        index = message_id - 1
        message = self.t.outbox[index]
        self.t.outbox[index] = replace(message, attempts=message.attempts + 1)
        self.t.outbox_errors[message_id] = error[:2000]

    async def pending_ids(self, kind: str, older_than: datetime, limit: int) -> list[int]:
        return [
            m.id
            for m in self._pending()
            if m.kind == kind and self.t.outbox_at[m.id - 1] < older_than
        ][:limit]

    async def pending_for(
        self, organization_id: UUID, kind: str, limit: int = 1000
    ) -> list[OutboxMessage]:
        return [
            m for m in self._pending() if m.organization_id == organization_id and m.kind == kind
        ][:limit]

    async def mark_processed_many(self, message_ids: Sequence[int]) -> None:
        self.t.processed.update(message_ids)

    async def organizations_pending(self, kind: str) -> list[UUID]:
        return sorted({m.organization_id for m in self._pending() if m.kind == kind})

    async def has_pending(self, organization_id: UUID, kind: str) -> bool:
        return bool(await self.pending_for(organization_id, kind))

    async def last_id(self) -> int:
        return len(self.t.outbox)

    async def oldest_pending_age(self) -> float:
        pending = [self.t.outbox_at[m.id - 1] for m in self._pending()]
        return (utcnow() - min(pending)).total_seconds() if pending else 0.0

    async def numbers_since(self, organization_id: UUID, kind: str, after_id: int) -> set[str]:
        return {
            str(n)
            for m in self.t.outbox
            if m.id > after_id and m.organization_id == organization_id and m.kind == kind
            for n in m.payload.get("numbers", [])
        }


class _Lists:
    def __init__(self, t: Tables) -> None:
        self.t = t

    def _live(self, organization_id: UUID) -> list[DncList]:
        return [
            found
            for key, found in self.t.lists.items()
            if key[0] == organization_id and key not in self.t.deleted_lists
        ]

    def _counted(self, found: DncList) -> DncList:
        entries = self.t.entries.values()
        count = sum(
            1
            for e in entries
            if (e.organization_id, e.list_id) == (found.organization_id, found.id)
            and e.id not in self.t.removed
        )
        return replace(found, count=count)

    async def add(self, dnc_list: DncList, created_by: UUID | None) -> DncList:
        key = (dnc_list.organization_id, dnc_list.id)
        names = {found.name.lower() for found in self._live(dnc_list.organization_id)}
        if key in self.t.lists or dnc_list.name.lower() in names:
            raise Conflict(f"A list named {dnc_list.name!r} exists already")
        self.t.lists[key] = dnc_list
        return dnc_list

    async def get(self, organization_id: UUID, list_id: str, lock: bool = False) -> DncList | None:
        found = next((f for f in self._live(organization_id) if f.id == list_id), None)
        return self._counted(found) if found else None

    async def all(self, organization_id: UUID) -> list[DncList]:
        live = sorted(self._live(organization_id), key=lambda f: (f.kind != "org", f.created_at))
        return [self._counted(found) for found in live]

    async def missing(self, organization_id: UUID, list_ids: Sequence[str]) -> list[str]:
        live = {found.id for found in self._live(organization_id)}
        return [list_id for list_id in list_ids if list_id not in live]

    async def lock_shared(self, organization_id: UUID, list_ids: Sequence[str]) -> list[str]:
        return await self.missing(organization_id, list_ids)

    async def delete(self, organization_id: UUID, list_id: str, user_id: UUID | None) -> bool:
        if await self.get(organization_id, list_id) is None:
            return False
        self.t.deleted_lists.add((organization_id, list_id))
        return True

    async def live(self) -> list[tuple[UUID, str]]:
        return sorted(key for key in self.t.lists if key not in self.t.deleted_lists)


class _Prefixes:
    def __init__(self, t: Tables) -> None:
        self.t = t

    async def add(self, rule: PrefixRule) -> None:
        if any(r.prefix == rule.prefix for r in await self.all(rule.organization_id)):
            raise Conflict(f"The prefix {rule.prefix} is a rule already")
        self.t.prefixes[rule.id] = rule

    async def all(self, organization_id: UUID) -> list[PrefixRule]:
        rules = [
            r
            for r in self.t.prefixes.values()
            if r.organization_id == organization_id and r.id not in self.t.removed_prefixes
        ]
        return sorted(rules, key=lambda r: r.prefix)

    async def remove(
        self, organization_id: UUID, rule_id: UUID, user_id: UUID | None
    ) -> PrefixRule | None:
        rule = next((r for r in await self.all(organization_id) if r.id == rule_id), None)
        if rule is not None:
            self.t.removed_prefixes.add(rule.id)
        return rule


class _SharedLists:
    def __init__(self, t: Tables) -> None:
        self.t = t

    async def add(self, shared: SharedList) -> None:
        if any(s.name.lower() == shared.name.lower() for s in self.t.shared_lists.values()):
            raise Conflict(f"A shared list named {shared.name!r} exists already")
        self.t.shared_lists[shared.id] = shared

    async def get(
        self, list_id: str, lock: bool = False, skip_locked: bool = False
    ) -> SharedList | None:
        return self.t.shared_lists.get(list_id)

    async def all(self) -> list[SharedList]:
        return sorted(self.t.shared_lists.values(), key=lambda s: (s.created_at, s.id))

    async def subscribed(self, organization_id: UUID) -> list[SharedList]:
        ids = {list_id for org, list_id in self.t.subscriptions if org == organization_id}
        return [shared for shared in await self.all() if shared.id in ids]

    async def subscribe(self, organization_id: UUID, list_id: str) -> bool:
        if (organization_id, list_id) in self.t.subscriptions:
            return False
        self.t.subscriptions.append((organization_id, list_id))
        return True

    async def unsubscribe(self, organization_id: UUID, list_id: str) -> bool:
        if (organization_id, list_id) not in self.t.subscriptions:
            return False
        self.t.subscriptions.remove((organization_id, list_id))
        return True

    async def checksum(self, list_id: str) -> Checksum:
        return self.t.shared_checksums.get(list_id, Checksum())

    async def subscribers(self, list_id: str) -> list[UUID]:
        return sorted(org for org, each in self.t.subscriptions if each == list_id)

    async def subscriber_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for _, list_id in self.t.subscriptions:
            counts[list_id] = counts.get(list_id, 0) + 1
        return counts

    def _numbers(self, shared: SharedList) -> set[str]:
        return self.t.generations.get(shared.generation, set()) if shared.generation else set()

    async def listed_among(self, shared: SharedList, numbers: Sequence[str]) -> set[str]:
        return set(numbers) & self._numbers(shared)

    async def numbers_after(self, shared: SharedList, after: int, limit: int) -> list[int]:
        return sorted(n for n in map(int, self._numbers(shared)) if n > after)[:limit]

    async def stream_buckets(
        self, shared: SharedList, buckets: int
    ) -> AsyncIterator[list[tuple[int, list[int]]]]:
        grouped: dict[int, list[int]] = {}
        for number in sorted(self._numbers(shared)):
            bucket, member = locate(int(number), buckets)
            grouped.setdefault(bucket, []).append(member)
        if grouped:
            yield sorted(grouped.items())

    async def swap(
        self, list_id: str, staged: StagedNumbers, downloaded_at: datetime, loaded_at: datetime
    ) -> None:
        old = self.t.shared_lists[list_id]
        self.t.shared_lists[list_id] = replace(
            old,
            generation=staged.generation,
            downloaded_at=downloaded_at,
            loaded_at=loaded_at,
            count=staged.checksum.count,
        )
        self.t.shared_checksums[list_id] = staged.checksum
        if old.generation is not None and old.generation != staged.generation:
            self.t.generations.pop(old.generation, None)

    async def change(
        self,
        shared: SharedList,
        add: Sequence[str],
        remove: Sequence[str],
        downloaded_at: datetime,
    ) -> tuple[int, int]:
        generation = shared.generation
        if generation is None:
            generation = max(self.t.generations, default=0) + 1
        numbers = self.t.generations.setdefault(generation, set())
        added = [n for n in dict.fromkeys(add) if n not in numbers]
        numbers.update(added)
        removed = [n for n in dict.fromkeys(remove) if n in numbers]
        numbers.difference_update(removed)
        checksum = (
            self.t.shared_checksums.get(shared.id, Checksum())
            + Checksum.of(added)
            - Checksum.of(removed)
        )
        self.t.shared_checksums[shared.id] = checksum
        self.t.shared_lists[shared.id] = replace(
            self.t.shared_lists[shared.id],
            generation=generation,
            downloaded_at=downloaded_at,
            count=checksum.count,
        )
        return len(added), len(removed)


class FakeSharedNumbers:
    """Stages straight into the committed tables, as COPY does outside any unit of work."""

    def __init__(self, uow: "FakeUnitOfWork") -> None:
        self.uow = uow

    async def stage(self, chunks: AsyncIterator[bytes]) -> StagedNumbers:
        numbers: set[str] = set()
        async for text in chunks:
            numbers.update(line for line in text.decode().split("\n") if line)
        tables = self.uow.committed
        generation = max(tables.generations, default=0) + 1
        tables.generations[generation] = numbers
        return StagedNumbers(generation, Checksum.of(numbers))

    async def discard(self, generation: int) -> None:
        self.uow.committed.generations.pop(generation, None)


class FakeExemptionRepository:
    def __init__(self, t: Tables) -> None:
        self.t = t

    def _live(self, organization_id: UUID, phone_number: str | None = None) -> list[Exemption]:
        return [
            x
            for x in self.t.exemptions.values()
            if x.organization_id == organization_id
            and x.id not in self.t.deleted_exemptions
            and phone_number in (None, x.phone_number)
        ]

    async def add(self, exemption: Exemption) -> None:
        self.t.exemptions[exemption.id] = exemption

    async def get(self, organization_id: UUID, exemption_id: UUID) -> Exemption | None:
        return next((x for x in self._live(organization_id) if x.id == exemption_id), None)

    async def page(
        self, organization_id: UUID, phone_number: str | None, offset: int, limit: int
    ) -> list[Exemption]:
        rows = sorted(
            self._live(organization_id, phone_number),
            key=lambda x: (x.created_at, x.id),
            reverse=True,
        )
        return rows[offset : offset + limit]

    async def count(self, organization_id: UUID, phone_number: str | None = None) -> int:
        return len(self._live(organization_id, phone_number))

    async def delete(
        self, organization_id: UUID, exemption_id: UUID, user_id: UUID | None
    ) -> Exemption | None:
        found = await self.get(organization_id, exemption_id)
        if found is not None:
            self.t.deleted_exemptions[found.id] = user_id
        return found

    async def exempted_count(self, organization_id: UUID) -> int:
        return len({x.phone_number for x in self._live(organization_id)})

    async def lapses(
        self, organization_id: UUID, numbers: Sequence[str] | None = None
    ) -> dict[str, datetime | None]:
        """The latest lapse of each number's live exemptions; None if one never lapses."""
        wanted = None if numbers is None else set(numbers)
        found: dict[str, list[datetime | None]] = {}
        for x in self._live(organization_id):
            if wanted is None or x.phone_number in wanted:
                found.setdefault(x.phone_number, []).append(x.lapses_at)
        return {
            number: None if None in lapses else max(at for at in lapses if at is not None)
            for number, lapses in found.items()
        }


class _History:
    """As-of checks read the history Postgres keeps (triggers, tombstones): they are tested
    against the real database (tests/api/test_as_of.py, the model-based test), not here."""

    def __init__(self, tables: Tables) -> None:
        self.tables = tables

    async def created_at(self, organization_id: UUID) -> datetime | None:
        raise NotImplementedError

    async def enabled_at(self, organization_id: UUID, at: datetime) -> bool:
        raise NotImplementedError

    async def missing_lists_at(
        self, organization_id: UUID, list_ids: Sequence[str], at: datetime
    ) -> list[str]:
        raise NotImplementedError

    async def blocking_lists_at(
        self, organization_id: UUID, numbers: Sequence[str], at: datetime, lists: Sequence[str]
    ) -> dict[str, set[str]]:
        raise NotImplementedError

    async def prefixes_at(self, organization_id: UUID, at: datetime) -> list[str]:
        raise NotImplementedError

    async def exempt_at(
        self, organization_id: UUID, numbers: Sequence[str], at: datetime
    ) -> set[str]:
        raise NotImplementedError

    async def subscribed_at(self, organization_id: UUID, at: datetime) -> list[str]:
        raise NotImplementedError

    async def deleted_since(self, list_id: str, numbers: Sequence[str], at: datetime) -> set[str]:
        raise NotImplementedError

    async def shared_changed_since(self, list_ids: Sequence[str], at: datetime) -> list[str]:
        raise NotImplementedError


class FakeUnitOfWork:
    """A transaction over :class:`Tables`: changes are kept on ``commit`` and dropped when
    the block ends without one, as in Postgres. ``fail_next`` makes the next block raise on
    entry (Postgres unreachable). :meth:`another` is a second connection to the same tables
    (a commit replaces the tables whole: two transactions that overlap must not both write)."""

    def __init__(self, tables: Tables | None = None) -> None:
        self._database = [tables or Tables()]  # shared with the units of work of another()
        self.fail_next: Exception | None = None
        self.commits = 0
        self._work = self.committed
        self._repositories()

    @property
    def committed(self) -> Tables:
        return self._database[0]

    def another(self) -> "FakeUnitOfWork":
        other = FakeUnitOfWork()
        other._database = self._database
        return other

    def _repositories(self) -> None:
        t = self._work
        self.organizations = _Organizations(t)
        self.users = _Users(t)
        self.tokens = _Tokens(t)
        self.console_sessions = _ConsoleSessions(t)
        self.batches = _Batches(t)
        self.calls = _Calls(t)
        self.entries = _Entries(t)
        self.lists = _Lists(t)
        self.prefixes = _Prefixes(t)
        self.shared_lists = _SharedLists(t)
        self.exemptions = FakeExemptionRepository(t)
        self.audit = _Audit(t)
        self.outbox = _Outbox(t)
        self.history = _History(t)

    async def __aenter__(self) -> Self:
        if self.fail_next is not None:
            failure, self.fail_next = self.fail_next, None
            raise failure
        self._work = copy.deepcopy(self.committed)
        self._repositories()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._work = self.committed  # anything not committed is gone
        self._repositories()

    async def commit(self) -> None:
        self._database[0] = self._work
        self.commits += 1
        self._work = copy.deepcopy(self.committed)
        self._repositories()


@dataclass
class Generation:
    """One generation of an organization's mirror: its numbers and the checksum the scripts
    keep of what they changed (None: a generation built before checksums were kept). A test
    that edits ``numbers`` directly works behind the scripts' back, as a hand edit would."""

    name: str
    buckets: int
    numbers: set[str] = field(default_factory=set)
    checksum: Checksum | None = field(default_factory=Checksum)

    def write(self, add: Sequence[str], remove: Sequence[str]) -> None:
        """SADD and SREM; the checksum counts what they actually changed."""
        added = [n for n in dict.fromkeys(add) if n not in self.numbers]
        self.numbers.update(added)
        removed = [n for n in dict.fromkeys(remove) if n in self.numbers]
        self.numbers.difference_update(removed)
        if self.checksum is not None:
            self.checksum = self.checksum + Checksum.of(added) - Checksum.of(removed)


class FakeMirror:
    """Redis as the scripts keep it: per list of an organization a live generation, maybe one
    being built, and whether the live one is vouched for (``ready``: loaded by this Redis
    process); per organization the DNC flag and the prefix rules (absent: unknown, as
    ``check.lua`` reads a meta key without them), when each exempted number's exemption
    lapses (``exemptions``) and the shared lists it subscribes to (``subscriptions``). The
    org-wide list's are keyed by the organization (``live``, ``building``, ``ready``,
    ``rebuilt``), a named list's by the organization and the list (``named_live`` ...).
    ``down`` makes every call raise :class:`Unavailable`, as the port says; ``away`` does for
    the organizations in it (their Redis Cluster node is unreachable). ``writes`` keeps each
    ``apply`` call: the organization, how many adds and removes."""

    def __init__(self) -> None:
        self.live: dict[UUID, Generation] = {}
        self.building: dict[UUID, Generation] = {}
        self.ready: dict[UUID, bool] = {}
        self.rebuilt: dict[UUID, tuple[str, int]] = {}  # rebuilt_at, rebuilt_count
        self.named_live: dict[tuple[UUID, str], Generation] = {}
        self.named_building: dict[tuple[UUID, str], Generation] = {}
        self.named_ready: dict[tuple[UUID, str], bool] = {}
        self.named_rebuilt: dict[tuple[UUID, str], tuple[str, int]] = {}
        self.enabled: dict[UUID, bool] = {}
        self.prefixes: dict[UUID, list[str]] = {}
        self.subscriptions: dict[UUID, list[str]] = {}  # absent: unknown, as for the rules
        self.exemptions: dict[UUID, dict[str, datetime | None]] = {}  # number: its lapse
        # the shared lists' mirrors, by list id: a live generation, one being built, whether
        # it is vouched for, and until when its data vouches for numbers (absent: unknown)
        self.shared_live: dict[str, Generation] = {}
        self.shared_building: dict[str, Generation] = {}
        self.shared_ready: dict[str, bool] = {}
        self.shared_fresh: dict[str, datetime | None] = {}
        self.cursor: VerifyCursor | None = None
        self.shared_cursor: SharedCursor | None = None
        self.down = False
        self.away: set[UUID] = set()
        self.writes: list[tuple[UUID, int, int]] = []
        self._generations = 0

    @property
    def numbers(self) -> dict[UUID, set[str]]:
        """Each organization's live numbers of its org-wide list."""
        return {org: generation.numbers for org, generation in self.live.items()}

    def _of(self, name: str, organization_id: UUID, list_id: str) -> tuple[dict[Any, Any], Any]:
        """The table of one kind (``live``, ``building``, ``ready``, ``rebuilt``) that holds
        the list, and the list's key in it."""
        if list_id == DEFAULT_LIST:
            return getattr(self, name), organization_id
        return getattr(self, f"named_{name}"), (organization_id, list_id)

    def _get(self, name: str, organization_id: UUID, list_id: str) -> Any:
        table, key = self._of(name, organization_id, list_id)
        return table.get(key)

    def _up(self, organization_id: UUID | None = None) -> None:
        if self.down or organization_id in self.away:
            raise Unavailable("the fake Redis is down")

    def _name(self) -> str:
        self._generations += 1
        return f"g{self._generations}"

    def load(
        self,
        organization_id: UUID,
        numbers: set[str],
        enabled: bool = True,
        list_id: str = DEFAULT_LIST,
    ) -> None:
        """What a rebuild leaves: the list ready, with exactly these numbers."""
        generation = Generation(self._name(), bucket_count_for(len(numbers)))
        generation.write(sorted(numbers), ())
        for name, value in (("live", generation), ("ready", True)):
            table, key = self._of(name, organization_id, list_id)
            table[key] = value
        if list_id == DEFAULT_LIST:
            self.enabled[organization_id] = enabled
            self.prefixes.setdefault(organization_id, [])
            self.subscriptions.setdefault(organization_id, [])

    def restart(self) -> None:
        """Redis restarted empty: every organization's mirror is gone."""
        for held in (self.live, self.building, self.ready, self.enabled, self.rebuilt):
            held.clear()
        for named in (self.named_live, self.named_building, self.named_ready, self.named_rebuilt):
            named.clear()
        self.prefixes.clear()
        self.subscriptions.clear()
        self.exemptions.clear()
        for shared in (self.shared_live, self.shared_building, self.shared_ready):
            shared.clear()
        self.shared_fresh.clear()
        self.cursor = None
        self.shared_cursor = None

    def _vouched(self, organization_id: UUID, list_id: str = DEFAULT_LIST) -> Generation | None:
        """The live generation, if this Redis vouches for it (``check.lua``'s ready)."""
        if not self._get("ready", organization_id, list_id):
            return None
        live: Generation | None = self._get("live", organization_id, list_id)
        return live

    async def check(
        self, organization_id: UUID, numbers: Sequence[str], lists: Sequence[str] = ()
    ) -> MirrorAnswer:
        self._up(organization_id)
        asked = (DEFAULT_LIST, *lists)
        generations = [self._vouched(organization_id, list_id) for list_id in asked]
        subscribed = self.subscriptions.get(organization_id)
        if (
            organization_id not in self.prefixes
            or subscribed is None
            or any(g is None for g in generations)
        ):
            return MirrorAnswer(ready=False, enabled=False)
        if self.enabled.get(organization_id) is not True:
            return MirrorAnswer(ready=True, enabled=False)
        theirs = [self._shared_vouched(list_id) for list_id in subscribed]
        if any(generation is None for generation, _ in theirs):
            return MirrorAnswer(ready=False, enabled=False)
        now = utcnow()
        stale = tuple(
            list_id
            for list_id, (_, fresh_until) in zip(subscribed, theirs, strict=True)
            if fresh_until is None or now >= fresh_until
        )
        rules = PrefixRules(self.prefixes[organization_id])
        lapses = self.exemptions.get(organization_id, {})
        answers: list[Blocking | None] = []
        for number in numbers:
            held = tuple(
                list_id
                for list_id, generation in zip(asked, generations, strict=True)
                if generation is not None and number in generation.numbers
            )
            shared = tuple(
                list_id
                for list_id, (generation, _) in zip(subscribed, theirs, strict=True)
                if generation is not None and number in generation.numbers
            )
            exempt = number in lapses and ((lapse := lapses[number]) is None or now < lapse)
            answers.append(rules_blocking(held, rules.match(number), shared, stale, exempt))
        return MirrorAnswer(True, True, tuple(answers))

    def _shared_vouched(self, list_id: str) -> tuple[Generation | None, datetime | None]:
        """A shared list's live generation if vouched for, and its freshness."""
        if not self.shared_ready.get(list_id) or list_id not in self.shared_fresh:
            return None, None
        return self.shared_live.get(list_id), self.shared_fresh[list_id]

    async def apply(
        self,
        organization_id: UUID,
        add: Sequence[str] = (),
        remove: Sequence[str] = (),
        enabled: bool | None = None,
        list_id: str = DEFAULT_LIST,
    ) -> bool:
        self._up(organization_id)
        self.writes.append((organization_id, len(add), len(remove)))
        if enabled is not None:
            self.enabled[organization_id] = enabled
        for name in ("live", "building"):
            generation = self._get(name, organization_id, list_id)
            if generation is not None:
                generation.write(add, remove)
        return self._get("live", organization_id, list_id) is not None

    async def set_prefixes(self, organization_id: UUID, prefixes: Sequence[str]) -> None:
        self._up(organization_id)
        self.prefixes[organization_id] = list(prefixes)

    async def set_subscriptions(self, organization_id: UUID, list_ids: Sequence[str]) -> None:
        self._up(organization_id)
        self.subscriptions[organization_id] = list(list_ids)

    async def set_exemptions(
        self,
        organization_id: UUID,
        lapses: Mapping[str, datetime | None],
        clear: Sequence[str] = (),
        replace: bool = False,
    ) -> None:
        """One atomic write; a number both stored and cleared ends up cleared (blocked)."""
        self._up(organization_id)
        stored = {} if replace else dict(self.exemptions.get(organization_id, {}))
        stored.update(lapses)
        for number in clear:
            stored.pop(number, None)
        self.exemptions[organization_id] = stored

    async def exemption_count(self, organization_id: UUID) -> int | None:
        self._up(organization_id)
        if self._vouched(organization_id) is None:
            return None
        return len(self.exemptions.get(organization_id, {}))

    async def drop_list(self, organization_id: UUID, list_id: str) -> None:
        self._up(organization_id)
        for name in ("live", "building", "ready", "rebuilt"):
            table, key = self._of(name, organization_id, list_id)
            table.pop(key, None)

    async def state(self, organization_id: UUID, list_id: str = DEFAULT_LIST) -> MirrorState:
        self._up(organization_id)
        live = self._get("live", organization_id, list_id)
        rebuilt_at, rebuilt_count = self._get("rebuilt", organization_id, list_id) or (None, None)
        return MirrorState(
            ready=self._vouched(organization_id, list_id) is not None,
            enabled=self.enabled.get(organization_id),
            generation=live.name if live else None,
            buckets=live.buckets if live else None,
            building=self._get("building", organization_id, list_id) is not None,
            rebuilt_at=rebuilt_at,
            rebuilt_count=rebuilt_count,
        )

    async def count(self, organization_id: UUID, list_id: str = DEFAULT_LIST) -> int | None:
        self._up(organization_id)
        live = self._get("live", organization_id, list_id)
        return len(live.numbers) if live else None

    async def members(self, organization_id: UUID, list_id: str = DEFAULT_LIST) -> set[int] | None:
        self._up(organization_id)
        live = self._get("live", organization_id, list_id)
        return {int(n) for n in live.numbers} if live else None

    async def begin_rebuild(
        self, organization_id: UUID, expected: int, list_id: str = DEFAULT_LIST
    ) -> MirrorBuild:
        self._up(organization_id)
        build = MirrorBuild(self._name(), bucket_count_for(expected), list_id)
        table, key = self._of("building", organization_id, list_id)
        table[key] = Generation(build.generation, build.buckets)
        return build

    async def load_buckets(
        self, organization_id: UUID, build: MirrorBuild, groups: Sequence[tuple[int, list[int]]]
    ) -> bool:
        self._up(organization_id)
        building = self._get("building", organization_id, build.list_id)
        if building is None or building.name != build.generation:
            return False
        numbers = [
            str(number_at(bucket, member, build.buckets))
            for bucket, members in groups
            for member in members
        ]
        building.write(numbers, ())
        return True

    async def probe(
        self, organization_id: UUID, numbers: Sequence[str] = (), list_id: str = DEFAULT_LIST
    ) -> MirrorProbe:
        self._up(organization_id)
        live = self._get("live", organization_id, list_id)
        rules = self.prefixes.get(organization_id) if list_id == DEFAULT_LIST else None
        subscribed = self.subscriptions.get(organization_id) if list_id == DEFAULT_LIST else None
        return MirrorProbe(
            ready=self._vouched(organization_id, list_id) is not None,
            enabled=self.enabled.get(organization_id) if list_id == DEFAULT_LIST else None,
            buckets=live.buckets if live else None,
            checksum=live.checksum if live else None,
            members=tuple(n in live.numbers for n in numbers) if live else (),
            prefixes=tuple(rules) if rules is not None else None,
            subscriptions=tuple(subscribed) if subscribed is not None else None,
        )

    async def bucket_members(
        self, organization_id: UUID, start: int, stop: int, list_id: str = DEFAULT_LIST
    ) -> tuple[int, set[int]] | None:
        self._up(organization_id)
        live = self._get("live", organization_id, list_id)
        if live is None:
            return None
        wanted = range(start, min(stop, live.buckets))
        return live.buckets, {int(n) for n in live.numbers if int(n) % live.buckets in wanted}

    async def verify_cursor(self) -> VerifyCursor | None:
        self._up()
        return self.cursor

    async def save_verify_cursor(self, cursor: VerifyCursor) -> None:
        self._up()
        self.cursor = cursor

    async def swap(
        self,
        organization_id: UUID,
        build: MirrorBuild,
        enabled: bool | None,
        rebuilt_at: str,
        count: int,
        prefixes: Sequence[str] | None = None,
    ) -> bool:
        self._up(organization_id)
        list_id = build.list_id
        building = self._get("building", organization_id, list_id)
        if building is None or building.name != build.generation:
            return False
        for name, value in (
            ("live", building),
            ("ready", True),
            ("rebuilt", (rebuilt_at, count)),
        ):
            table, key = self._of(name, organization_id, list_id)
            table[key] = value
        table, key = self._of("building", organization_id, list_id)
        del table[key]
        if enabled is not None:
            self.enabled[organization_id] = enabled
        if prefixes is not None:
            self.prefixes[organization_id] = list(prefixes)
        return True


class FakeSharedMirror:
    """The shared lists' side of :class:`FakeMirror` (the same Redis)."""

    def __init__(self, mirror: FakeMirror) -> None:
        self.mirror = mirror

    async def state(self, list_id: str) -> MirrorState:
        self.mirror._up()
        live = self.mirror.shared_live.get(list_id)
        return MirrorState(
            ready=self.mirror._shared_vouched(list_id)[0] is not None,
            enabled=None,
            generation=live.name if live else None,
            buckets=live.buckets if live else None,
            building=list_id in self.mirror.shared_building,
            rebuilt_at=None,
            rebuilt_count=None,
        )

    async def begin_rebuild(self, list_id: str, expected: int) -> MirrorBuild:
        self.mirror._up()
        build = MirrorBuild(self.mirror._name(), bucket_count_for(expected))
        self.mirror.shared_building[list_id] = Generation(build.generation, build.buckets)
        return build

    async def load_buckets(
        self, list_id: str, build: MirrorBuild, groups: Sequence[tuple[int, list[int]]]
    ) -> bool:
        self.mirror._up()
        building = self.mirror.shared_building.get(list_id)
        if building is None or building.name != build.generation:
            return False
        building.write(
            [str(number_at(b, m, build.buckets)) for b, members in groups for m in members], ()
        )
        return True

    async def swap(
        self,
        list_id: str,
        build: MirrorBuild,
        fresh_until: datetime | None,
        rebuilt_at: str,
        count: int,
    ) -> bool:
        self.mirror._up()
        building = self.mirror.shared_building.get(list_id)
        if building is None or building.name != build.generation:
            return False
        self.mirror.shared_live[list_id] = self.mirror.shared_building.pop(list_id)
        self.mirror.shared_ready[list_id] = True
        self.mirror.shared_fresh[list_id] = fresh_until
        return True

    async def suspend(self, list_id: str) -> None:
        self.mirror._up()
        self.mirror.shared_ready.pop(list_id, None)

    async def apply(
        self,
        list_id: str,
        add: Sequence[str],
        remove: Sequence[str],
        fresh_until: datetime | None,
    ) -> bool:
        self.mirror._up()
        for generations in (self.mirror.shared_live, self.mirror.shared_building):
            if list_id in generations:
                generations[list_id].write(add, remove)
        self.mirror.shared_fresh[list_id] = fresh_until
        return list_id in self.mirror.shared_live

    async def probe(self, list_id: str, numbers: Sequence[str] = ()) -> MirrorProbe:
        self.mirror._up()
        live = self.mirror.shared_live.get(list_id)
        fresh_until = self.mirror.shared_fresh.get(list_id)
        return MirrorProbe(
            ready=self.mirror._shared_vouched(list_id)[0] is not None,
            enabled=None,
            buckets=live.buckets if live else None,
            checksum=live.checksum if live else None,
            members=tuple(n in live.numbers for n in numbers) if live else (),
            fresh_until=(int(fresh_until.timestamp()) if fresh_until else 0)
            if list_id in self.mirror.shared_fresh
            else None,
        )

    async def bucket_members(
        self, list_id: str, start: int, stop: int
    ) -> tuple[int, set[int]] | None:
        self.mirror._up()
        live = self.mirror.shared_live.get(list_id)
        if live is None:
            return None
        wanted = range(start, min(stop, live.buckets))
        return live.buckets, {int(n) for n in live.numbers if int(n) % live.buckets in wanted}

    async def verify_cursor(self) -> SharedCursor | None:
        self.mirror._up()
        return self.mirror.shared_cursor

    async def save_verify_cursor(self, cursor: SharedCursor) -> None:
        self.mirror._up()
        self.mirror.shared_cursor = cursor

    async def count(self, list_id: str) -> int | None:
        self.mirror._up()
        live = self.mirror.shared_live.get(list_id)
        return len(live.numbers) if live else None


class FakeQueue:
    """The jobs asked for, in order; ``down`` makes every call raise :class:`Unavailable`, as
    the port says."""

    def __init__(self) -> None:
        self.dispatched: list[int] = []
        self.rebuilds: list[UUID] = []
        self.imports: list[UUID] = []
        self.down = False

    def _up(self) -> None:
        if self.down:
            raise Unavailable("the fake queue is down")

    async def dispatch_outbox(self, message_ids: Sequence[int]) -> None:
        self._up()
        self.dispatched += message_ids

    async def enqueue_rebuild(self, organization_id: UUID) -> str:
        self._up()
        self.rebuilds.append(organization_id)
        return f"rebuild:{organization_id}"

    async def enqueue_import(self, import_id: UUID) -> str:
        self._up()
        if import_id not in self.imports:
            self.imports.append(import_id)
        return f"import:{import_id}"

    async def import_pending(self, import_id: UUID) -> bool:
        self._up()
        return import_id in self.imports


class FakeTransfers:
    """Staged imports in memory: a file's rows are its lines after the header; processing one
    marks it done (``fail_with`` makes the next run raise instead). The rows' rules and the
    set-based listing are covered against real Postgres and Redis in tests/integration."""

    def __init__(self) -> None:
        self.imports: dict[UUID, tuple[UUID, ImportReport]] = {}  # id: (organization, report)
        self.processed: list[UUID] = []
        self.fail_with: BaseException | None = None
        self.lists_staged: list[str] = []  # the list of each import staged

    async def stage(
        self,
        organization_id: UUID,
        user_id: UUID | None,
        body: AsyncIterator[bytes],
        list_id: str = DEFAULT_LIST,
    ) -> StagedImport:
        self.lists_staged.append(list_id)
        data = b"".join([chunk async for chunk in body])
        staged = StagedImport(uuid4(), max(len(data.splitlines()) - 1, 0))
        self.imports[staged.id] = (organization_id, ImportReport(staged.id, "queued", staged.rows))
        return staged

    async def process(
        self, import_id: UUID, mirror: DncMirror, progress: Progress | None = None
    ) -> ImportReport:
        organization_id, report = self.imports[import_id]
        if report.status in ("done", "failed"):
            return report
        if self.fail_with is not None:
            failure, self.fail_with = self.fail_with, None
            raise failure
        self.processed.append(import_id)
        done = replace(report, status="done", processed=report.rows, added=report.rows)
        self.imports[import_id] = (organization_id, done)
        return done

    async def abandon(self, import_id: UUID, failure: str) -> None:
        organization_id, report = self.imports[import_id]
        if report.status != "done":
            failed = replace(report, status="failed", failure=failure)
            self.imports[import_id] = (organization_id, failed)

    async def report(self, organization_id: UUID, import_id: UUID) -> ImportReport:
        found = self.imports.get(import_id)
        if found is None or found[0] != organization_id:
            raise NotFound(f"No import {import_id}")
        return found[1]

    async def lost(self, older_than: datetime, max_attempts: int, queue: JobQueue) -> LostImports:
        """Every queued or running import whose job the queue does not hold (ages and
        attempts are not counted here; tests/integration covers them)."""
        retry = [
            import_id
            for import_id, (_, report) in self.imports.items()
            if report.status in ("queued", "running") and not await queue.import_pending(import_id)
        ]
        return LostImports(retry, [])

    def export(self, organization_id: UUID, list_id: str = DEFAULT_LIST) -> AsyncIterator[bytes]:
        raise NotImplementedError(f"exports are not faked: {REAL_SUITES}")


class FakeRevocations:
    """The announcement of a revoked token to the API processes. It keeps what it announced,
    each with whether the committed tables had the token revoked at that moment; ``down``
    makes the announcement fail (it returns False, never raises, as the port says)."""

    def __init__(self, uow: FakeUnitOfWork) -> None:
        self.uow = uow
        self.announced: list[tuple[str, bool]] = []
        self.down = False

    async def announce(self, token_hash: str) -> bool:
        if self.down:
            return False
        found = self.uow.committed.tokens.get(token_hash)
        self.announced.append((token_hash, found is not None and found[1]))
        return True


class FakeMailer:
    """A mail server that keeps what it accepts; ``refusals`` are raised by the next sends, in
    order (:class:`domain.ports.MailerUnavailable`: try later; :class:`MailRejected`: never)."""

    def __init__(self) -> None:
        self.sent: list[Email] = []
        self.refusals: list[Exception] = []

    async def send(self, email: Email) -> None:
        if self.refusals:
            raise self.refusals.pop(0)
        self.sent.append(email)
