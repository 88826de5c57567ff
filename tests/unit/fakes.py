"""An in-memory unit of work and mirror (cosmicpython's fakes): the use cases' rules tested in
milliseconds. Each keeps the contract its port documents; what a fake leaves out raises
``NotImplementedError`` naming the real-service suite that covers it."""

import copy
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from types import TracebackType
from typing import Any, Self
from uuid import UUID, uuid4

from domain.errors import AlreadyListed, NotFound, Unavailable
from domain.model import (
    ApiToken,
    AuditEvent,
    Batch,
    CallRecord,
    DncEntry,
    ImportReport,
    LostImports,
    MirrorAnswer,
    MirrorState,
    Organization,
    OutboxMessage,
    Principal,
    StagedImport,
    User,
)
from domain.ports import DncMirror, JobQueue, Progress

REAL_SUITES = "covered against real Postgres and Redis in tests/integration"


def _blocks(entry: DncEntry, now: datetime) -> bool:
    return entry.expires_at is None or entry.expires_at > now


@dataclass
class Tables:
    """What Postgres holds; a unit of work works on a copy and keeps it on commit."""

    organizations: dict[UUID, Organization] = field(default_factory=dict)
    users: dict[UUID, User] = field(default_factory=dict)
    tokens: dict[str, tuple[ApiToken, bool]] = field(default_factory=dict)  # hash: revoked?
    batches: dict[UUID, Batch] = field(default_factory=dict)
    calls: dict[UUID, CallRecord] = field(default_factory=dict)
    entries: dict[UUID, DncEntry] = field(default_factory=dict)
    removed: set[UUID] = field(default_factory=set)  # tombstoned entries (kept as evidence)
    audit: list[AuditEvent] = field(default_factory=list)
    outbox: list[OutboxMessage] = field(default_factory=list)
    processed: set[int] = field(default_factory=set)


class _Organizations:
    def __init__(self, t: Tables) -> None:
        self.t = t

    async def get(self, organization_id: UUID) -> Organization | None:
        return self.t.organizations.get(organization_id)

    async def add(self, organization: Organization) -> None:
        self.t.organizations[organization.id] = organization

    async def get_for_update(self, organization_id: UUID) -> Organization | None:
        return self.t.organizations.get(organization_id)

    async def set_dnc_enabled(self, organization_id: UUID, enabled: bool) -> Organization:
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
        self.t.users[user.id] = user


class _Tokens:
    def __init__(self, t: Tables) -> None:
        self.t = t

    async def add(self, token: ApiToken) -> None:
        self.t.tokens[token.token_hash] = (token, False)

    async def revoke(self, token_hash: str) -> bool:
        found = self.t.tokens.get(token_hash)
        if found is None or found[1]:
            return False
        self.t.tokens[token_hash] = (found[0], True)
        return True

    async def principal_for(self, token_hash: str) -> Principal | None:
        found = self.t.tokens.get(token_hash)
        if found is None or found[1]:
            return None
        token = found[0]
        user = self.t.users[token.user_id]
        return Principal(user.id, user.organization_id, user.role, token.scope, token.id)


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
        for call in calls:
            self.t.calls[call.id] = call


