"""A staged CSV import, processed in one transaction: rows are read back in chunks, checked
by the domain's row rules and listed chunk by chunk (the database inserts one chunk while
the next is read and checked; first occurrence of each number wins, numbers already listed
are duplicates), each added entry's audit row written in one statement from the new entries
while their numbers go to Redis. The mirror is kept as every other write keeps it
(``domain.usecases.entries.list_many``: a ``mirror.sync`` change, the organization's mirror
lock, Redis before the commit, the sync after it, which need not write the numbers again when
the mirror is the one they were written to). Lost imports are picked up again or marked failed.

:class:`SqlListTransfers` is the port (``domain.ports.ListTransfers``) over this module and
:mod:`infra.db.copy`; when to process an import, and what a failure means, is decided in
``domain.usecases.transfer``.
"""

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime
from uuid import UUID

import asyncpg
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from domain.errors import InvalidInput, NotFound
from domain.imports import Checked, RowReader
from domain.model import DEFAULT_LIST, AuditEvent, ImportReport, LostImports, StagedImport
from domain.ports import DncMirror, JobQueue, Progress
from domain.rules import EXPIRED, SOURCE_IMPORT
from domain.time import utcnow
from domain.usecases.entries import audit_expired, list_many
from domain.usecases.mirror_sync import settle_written
from infra.db.copy import driver, export_csv, stage_import, staging_table, transaction
from infra.db.repositories.audit import audit_added_sql
from infra.db.uow import SqlUnitOfWork, create_sessionmaker

log = logging.getLogger(__name__)
CHUNK = 50_000
MAX_ERRORS = 100
DEADLOCK_ATTEMPTS = 3


