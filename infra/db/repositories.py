"""Repositories: every tenant query takes the organization explicitly; none commits."""

from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from typing import Any, cast
from uuid import UUID

from sqlalchemy import (
    ARRAY,
    BigInteger,
    BindParameter,
    Text,
    any_,
    bindparam,
    func,
    literal_column,
    or_,
    select,
    text,
    tuple_,
    update,
)
from sqlalchemy import (
    cast as cast_,
)
from sqlalchemy.dialects.postgresql import JSONB, insert
from sqlalchemy.dialects.postgresql import UUID as PG_UUID
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from domain.checksum import P1, P2, P3, Checksum
from domain.errors import AlreadyListed, Conflict, NotFound
from domain.model import (
    ApiToken,
    AuditEvent,
    AuditQuery,
    AuditRecord,
    Batch,
    CallRecord,
    DncEntry,
    MirrorTruth,
    Organization,
    OutboxMessage,
    Principal,
    Role,
    Scope,
    User,
)
from infra.db.models import (
    ApiTokenRow,
    AuditRow,
    BatchRow,
    CallRecordRow,
    DncEntryRow,
    OrganizationRow,
    OutboxRow,
    UserRow,
)


class _Repository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session


def _organization(row: OrganizationRow) -> Organization:
    return Organization(row.id, row.name, row.dnc_enabled, row.settings_version)


class SqlOrganizationRepository(_Repository):
    async def get(self, organization_id: UUID) -> Organization | None:
        row = await self.session.get(OrganizationRow, organization_id)
        return _organization(row) if row else None

    async def add(self, organization: Organization) -> None:
        self.session.add(
            OrganizationRow(
                id=organization.id, name=organization.name, dnc_enabled=organization.dnc_enabled
            )
        )
        await self.session.flush()

    async def get_for_update(self, organization_id: UUID) -> Organization | None:
        row = await self.session.scalar(
            select(OrganizationRow).where(OrganizationRow.id == organization_id).with_for_update()
        )
        return _organization(row) if row else None

    async def ids(self) -> list[UUID]:
        return list(
            await self.session.scalars(select(OrganizationRow.id).order_by(OrganizationRow.id))
        )

    async def lock_mirror(self, organization_id: UUID) -> None:
        await self.session.execute(
            text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"),
            {"key": f"dnc-mirror:{organization_id}"},
        )

    async def set_dnc_enabled(self, organization_id: UUID, enabled: bool) -> Organization:
        row = (
            await self.session.execute(
                update(OrganizationRow)
                .where(OrganizationRow.id == organization_id)
                .values(dnc_enabled=enabled, settings_version=OrganizationRow.settings_version + 1)
                .returning(OrganizationRow)
            )
        ).scalar_one_or_none()
        if row is None:
            raise NotFound(f"Organization {organization_id} not found")
        return _organization(row)


def _user(row: UserRow) -> User:
    return User(row.id, row.organization_id, row.email, cast(Role, row.role))


class SqlUserRepository(_Repository):
    async def get(self, organization_id: UUID, user_id: UUID) -> User | None:
        row = await self.session.scalar(
            select(UserRow).where(UserRow.id == user_id, UserRow.organization_id == organization_id)
        )
        return _user(row) if row else None

    async def get_by_email(self, email: str) -> User | None:
        row = await self.session.scalar(select(UserRow).where(UserRow.email == email))
        return _user(row) if row else None

    async def admins(self, organization_id: UUID) -> list[User]:
        rows = await self.session.scalars(
            select(UserRow)
            .where(UserRow.organization_id == organization_id, UserRow.role == "admin")
            .order_by(UserRow.created_at, UserRow.email)
        )
        return [_user(row) for row in rows]

    async def count(self, organization_id: UUID) -> int:
        return (
            await self.session.scalar(
                select(func.count()).where(UserRow.organization_id == organization_id)
            )
            or 0
        )

    async def add(self, user: User) -> None:
        inserted = await self.session.scalar(
            insert(UserRow)
            .values(
                id=user.id, organization_id=user.organization_id, email=user.email, role=user.role
            )
            .on_conflict_do_nothing(index_elements=[UserRow.email])
            .returning(UserRow.id)
        )
        if inserted is None:
            raise Conflict(f"A user with email {user.email!r} already exists")