class _Entries:
    def __init__(self, t: Tables) -> None:
        self.t = t

    def _listed(self, organization_id: UUID) -> list[DncEntry]:
        return [
            e
            for e in self.t.entries.values()
            if e.organization_id == organization_id and e.id not in self.t.removed
        ]

    async def get(self, organization_id: UUID, entry_id: UUID) -> DncEntry | None:
        entry = self.t.entries.get(entry_id)
        return entry if entry and entry.organization_id == organization_id else None

    async def get_active(self, organization_id: UUID, phone_number: str) -> DncEntry | None:
        return next(
            (e for e in self._listed(organization_id) if e.phone_number == phone_number), None
        )

    async def add(self, entry: DncEntry) -> None:
        if await self.get_active(entry.organization_id, entry.phone_number):
            raise AlreadyListed(f"Phone number {entry.phone_number} is already on the DNC list")
        self.t.entries[entry.id] = entry

    async def remove(
        self, organization_id: UUID, entry_id: UUID, user_id: UUID | None, reason: str | None
    ) -> DncEntry | None:
        entry = await self.get(organization_id, entry_id)
        if entry is None or entry_id in self.t.removed:
            return None
        self.t.removed.add(entry_id)
        return entry

    async def count_blocked(self, organization_id: UUID, now: datetime) -> int:
        return sum(1 for e in self._listed(organization_id) if _blocks(e, now))

    async def blocked_among(
        self, organization_id: UUID, numbers: Sequence[str], now: datetime
    ) -> set[str]:
        wanted = set(numbers)
        return {
            e.phone_number
            for e in self._listed(organization_id)
            if e.phone_number in wanted and _blocks(e, now)
        }

    async def listed_among(self, organization_id: UUID, numbers: Sequence[str]) -> set[str]:
        wanted = set(numbers)
        return {e.phone_number for e in self._listed(organization_id) if e.phone_number in wanted}

    async def add_many(self, entries: Sequence[DncEntry]) -> set[str]:
        added = set()
        for entry in entries:
            if await self.get_active(entry.organization_id, entry.phone_number) is None:
                self.t.entries[entry.id] = entry
                added.add(entry.phone_number)
        return added

    async def retire_expired(
        self, organization_id: UUID, numbers: Sequence[str], now: datetime
    ) -> None:
        wanted = set(numbers)
        for entry in self._listed(organization_id):
            if entry.phone_number in wanted and not _blocks(entry, now):
                self.t.removed.add(entry.id)

    async def expire_due(self, now: datetime, limit: int) -> list[DncEntry]:
        due = [
            e for e in self.t.entries.values() if e.id not in self.t.removed and not _blocks(e, now)
        ][:limit]
        self.t.removed.update(e.id for e in due)
        return due

    def __getattr__(self, name: str) -> Any:  # paging, streams, checksums
        raise NotImplementedError(f"entries.{name} is not faked: {REAL_SUITES}")


class _Audit:
    def __init__(self, t: Tables) -> None:
        self.t = t

    async def record(self, event: AuditEvent) -> None:
        self.t.audit.append(event)

    async def record_added(
        self,
        organization_id: UUID,
        actor_user_id: UUID | None,
        entry_ids: Sequence[UUID],
        details: dict[str, Any],
    ) -> None:
        for entry_id in entry_ids:
            entry = self.t.entries[entry_id]
            after = {"type": entry.type, "source": entry.source, **details}
            self.t.audit.append(
                AuditEvent(
                    organization_id,
                    actor_user_id,
                    "dnc.add",
                    entry.phone_number,
                    str(entry.id),
                    after=after,
                )
            )

    def __getattr__(self, name: str) -> Any:  # paging and counting
        raise NotImplementedError(f"audit.{name} is not faked: {REAL_SUITES}")


class _Outbox:
    def __init__(self, t: Tables) -> None:
        self.t = t

    def _pending(self) -> list[OutboxMessage]:
        return [m for m in self.t.outbox if m.id not in self.t.processed]

    async def add(self, organization_id: UUID, kind: str, payload: dict[str, object]) -> int:
        message = OutboxMessage(len(self.t.outbox) + 1, organization_id, kind, dict(payload))
        self.t.outbox.append(message)
        return message.id

    async def claim(self, message_id: int) -> OutboxMessage | None:
        return next((m for m in self._pending() if m.id == message_id), None)

    async def mark_processed(self, message_id: int) -> None:
        self.t.processed.add(message_id)

    async def record_failure(self, message_id: int, error: str) -> None:
        index = message_id - 1
        message = self.t.outbox[index]
        self.t.outbox[index] = replace(message, attempts=message.attempts + 1)

    async def pending_ids(self, kind: str, older_than: datetime, limit: int) -> list[int]:
        return [m.id for m in self._pending() if m.kind == kind][:limit]

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
        if self._pending():
            raise NotImplementedError(f"outbox ages are not faked: {REAL_SUITES}")
        return 0.0

    async def numbers_since(self, organization_id: UUID, kind: str, after_id: int) -> set[str]:
        return {
            str(n)
            for m in self.t.outbox
            if m.id > after_id and m.organization_id == organization_id and m.kind == kind
            for n in m.payload.get("numbers", [])
        }


