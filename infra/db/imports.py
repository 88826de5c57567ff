"""A staged CSV import, processed in one transaction: rows are read back in chunks, checked
by the domain's row rules, copied into a second table, and inserted set-based (first occurrence
of each number wins, numbers already listed are duplicates), each added entry's audit row
written in one statement from the new entries while their numbers go to Redis. The mirror is
kept as every other write keeps it
(``domain.usecases.entries.list_many``: a ``mirror.sync`` change, the organization's mirror
lock, Redis before the commit, the sync after it, which need not write the numbers again when
the mirror is the one they were written to). Lost imports are picked up again or marked failed.

:class:`SqlListTransfers` is the port (``domain.ports.ListTransfers``) over this module and
:mod:`infra.db.copy`; when to process an import, and what a failure means, is decided in
``domain.usecases.transfer``.
"""

import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime
from uuid import UUID

import asyncpg
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from domain.errors import InvalidInput, NotFound
from domain.imports import RowReader
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
        return await process_import(self.engine, mirror, import_id, progress)

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
    staged rows checked in chunks and inserted set-based (see the module's doc); progress is
    written on connections of its own, so status readers see it at once."""
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
        table, checked = staging_table(import_id), f"dnc_checked_{import_id.hex}"
        inserted = f"dnc_inserted_{import_id.hex}"
        await db.execute(
            f"CREATE TEMP TABLE {checked} (line bigint, number text, type text, "
            "expires_at timestamptz, error text) ON COMMIT DROP"
        )
        await db.execute(
            f"CREATE TEMP TABLE {inserted} (id uuid, organization_id uuid, list_id text, "
            "phone_number text, type text, source text, expires_at timestamptz) ON COMMIT DROP"
        )  # what the added entries' audit rows need of them (``audit_added_sql``)
        await _check_rows(db, engine, import_id, table, checked, total, progress)
        added, retired, retired_ids = await _insert(db, checked, inserted, org_id, list_id, user_id)
        await audit_expired(uow, org_id, retired_ids)  # before the audit that runs alongside
        audit = _audit(db, inserted, user_id, import_id)
        written = await list_many(uow, mirror, org_id, added, retired, list_id, audit)
        report = await _finish(db, import_id, checked, total, len(added))
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
        await db.execute(f"DROP TABLE {table}")
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


async def _check_rows(
    db: asyncpg.Connection,
    engine: AsyncEngine,
    import_id: UUID,
    table: str,
    checked: str,
    total: int,
    progress: Progress | None,
) -> None:
    """Every staged row through the domain's row rules (in the order the table returns them:
    each keeps its line number), CHUNK rows a round trip each way."""
    read = RowReader(utcnow()).read
    done = 0
    await db.execute(
        f"DECLARE staged NO SCROLL CURSOR FOR SELECT line, phone_raw, type_raw, expires_raw "
        f"FROM {table}"
    )
    while records := await db.fetch(f"FETCH {CHUNK} FROM staged"):
        await db.copy_records_to_table(
            checked,
            records=[read(*record) for record in records],
            columns=["line", "number", "type", "expires_at", "error"],
        )
        done += len(records)
        await _report_progress(engine, import_id, done, total, progress)
    await db.execute("CLOSE staged")
    if not done:
        await _report_progress(engine, import_id, done, total, progress)


async def _report_progress(
    engine: AsyncEngine, import_id: UUID, done: int, total: int, progress: Progress | None
) -> None:
    if progress:
        progress(done, total)
    async with transaction(engine) as db:
        await db.execute("UPDATE imports SET processed = $2 WHERE id = $1", import_id, done)


async def _insert(
    db: asyncpg.Connection,
    checked: str,
    inserted: str,
    org_id: UUID,
    list_id: str,
    user_id: UUID | None,
) -> tuple[list[str], list[str], list[UUID]]:
    """The numbers added to the list (sorted; their entries copied to ``inserted``), the
    numbers whose expired entry was retired, and those entries' ids."""
    await db.execute(f"CREATE INDEX ON {checked} (number, line)")
    retired = await db.fetch(
        f"UPDATE dnc_entries e SET removed_at = now(), removal_reason = $3::text "
        f"FROM {checked} c WHERE e.organization_id = $1 AND e.list_id = $2 "
        "AND e.phone_number = c.number AND e.removed_at IS NULL AND e.expires_at <= now() "
        "RETURNING e.id, e.phone_number",
        org_id, list_id, EXPIRED,
    )  # fmt: skip  # the rules of domain.rules, set-based: an expired entry is retired
    # Without ON CONFLICT, the insert takes half the time: the numbers already listed are left
    # out first. A writer on another path may list one of them meanwhile; then the insert is
    # run again, with ON CONFLICT (it waits for such a writer either way).
    await db.execute("SAVEPOINT import_insert")
    arguments = (org_id, SOURCE_IMPORT, list_id, user_id)
    try:
        numbers = await db.fetchval(_insert_sql(checked, inserted, conflicts=False), *arguments)
    except asyncpg.UniqueViolationError:
        await db.execute("ROLLBACK TO SAVEPOINT import_insert")
        numbers = await db.fetchval(_insert_sql(checked, inserted, conflicts=True), *arguments)
    await db.execute("RELEASE SAVEPOINT import_insert")
    added = sorted(numbers.split(",")) if numbers else []  # inserted in order: sorted at once
    return added, [r[1] for r in retired], [r[0] for r in retired]


def _insert_sql(checked: str, inserted: str, conflicts: bool) -> str:
    """Each number's first valid row inserted unless listed, the new entries copied to
    ``inserted`` (what their audit rows need), and their numbers answered as one
    comma-separated value: a million rows arrive several times faster as one value than as
    records. $1 organization, $2 source, $3 list, $4 user."""
    unlisted = (
        "ON CONFLICT (organization_id, list_id, phone_number) WHERE removed_at IS NULL DO NOTHING"
        if conflicts
        else "WHERE NOT EXISTS (SELECT FROM dnc_entries e WHERE e.organization_id = $1 "
        "AND e.list_id = $3::text AND e.phone_number = first.number AND e.removed_at IS NULL)"
    )
    return (
        "WITH added AS (INSERT INTO dnc_entries (id, organization_id, list_id, phone_number, "
        "type, source, added_by_user_id, created_at, expires_at) "
        "SELECT gen_random_uuid(), $1::uuid, $3::text, number, type, $2::text, $4::uuid, now(), "
        f"expires_at FROM (SELECT DISTINCT ON (number) number, type, expires_at FROM {checked} "
        f" WHERE number IS NOT NULL ORDER BY number, line) first {unlisted} "
        "RETURNING id, organization_id, list_id, phone_number, type, source, expires_at), "
        f"kept AS (INSERT INTO {inserted} SELECT * FROM added) "
        "SELECT string_agg(phone_number, ',') FROM added"
    )


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
    db: asyncpg.Connection, import_id: UUID, checked: str, total: int, added: int
) -> ImportReport:
    invalid = await db.fetchval(f"SELECT count(*) FROM {checked} WHERE error IS NOT NULL")
    errors = [
        {"line": r["line"], "error": r["error"]}
        for r in await db.fetch(
            f"SELECT line, error FROM {checked} WHERE error IS NOT NULL "
            f"ORDER BY line LIMIT {MAX_ERRORS}"
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