class SqlListTransfers:
    """Imports and exports on ``engine`` (an import's own, or the main one)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def stage(
        self,
        organization_id: UUID,
        user_id: UUID | None,
        body: AsyncIterator[bytes],
        list_id: str = DEFAULT_LIST,
    ) -> StagedImport:
        staged = await stage_import(self.engine, organization_id, user_id, body, list_id)
        return StagedImport(*staged)

    async def process(
        self, import_id: UUID, mirror: DncMirror, progress: Progress | None = None
    ) -> ImportReport:
        """:func:`process_import`, run again when the database broke a deadlock by rolling it
        back whole (its chunks take numbers in the file's order, so two imports naming the
        same numbers in other orders can wait on each other); the staged rows are intact."""
        attempt = 1
        while True:
            try:
                return await process_import(self.engine, mirror, import_id, progress)
            except asyncpg.DeadlockDetectedError:
                if attempt == DEADLOCK_ATTEMPTS:
                    raise
                log.warning("import %s: deadlock, run again (attempt %d)", import_id, attempt)
                attempt += 1

    async def abandon(self, import_id: UUID, failure: str) -> None:
        await abandon_import(self.engine, import_id, failure)

    async def report(self, organization_id: UUID, import_id: UUID) -> ImportReport:
        return await import_report(self.engine, organization_id, import_id)

    async def lost(self, older_than: datetime, max_attempts: int, queue: JobQueue) -> LostImports:
        return await lost_imports(self.engine, older_than, max_attempts, queue.import_pending)

    def export(self, organization_id: UUID, list_id: str = DEFAULT_LIST) -> AsyncIterator[bytes]:
        return export_csv(self.engine, organization_id, list_id)


async def import_report(
    engine: AsyncEngine, organization_id: UUID, import_id: UUID
) -> ImportReport:
    async with transaction(engine) as db:
        row = await db.fetchrow(
            "SELECT * FROM imports WHERE id = $1 AND organization_id = $2",
            import_id,
            organization_id,
        )
    if row is None:
        raise NotFound(f"No import {import_id}")
    errors = row["errors"]
    return ImportReport(
        id=row["id"],
        status=row["status"],
        rows=row["rows"],
        processed=row["processed"],
        added=row["added"],
        duplicate=row["duplicate"],
        invalid=row["invalid"],
        errors=json.loads(errors) if isinstance(errors, str) else list(errors),
        failure=row["failure"],
    )


async def process_import(
    engine: AsyncEngine, mirror: DncMirror, import_id: UUID, progress: Progress | None = None
) -> ImportReport:
    """``ListTransfers.process``: one run at a time (an advisory lock on the import), the
    staged rows checked and listed in chunks (see the module's doc); progress is written on
    connections of its own, so status readers see it at once. Up to three connections: the
    transaction's, the staged rows' reader and the progress writer's."""
    uow = SqlUnitOfWork(create_sessionmaker(engine))
    async with uow:
        # One run at a time; the row itself stays unlocked so progress can be written to it.
        db = await _locked_driver(uow, f"import:{import_id}")
        job = await db.fetchrow("SELECT * FROM imports WHERE id = $1", import_id)
        if job is None:
            raise NotFound(f"No import {import_id}")
        if job["status"] in ("done", "failed"):
            return await import_report(engine, job["organization_id"], import_id)
        await _mark_running(engine, import_id)
        org_id, user_id, total = job["organization_id"], job["user_id"], job["rows"]
        list_id = job["list_id"]
        if list_id != DEFAULT_LIST and not await db.fetchval(
            "SELECT 1 FROM dnc_lists WHERE organization_id = $1 AND id = $2 "
            "AND deleted_at IS NULL FOR SHARE",
            org_id, list_id,
        ):  # fmt: skip  # held until the commit: the list cannot be deleted meanwhile
            raise InvalidInput(f"Unknown list id {list_id!r}: it was deleted before the import ran")
        listing = _Listing(db, import_id, org_id, list_id, user_id)
        await listing.prepare()
        await _list_rows(listing, engine, total, progress)
        added = sorted(listing.added)
        await audit_expired(uow, org_id, listing.retired_ids)  # before the audit alongside
        audit = _audit(db, listing.inserted, user_id, import_id)
        written = await list_many(uow, mirror, org_id, added, listing.retired, list_id, audit)
        report = await _finish(db, import_id, listing.invalid, total, len(added))
        await uow.audit.record(
            AuditEvent(
                organization_id=org_id,
                actor_user_id=user_id,
                action="dnc.import",
                list_id=list_id,
                after={
                    "importId": str(import_id),
                    "added": report.added,
                    "duplicate": report.duplicate,
                    "invalid": report.invalid,
                },
            )
        )
        await db.execute(f"DROP TABLE {staging_table(import_id)}")
        await uow.commit()
    await settle_written(uow, mirror, org_id, written)
    log.info("import %s: %d rows, %d added", import_id, total, report.added)
    return report


async def _locked_driver(uow: SqlUnitOfWork, key: str) -> asyncpg.Connection:
    """The unit of work's own asyncpg connection, inside its transaction (which the advisory
    lock on ``key``, run through the session, begins), for COPY and cursors."""
    await uow.session.execute(
        text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"), {"key": key}
    )
    db = await driver(await uow.session.connection())
    if not db.is_in_transaction():  # the raw statements must belong to the unit's transaction
        raise RuntimeError("the import's connection is not in its transaction")
    return db


async def abandon_import(engine: AsyncEngine, import_id: UUID, failure: str) -> None:
    """Mark an import failed for good, with its reason, and drop its staging table."""
    async with transaction(engine) as db:
        await db.execute(
            "UPDATE imports SET status = 'failed', failure = $2, finished_at = now() "
            "WHERE id = $1 AND status <> 'done'",
            import_id, failure[:2000],
        )  # fmt: skip
        await db.execute(f"DROP TABLE IF EXISTS {staging_table(import_id)}")


async def _mark_running(engine: AsyncEngine, import_id: UUID) -> None:
    async with engine.begin() as connection:  # seen by status readers at once
        db = await driver(connection)
        await db.execute("UPDATE imports SET status = 'running' WHERE id = $1", import_id)


class _Listing:
    """An import's rows listed a chunk at a time in its transaction. Each chunk's valid rows
    go to a small table and are inserted from it: each number's first row (by line), unless
    the number is listed. The list's unique index is what tells: the insert runs without ON
    CONFLICT (a fifth faster) until it meets a listed number (one listed before the import,
    by another writer meanwhile, or by an earlier chunk: the first occurrence in the file wins
    as if the file were one chunk), then that chunk and the rest with it. An expired entry of
    a number is retired first, when the list held any at the start (the expiry job retires
    them). Refused rows go to ``invalid`` for the report, the added entries to ``inserted``
    for their audit rows."""

    def __init__(
        self,
        db: asyncpg.Connection,
        import_id: UUID,
        organization_id: UUID,
        list_id: str,
        user_id: UUID | None,
    ) -> None:
        self.db, self.import_id = db, import_id
        self.arguments = (organization_id, SOURCE_IMPORT, list_id, user_id)
        self.staged = staging_table(import_id)
        self.chunk = f"dnc_chunk_{import_id.hex}"
        self.invalid = f"dnc_invalid_{import_id.hex}"
        self.inserted = f"dnc_inserted_{import_id.hex}"
        self.conflicts = False
        self.expired = False
        self.added: list[str] = []
        self.retired: list[str] = []
        self.retired_ids: list[UUID] = []

    async def prepare(self) -> None:
        await self.db.execute(
            f"CREATE TEMP TABLE {self.chunk} (line bigint, number text, type text, "
            f"expires_at timestamptz) ON COMMIT DROP; "
            f"CREATE TEMP TABLE {self.invalid} (line bigint, error text) ON COMMIT DROP; "
            f"CREATE TEMP TABLE {self.inserted} (id uuid, organization_id uuid, list_id text, "
            "phone_number text, type text, source text, expires_at timestamptz) ON COMMIT DROP"
        )  # ``inserted``: what the audit rows need of the added entries (``audit_added_sql``)
        self.expired = await self.db.fetchval(
            "SELECT EXISTS (SELECT FROM dnc_entries WHERE organization_id = $1 "
            "AND list_id = $2 AND removed_at IS NULL AND expires_at <= now())",
            *self.arguments[::2],
        )

    async def copy(self, rows: list[Checked]) -> None:
        """The chunk's rows into ``chunk`` (the valid ones) and ``invalid``, and the expired
        entries of its numbers retired."""
        db = self.db
        await db.execute(f"TRUNCATE {self.chunk}")
        await db.copy_records_to_table(
            self.chunk,
            records=[row[:4] for row in rows if row[4] is None],
            columns=["line", "number", "type", "expires_at"],
        )
        refused = [(row[0], row[4]) for row in rows if row[4] is not None]
        if refused:
            await db.copy_records_to_table(self.invalid, records=refused)
        if self.expired:
            retired = await db.fetch(
                "UPDATE dnc_entries e SET removed_at = now(), removal_reason = $3::text "
                "WHERE e.id IN (SELECT (SELECT x.id FROM dnc_entries x "
                "WHERE x.organization_id = $1 AND x.list_id = $2 AND x.phone_number = c.number "
                "AND x.removed_at IS NULL AND x.expires_at <= now() OFFSET 0) "
                f"FROM {self.chunk} c) AND e.removed_at IS NULL AND e.expires_at <= now() "
                "RETURNING e.id, e.phone_number",
                *self.arguments[::2], EXPIRED,
            )  # fmt: skip  # the rules of domain.rules; one index probe a number; the outer
            # conditions again: an entry another writer removed or renewed meanwhile is left be
            self.retired += [r[1] for r in retired]
            self.retired_ids += [r[0] for r in retired]

    async def insert(self) -> None:
        """The chunk copied last inserted (see the class's doc)."""
        db = self.db
        await db.execute("SAVEPOINT import_insert")
        try:
            numbers = await db.fetchval(self._insert_sql(), *self.arguments)
        except asyncpg.UniqueViolationError:
            await db.execute("ROLLBACK TO SAVEPOINT import_insert")
            self.conflicts = True
            numbers = await db.fetchval(self._insert_sql(), *self.arguments)
        await db.execute("RELEASE SAVEPOINT import_insert")
        if numbers:
            self.added += numbers.split(",")

    def _insert_sql(self) -> str:
        """The new entries copied to ``inserted`` too, and their numbers answered as one
        comma-separated value (rows arrive several times faster as one value than as
        records). $1 organization, $2 source, $3 list, $4 user."""
        unlisted = (
            "ON CONFLICT (organization_id, list_id, phone_number) WHERE removed_at IS NULL "
            "DO NOTHING"
            if self.conflicts
            else ""
        )
        return (
            "WITH added AS (INSERT INTO dnc_entries (id, organization_id, list_id, "
            "phone_number, type, source, added_by_user_id, created_at, expires_at) "
            "SELECT gen_random_uuid(), $1::uuid, $3::text, number, type, $2::text, $4::uuid, "
            "now(), expires_at FROM (SELECT DISTINCT ON (number) number, type, expires_at "
            f"FROM {self.chunk} ORDER BY number, line) first {unlisted} "
            "RETURNING id, organization_id, list_id, phone_number, type, source, expires_at), "
            f"kept AS (INSERT INTO {self.inserted} SELECT * FROM added) "
            "SELECT string_agg(phone_number, ',') FROM added"
        )


async def _list_rows(
    listing: _Listing, engine: AsyncEngine, total: int, progress: Progress | None
) -> None:
    """Every staged row through the domain's row rules, CHUNK rows at a time in line order
    (each keeps its line number), the next chunk read and checked while the database inserts
    one: the staged rows are read on a connection of their own (the staging table is
    committed), and checked on a thread, so the loop keeps serving the insert's round trips.
    Progress counts the rows listed."""
    read = RowReader(utcnow()).read
    done = 0
    async with transaction(engine) as reader:
        # In line order without a sort: a table written by one COPY and never changed is read
        # in the order it was written, from its first page once no scan may join another.
        await reader.execute("SET LOCAL synchronize_seqscans = off")
        await reader.execute(
            "DECLARE staged NO SCROLL CURSOR FOR SELECT line, phone_raw, type_raw, expires_raw "
            f"FROM {listing.staged}"
        )
        fetch = f"FETCH {CHUNK} FROM staged"
        rows = _checked(read, await reader.fetch(fetch))
        inserting: asyncio.Task[None] | None = None
        try:
            while rows:
                await listing.copy(rows)
                inserting = asyncio.create_task(listing.insert())
                next_rows = await asyncio.to_thread(_checked, read, await reader.fetch(fetch))
                await inserting
                done += len(rows)
                await _report_progress(engine, listing.import_id, done, total, progress)
                rows = next_rows
        finally:
            if inserting is not None and not inserting.done():
                inserting.cancel()
                await asyncio.wait([inserting])
    if not done:
        await _report_progress(engine, listing.import_id, done, total, progress)


def _checked(read: Callable[..., Checked], records: list[asyncpg.Record]) -> list[Checked]:
    return [read(*record) for record in records]


async def _report_progress(
    engine: AsyncEngine, import_id: UUID, done: int, total: int, progress: Progress | None
) -> None:
    if progress:
        progress(done, total)
    async with transaction(engine) as db:
        await db.execute("UPDATE imports SET processed = $2 WHERE id = $1", import_id, done)


async def _audit(
    db: asyncpg.Connection, inserted: str, user_id: UUID | None, import_id: UUID
) -> None:
    """Each added entry's ``dnc.add`` audit row, in the number's order."""
    await db.execute(
        audit_added_sql(inserted, "$1::uuid", "$2::jsonb") + " ORDER BY e.phone_number",
        user_id,
        json.dumps({"importId": str(import_id)}),
    )


async def _finish(
    db: asyncpg.Connection, import_id: UUID, refused: str, total: int, added: int
) -> ImportReport:
    invalid = await db.fetchval(f"SELECT count(*) FROM {refused}")
    errors = [
        {"line": r["line"], "error": r["error"]}
        for r in await db.fetch(
            f"SELECT line, error FROM {refused} ORDER BY line LIMIT {MAX_ERRORS}"
        )
    ]
    report = ImportReport(
        import_id, "done", total, total, added, total - invalid - added, invalid, errors
    )
    await db.execute(
        "UPDATE imports SET status = 'done', processed = $2, added = $3, duplicate = $4, "
        "invalid = $5, errors = $6, finished_at = now() WHERE id = $1",
        import_id, total, report.added, report.duplicate, report.invalid, json.dumps(errors),
    )  # fmt: skip
    return report


async def lost_imports(
    engine: AsyncEngine,
    older_than: datetime,
    max_attempts: int,
    pending: Callable[[UUID], Awaitable[bool]],
) -> LostImports:
    """``ListTransfers.lost``: a run holds the import's advisory lock, its staged rows are its
    staging table, and ``older_than`` counts from the last relay if there was one. The rows
    are taken ``FOR UPDATE SKIP LOCKED``: relays side by side never count one import twice."""
    retry: list[UUID] = []
    failed: list[tuple[UUID, str]] = []
    async with transaction(engine) as db:
        rows = await db.fetch(
            "SELECT id, attempts, to_regclass('dnc_import_' || replace(id::text, '-', '')) "
            "IS NOT NULL AS staged FROM imports WHERE status IN ('queued', 'running') "
            "AND coalesce(relayed_at, created_at) < $1 ORDER BY created_at LIMIT 100 "
            "FOR UPDATE SKIP LOCKED",
            older_than,
        )
        for row in rows:
            import_id = row["id"]
            held = not await db.fetchval(
                "SELECT pg_try_advisory_xact_lock(hashtextextended($1, 0))", f"import:{import_id}"
            )
            if held or await pending(import_id):
                continue
            if not row["staged"]:
                failed.append((import_id, "lost: its staged rows are gone; import the file again"))
            elif row["attempts"] >= max_attempts:
                failed.append(
                    (import_id, f"lost: its job vanished {row['attempts'] + 1} times; import "
                     "the file again")
                )  # fmt: skip
            else:
                retry.append(import_id)
        await db.execute(
            "UPDATE imports SET attempts = attempts + 1, relayed_at = now() WHERE id = ANY($1)",
            retry,
        )
    for import_id, reason in failed:
        await abandon_import(engine, import_id, reason)
    return LostImports(retry, [import_id for import_id, _ in failed])