class FakeUnitOfWork:
    """A transaction over :class:`Tables`: changes are kept on ``commit`` and dropped when
    the block ends without one, as in Postgres. ``fail_next`` makes the next block raise on
    entry (Postgres unreachable)."""

    def __init__(self, tables: Tables | None = None) -> None:
        self.committed = tables or Tables()
        self.fail_next: Exception | None = None
        self.commits = 0
        self._work = self.committed

    def _repositories(self) -> None:
        t = self._work
        self.organizations = _Organizations(t)
        self.users = _Users(t)
        self.tokens = _Tokens(t)
        self.batches = _Batches(t)
        self.calls = _Calls(t)
        self.entries = _Entries(t)
        self.audit = _Audit(t)
        self.outbox = _Outbox(t)

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

    async def commit(self) -> None:
        self.committed = self._work
        self.commits += 1
        self._work = copy.deepcopy(self.committed)
        self._repositories()


class FakeMirror:
    """Redis as the checks see it: per organization a ready flag, the DNC flag and the set of
    blocked numbers. ``down`` makes every call raise :class:`Unavailable`, as the port says."""

    def __init__(self) -> None:
        self.ready: dict[UUID, bool] = {}
        self.enabled: dict[UUID, bool] = {}
        self.numbers: dict[UUID, set[str]] = {}
        self.down = False

    def _up(self) -> None:
        if self.down:
            raise Unavailable("the fake Redis is down")

    def load(self, organization_id: UUID, numbers: set[str], enabled: bool = True) -> None:
        """What a rebuild leaves: ready, with exactly these numbers."""
        self.ready[organization_id] = True
        self.enabled[organization_id] = enabled
        self.numbers[organization_id] = set(numbers)

    async def check(self, organization_id: UUID, numbers: Sequence[str]) -> MirrorAnswer:
        self._up()
        if not self.ready.get(organization_id):
            return MirrorAnswer(ready=False, enabled=False)
        enabled = self.enabled[organization_id]
        listed = self.numbers[organization_id]
        return MirrorAnswer(True, enabled, tuple(n in listed for n in numbers) if enabled else ())

    async def apply(
        self,
        organization_id: UUID,
        add: Sequence[str] = (),
        remove: Sequence[str] = (),
        enabled: bool | None = None,
    ) -> bool:
        self._up()
        if not self.ready.get(organization_id):
            return False
        self.numbers[organization_id] = (self.numbers[organization_id] | set(add)) - set(remove)
        if enabled is not None:
            self.enabled[organization_id] = enabled
        return True

    async def state(self, organization_id: UUID) -> MirrorState:
        self._up()
        ready = self.ready.get(organization_id, False)
        return MirrorState(ready, self.enabled.get(organization_id), None, None, False, None, None)

    async def count(self, organization_id: UUID) -> int | None:
        self._up()
        return len(self.numbers[organization_id]) if self.ready.get(organization_id) else None

    def __getattr__(self, name: str) -> Any:  # rebuilds, probes and reconciliation
        raise NotImplementedError(f"mirror.{name} is not faked: {REAL_SUITES}")


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

    async def stage(
        self, organization_id: UUID, user_id: UUID | None, body: AsyncIterator[bytes]
    ) -> StagedImport:
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

    def export(self, organization_id: UUID) -> AsyncIterator[bytes]:
        raise NotImplementedError(f"exports are not faked: {REAL_SUITES}")