class SqlTokenRepository(_Repository):
    async def add(self, token: ApiToken) -> None:
        self.session.add(
            ApiTokenRow(
                id=token.id, user_id=token.user_id, token_hash=token.token_hash, scope=token.scope
            )
        )
        await self.session.flush()

    async def revoke(self, token_hash: str) -> bool:
        revoked = await self.session.scalar(
            update(ApiTokenRow)
            .where(ApiTokenRow.token_hash == token_hash, ApiTokenRow.revoked_at.is_(None))
            .values(revoked_at=func.now())
            .returning(ApiTokenRow.id)
        )
        return revoked is not None

    async def principal_for(self, token_hash: str) -> Principal | None:
        row = (
            await self.session.execute(
                select(
                    ApiTokenRow.id,
                    ApiTokenRow.scope,
                    UserRow.id,
                    UserRow.organization_id,
                    UserRow.role,
                )
                .join(UserRow, UserRow.id == ApiTokenRow.user_id)
                .where(ApiTokenRow.token_hash == token_hash, ApiTokenRow.revoked_at.is_(None))
            )
        ).one_or_none()
        if row is None:
            return None
        token_id, scope, user_id, organization_id, role = row
        return Principal(user_id, organization_id, cast(Role, role), cast(Scope, scope), token_id)


def _batch(row: BatchRow) -> Batch:
    return Batch(row.id, row.organization_id, row.batch_id, row.user_id, row.name, row.created_at)


class SqlBatchRepository(_Repository):
    async def get(self, organization_id: UUID, batch_id: str) -> Batch | None:
        row = await self.session.scalar(
            select(BatchRow).where(
                BatchRow.organization_id == organization_id, BatchRow.batch_id == batch_id
            )
        )
        return _batch(row) if row else None

    async def add(self, batch: Batch) -> None:
        inserted = await self.session.scalar(
            insert(BatchRow)
            .values(
                id=batch.id,
                organization_id=batch.organization_id,
                batch_id=batch.batch_id,
                user_id=batch.user_id,
                name=batch.name,
                created_at=batch.created_at,
            )
            .on_conflict_do_nothing(index_elements=[BatchRow.organization_id, BatchRow.batch_id])
            .returning(BatchRow.id)
        )
        if inserted is None:
            raise Conflict(f"Batch {batch.batch_id!r} already exists")


class SqlCallRepository(_Repository):
    async def get(
        self, organization_id: UUID, batch_pk: UUID, request_uuid: str
    ) -> CallRecord | None:
        found = (
            await self.session.execute(
                select(CallRecordRow, BatchRow.batch_id)
                .join(BatchRow, BatchRow.id == CallRecordRow.batch_pk)
                .where(
                    CallRecordRow.organization_id == organization_id,
                    CallRecordRow.request_uuid == request_uuid,
                    CallRecordRow.batch_pk == batch_pk,
                )
            )
        ).one_or_none()
        if found is None:
            return None
        row, batch_id = found
        return CallRecord(
            id=row.id,
            organization_id=row.organization_id,
            batch_pk=row.batch_pk,
            batch_id=batch_id,
            request_uuid=row.request_uuid,
            phone_number=row.phone_number,
            recording_url=row.recording_url,
            transcription=row.transcription,
            status=row.status,
            started_at=row.started_at,
            duration_seconds=row.duration_seconds,
            created_at=row.created_at,
        )

    async def add_many(self, calls: Sequence[CallRecord]) -> None:
        values = [
            {
                "id": c.id,
                "organization_id": c.organization_id,
                "batch_pk": c.batch_pk,
                "request_uuid": c.request_uuid,
                "phone_number": c.phone_number,
                "recording_url": c.recording_url,
                "transcription": c.transcription,
                "status": c.status,
                "started_at": c.started_at,
                "duration_seconds": c.duration_seconds,
                "created_at": c.created_at,
            }
            for c in calls
        ]
        inserted = (
            await self.session.scalars(
                insert(CallRecordRow)
                .values(values)
                .on_conflict_do_nothing(
                    index_elements=[CallRecordRow.organization_id, CallRecordRow.request_uuid]
                )
                .returning(CallRecordRow.request_uuid)
            )
        ).all()
        if len(inserted) != len(calls):
            taken = sorted({c.request_uuid for c in calls} - set(inserted))
            raise Conflict(f"A call with requestUUID {taken[0]!r} already exists")


def _entry(row: DncEntryRow) -> DncEntry:
    return DncEntry(
        id=row.id,
        organization_id=row.organization_id,
        phone_number=row.phone_number,
        type=row.type,
        source=row.source,
        batch_id=row.batch_id,
        batch_pk=row.batch_pk,
        call_record_id=row.call_record_id,
        request_uuid=row.request_uuid,
        call_recording=row.call_recording,
        transcription=row.transcription,
        added_by=row.added_by_user_id,
        created_at=row.created_at,
        expires_at=row.expires_at,
    )


class SqlDncEntryRepository(_Repository):
    async def get(self, organization_id: UUID, entry_id: UUID) -> DncEntry | None:
        row = await self.session.scalar(
            select(DncEntryRow).where(
                DncEntryRow.organization_id == organization_id, DncEntryRow.id == entry_id
            )
        )
        return _entry(row) if row else None

    async def get_active(self, organization_id: UUID, phone_number: str) -> DncEntry | None:
        row = await self.session.scalar(
            select(DncEntryRow).where(
                DncEntryRow.organization_id == organization_id,
                DncEntryRow.phone_number == phone_number,
                DncEntryRow.removed_at.is_(None),
            )
        )
        return _entry(row) if row else None

    async def add(self, entry: DncEntry) -> None:
        inserted = await self.session.scalar(
            insert(DncEntryRow)
            .values(**_entry_values(entry))
            .on_conflict_do_nothing(
                index_elements=[DncEntryRow.organization_id, DncEntryRow.phone_number],
                index_where=DncEntryRow.removed_at.is_(None),
            )
            .returning(DncEntryRow.id)
        )
        if inserted is None:
            raise AlreadyListed(f"Phone number {entry.phone_number} is already on the DNC list")

    async def remove(
        self, organization_id: UUID, entry_id: UUID, user_id: UUID | None, reason: str | None
    ) -> DncEntry | None:
        row = await self.session.scalar(
            update(DncEntryRow)
            .where(
                DncEntryRow.organization_id == organization_id,
                DncEntryRow.id == entry_id,
                DncEntryRow.removed_at.is_(None),
            )
            .values(removed_at=func.now(), removed_by_user_id=user_id, removal_reason=reason)
            .returning(DncEntryRow)
        )
        return _entry(row) if row else None

    async def count_blocked(self, organization_id: UUID, now: datetime) -> int:
        return (
            await self.session.scalar(select(func.count()).where(*_blocking(organization_id, now)))
            or 0
        )

    async def blocked_among(
        self, organization_id: UUID, numbers: Sequence[str], now: datetime
    ) -> set[str]:
        if not numbers:
            return set()
        rows = await self.session.scalars(
            select(DncEntryRow.phone_number).where(
                *_blocking(organization_id, now), DncEntryRow.phone_number == any_(_texts(numbers))
            )
        )
        return set(rows)

    async def stream_blocked(
        self, organization_id: UUID, now: datetime, chunk: int
    ) -> AsyncIterator[list[str]]:
        result = await self.session.stream_scalars(
            select(DncEntryRow.phone_number)
            .where(*_blocking(organization_id, now))
            .execution_options(yield_per=chunk)
        )
        async for partition in result.partitions(chunk):
            yield list(partition)

    async def stream_blocked_buckets(
        self, organization_id: UUID, now: datetime, buckets: int
    ) -> AsyncIterator[list[tuple[int, list[int]]]]:
        number = cast_(DncEntryRow.phone_number, BigInteger)
        bucket = (number % buckets).label("bucket")
        result = await self.session.stream(
            select(bucket, func.array_agg((number - number % buckets) // buckets))
            .where(*_blocking(organization_id, now))
            .group_by(bucket)
            .execution_options(yield_per=500)
        )
        async for partition in result.partitions(500):
            yield [(int(b), list(members)) for b, members in partition]

    async def page(
        self,
        organization_id: UUID,
        search: str | None,
        after: tuple[datetime, UUID] | None,
        offset: int,
        limit: int,
    ) -> list[DncEntry]:
        query = (
            select(DncEntryRow)
            .where(*_listed(organization_id, search))
            .order_by(DncEntryRow.created_at.desc(), DncEntryRow.id.desc())
            .limit(limit)
        )
        if after is not None:
            query = query.where(tuple_(DncEntryRow.created_at, DncEntryRow.id) < tuple_(*after))
        elif offset:
            query = query.offset(offset)
        return [_entry(row) for row in await self.session.scalars(query)]

    async def count_listed(self, organization_id: UUID, search: str | None) -> int:
        return (
            await self.session.scalar(select(func.count()).where(*_listed(organization_id, search)))
            or 0
        )

    async def add_many(self, entries: Sequence[DncEntry]) -> set[str]:
        added: set[str] = set()
        for start in range(0, len(entries), 2000):
            chunk = entries[start : start + 2000]
            rows = await self.session.scalars(
                insert(DncEntryRow)
                .values([_entry_values(e) for e in chunk])
                .on_conflict_do_nothing(
                    index_elements=[DncEntryRow.organization_id, DncEntryRow.phone_number],
                    index_where=DncEntryRow.removed_at.is_(None),
                )
                .returning(DncEntryRow.phone_number)
            )
            added.update(rows)
        return added

    async def retire_expired(
        self, organization_id: UUID, numbers: Sequence[str], now: datetime
    ) -> None:
        if numbers:
            await self.session.execute(
                update(DncEntryRow)
                .where(
                    DncEntryRow.organization_id == organization_id,
                    DncEntryRow.phone_number == any_(_texts(numbers)),
                    DncEntryRow.removed_at.is_(None),
                    DncEntryRow.expires_at <= now,
                )
                .values(removed_at=func.now(), removal_reason="expired")
            )

    async def expire_due(self, now: datetime, limit: int) -> list[DncEntry]:
        due = (
            select(DncEntryRow.id)
            .where(DncEntryRow.removed_at.is_(None), DncEntryRow.expires_at <= now)
            .limit(limit)
            .with_for_update(skip_locked=True)
            .scalar_subquery()
        )
        rows = await self.session.scalars(
            update(DncEntryRow)
            .where(DncEntryRow.id.in_(due))
            .values(removed_at=func.now(), removal_reason="expired")
            .returning(DncEntryRow)
        )
        return [_entry(row) for row in rows]

    async def mirror_truth(
        self, organization_id: UUID, expired_by: datetime, limit: int
    ) -> MirrorTruth:
        row = (
            await self.session.execute(
                text(MIRROR_TRUTH),
                {
                    "org": organization_id,
                    "kind": "mirror.sync",
                    "by": expired_by,
                    "limit": limit + 1,
                },
            )
        ).one()
        pending, enabled, count, sum1, sum2, sum3, expired = row
        return MirrorTruth(
            pending=bool(pending),
            enabled=bool(enabled),
            listed=Checksum(int(count), int(sum1), int(sum2), int(sum3)),
            expired=list(expired) if len(expired) <= limit else None,
        )

    async def fold_checksums(self, organization_id: UUID) -> None:
        await self.session.execute(text(FOLD_CHECKSUMS), {"org": organization_id})

    async def listed_page(
        self, organization_id: UUID, after: str, now: datetime, limit: int
    ) -> list[tuple[str, bool]]:
        blocks = DncEntryRow.expires_at.is_(None) | (DncEntryRow.expires_at > now)
        rows = await self.session.execute(
            select(DncEntryRow.phone_number, blocks)
            .where(*_listed(organization_id, None), DncEntryRow.phone_number > after)
            .order_by(DncEntryRow.phone_number)
            .limit(limit)
        )
        return [(number, bool(blocking)) for number, blocking in rows]

    async def listed_among(self, organization_id: UUID, numbers: Sequence[str]) -> set[str]:
        if not numbers:
            return set()
        rows = await self.session.scalars(
            select(DncEntryRow.phone_number).where(
                *_listed(organization_id, None), DncEntryRow.phone_number == any_(_texts(numbers))
            )
        )
        return set(rows)


# One snapshot (one statement): mirror syncs pending, the flag, the checksum of the listed
# entries (the sum of the trigger-written rows, see migration 0004), and the listed entries
# that expire by :by (from the expiry index; the expiry job keeps that list short).
MIRROR_TRUTH = f"""
SELECT EXISTS (SELECT 1 FROM outbox WHERE organization_id = :org AND kind = :kind
               AND processed_at IS NULL) AS pending,
       coalesce((SELECT dnc_enabled FROM organizations WHERE id = :org), true) AS enabled,
       c.count, c.sum1, c.sum2, c.sum3,
       ARRAY(SELECT phone_number FROM dnc_entries WHERE organization_id = :org
             AND removed_at IS NULL AND expires_at <= :by ORDER BY expires_at
             LIMIT :limit) AS expired
FROM (SELECT coalesce(sum(count), 0) AS count, coalesce(sum(sum1), 0) % {P1} AS sum1,
             coalesce(sum(sum2), 0) % {P2} AS sum2, coalesce(sum(sum3), 0) % {P3} AS sum3
      FROM mirror_checksums WHERE organization_id = :org) AS c
"""  # noqa: S608 (constants, no input)

# Fold an organization's checksum rows into one (when there are several). Rows committed
# meanwhile are not in this statement's snapshot, so they are neither deleted nor counted.
FOLD_CHECKSUMS = f"""
WITH gone AS (
  DELETE FROM mirror_checksums WHERE organization_id = :org
  AND (SELECT count(*) FROM mirror_checksums WHERE organization_id = :org) > 1
  RETURNING count, sum1, sum2, sum3
)
INSERT INTO mirror_checksums (organization_id, count, sum1, sum2, sum3)
SELECT :org, sum(count), sum(sum1) % {P1}, sum(sum2) % {P2}, sum(sum3) % {P3} FROM gone
HAVING count(*) > 0
"""  # noqa: S608 (constants, no input)


def _listed(organization_id: UUID, search: str | None) -> list[ColumnElement[bool]]:
    """Entries on the list (not removed), optionally matching a search text."""
    conditions: list[ColumnElement[bool]] = [
        DncEntryRow.organization_id == organization_id,
        DncEntryRow.removed_at.is_(None),
    ]
    if search:
        pattern = "%" + search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        digits = "".join(ch for ch in search if ch.isdigit())
        matches: list[ColumnElement[bool]] = [
            DncEntryRow.type.ilike(pattern),
            DncEntryRow.request_uuid.ilike(pattern),
        ]
        if digits:
            matches.append(DncEntryRow.phone_number.contains(digits, autoescape=True))
        conditions.append(or_(*matches))
    return conditions


def _entry_values(entry: DncEntry) -> dict[str, object]:
    return {
        "id": entry.id,
        "organization_id": entry.organization_id,
        "phone_number": entry.phone_number,
        "type": entry.type,
        "source": entry.source,
        "batch_pk": entry.batch_pk,
        "batch_id": entry.batch_id,
        "call_record_id": entry.call_record_id,
        "request_uuid": entry.request_uuid,
        "call_recording": entry.call_recording,
        "transcription": entry.transcription,
        "added_by_user_id": entry.added_by,
        "created_at": entry.created_at,
        "expires_at": entry.expires_at,
    }


def _texts(values: Sequence[str]) -> BindParameter[list[str]]:
    """One array parameter, however many values (Postgres takes at most 32,767 parameters)."""
    return bindparam(None, list(values), type_=ARRAY(Text()))  # type: ignore[arg-type]


def _blocking(organization_id: UUID, now: datetime) -> tuple[ColumnElement[bool], ...]:
    """Listed (not removed) and not expired: what a check blocks."""
    return (
        DncEntryRow.organization_id == organization_id,
        DncEntryRow.removed_at.is_(None),
        DncEntryRow.expires_at.is_(None) | (DncEntryRow.expires_at > now),
    )


class SqlAuditLog(_Repository):
    async def page(
        self,
        organization_id: UUID,
        query: AuditQuery,
        after_id: int | None,
        offset: int,
        limit: int,
    ) -> list[AuditRecord]:
        statement = (
            select(AuditRow)
            .where(*_audit_filters(organization_id, query))
            .order_by(AuditRow.id.desc())
            .limit(limit)
        )
        if after_id is not None:
            statement = statement.where(AuditRow.id < after_id)
        elif offset:
            statement = statement.offset(offset)
        return [
            AuditRecord(
                r.id,
                r.action,
                r.actor_user_id,
                r.phone_number,
                r.entity_id,
                r.before,
                r.after,
                r.created_at,
            )
            for r in await self.session.scalars(statement)
        ]

    async def count(self, organization_id: UUID, query: AuditQuery) -> int:
        return (
            await self.session.scalar(
                select(func.count()).where(*_audit_filters(organization_id, query))
            )
            or 0
        )

    async def record(self, event: AuditEvent) -> None:
        self.session.add(
            AuditRow(
                organization_id=event.organization_id,
                actor_user_id=event.actor_user_id,
                action=event.action,
                phone_number=event.phone_number,
                entity_id=event.entity_id,
                before=event.before,
                after=event.after,
            )
        )
        await self.session.flush()

    async def record_added(
        self,
        organization_id: UUID,
        actor_user_id: UUID | None,
        entry_ids: Sequence[UUID],
        details: dict[str, Any],
    ) -> None:
        if entry_ids:
            await self.session.execute(
                _AUDIT_ADDED,
                {
                    "org": organization_id,
                    "actor": actor_user_id,
                    "ids": list(entry_ids),
                    "details": details,
                },
            )


# One ``dnc.add`` row per listed entry, built from the entries themselves in one statement.
_AUDIT_ADDED = text(
    "INSERT INTO audit_log (organization_id, actor_user_id, action, phone_number, entity_id, "
    "after) "
    "SELECT e.organization_id, :actor, 'dnc.add', e.phone_number, e.id::text, "
    "jsonb_build_object('type', e.type, 'source', e.source, 'expiresAt', "
    """to_char(e.expires_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')) || :details """
    "FROM dnc_entries e WHERE e.organization_id = :org AND e.id = ANY(:ids) "
    "ORDER BY e.phone_number"
).bindparams(
    bindparam("actor", type_=PG_UUID(as_uuid=True)),
    bindparam("ids", type_=ARRAY(PG_UUID(as_uuid=True))),
    bindparam("details", type_=JSONB()),
)


def _audit_filters(organization_id: UUID, query: AuditQuery) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = [AuditRow.organization_id == organization_id]
    if query.phone_number:
        conditions.append(AuditRow.phone_number == query.phone_number)
    if query.action:
        conditions.append(AuditRow.action == query.action)
    if query.actor:
        conditions.append(AuditRow.actor_user_id == query.actor)
    if query.since:
        conditions.append(AuditRow.created_at >= query.since)
    if query.until:
        conditions.append(AuditRow.created_at < query.until)
    return conditions


class SqlOutbox(_Repository):
    async def add(self, organization_id: UUID, kind: str, payload: dict[str, object]) -> int:
        return (
            await self.session.scalar(
                insert(OutboxRow)
                .values(organization_id=organization_id, kind=kind, payload=payload)
                .returning(OutboxRow.id)
            )
        ) or 0

    async def claim(self, message_id: int) -> OutboxMessage | None:
        row = await self.session.scalar(
            select(OutboxRow)
            .where(OutboxRow.id == message_id, OutboxRow.processed_at.is_(None))
            .with_for_update(skip_locked=True)
        )
        if row is None:
            return None
        return OutboxMessage(row.id, row.organization_id, row.kind, dict(row.payload), row.attempts)

    async def mark_processed(self, message_id: int) -> None:
        await self.session.execute(
            update(OutboxRow).where(OutboxRow.id == message_id).values(processed_at=func.now())
        )

    async def record_failure(self, message_id: int, error: str) -> None:
        await self.session.execute(
            update(OutboxRow)
            .where(OutboxRow.id == message_id)
            .values(attempts=OutboxRow.attempts + 1, last_error=error[:2000])
        )

    async def pending_ids(self, kind: str, older_than: datetime, limit: int) -> list[int]:
        rows = await self.session.scalars(
            select(OutboxRow.id)
            .where(
                OutboxRow.processed_at.is_(None),
                OutboxRow.kind == kind,
                OutboxRow.created_at < older_than,
            )
            .order_by(OutboxRow.id)
            .limit(limit)
        )
        return list(rows)

    async def pending_for(
        self, organization_id: UUID, kind: str, limit: int = 1000
    ) -> list[OutboxMessage]:
        rows = await self.session.scalars(
            select(OutboxRow)
            .where(
                OutboxRow.organization_id == organization_id,
                OutboxRow.kind == kind,
                OutboxRow.processed_at.is_(None),
            )
            .order_by(OutboxRow.id)
            .limit(limit)
        )
        return [
            OutboxMessage(r.id, r.organization_id, r.kind, dict(r.payload), r.attempts)
            for r in rows
        ]

    async def mark_processed_many(self, message_ids: Sequence[int]) -> None:
        if message_ids:
            await self.session.execute(
                update(OutboxRow)
                .where(
                    OutboxRow.id
                    == any_(bindparam(None, list(message_ids), type_=ARRAY(BigInteger())))
                )
                .values(processed_at=func.now())
            )

    async def has_pending(self, organization_id: UUID, kind: str) -> bool:
        return bool(await self.pending_for(organization_id, kind, 1))

    async def organizations_pending(self, kind: str) -> list[UUID]:
        rows = await self.session.scalars(
            select(OutboxRow.organization_id)
            .where(OutboxRow.kind == kind, OutboxRow.processed_at.is_(None))
            .distinct()
        )
        return list(rows)

    async def last_id(self) -> int:
        return await self.session.scalar(select(func.coalesce(func.max(OutboxRow.id), 0))) or 0

    async def numbers_since(self, organization_id: UUID, kind: str, after_id: int) -> set[str]:
        numbers: ColumnElement[str] = literal_column(
            "jsonb_array_elements_text(outbox.payload -> 'numbers')"
        )
        rows = await self.session.scalars(
            select(numbers).where(
                OutboxRow.organization_id == organization_id,
                OutboxRow.kind == kind,
                OutboxRow.id > after_id,
            )
        )
        return {str(n) for n in rows}
