"""CSV import and export for lists of millions of numbers, through Postgres COPY.

An import is staged first: the request body streams straight into a table of its own with
``COPY`` (line numbers from an identity column), so the file is never held in memory. It is
then processed in one transaction: rows are read back in chunks, checked by the domain's row
rules, copied into a second table, and inserted set-based (first occurrence of each number
wins, numbers already listed are duplicates). The mirror is kept as every other write keeps
it (a ``mirror.sync`` change, the organization's mirror lock, Redis before the commit, the sync
after it), and each added number is audited. An export is ``COPY (SELECT …) TO STDOUT``
streamed through a bounded queue, with formula cells neutralized.
"""

import asyncio
import json
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

import asyncpg
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from domain.errors import InvalidInput, NotFound
from domain.imports import ESCAPE, ESCAPED_STARTS, header_columns, read_row
from domain.model import AuditEvent
from domain.ports import DncMirror
from domain.rules import EXPIRED, SOURCE_IMPORT
from domain.time import utcnow
from domain.usecases.entries import list_numbers
from domain.usecases.mirror_sync import settle
from infra.db.uow import SqlUnitOfWork, create_sessionmaker

log = logging.getLogger(__name__)
STAGED = {
    "phoneNumber": "phone_raw",
    "type": "type_raw",
    "expiresAt": "expires_raw",
    "createdAt": "created_raw",
}
CHUNK = 50_000
MAX_ERRORS = 100
_HEADER_END = re.compile(rb"\r\n|\r|\n")
Progress = Callable[[int, int], None]


def staging_table(import_id: UUID) -> str:
    return f"dnc_import_{import_id.hex}"


async def split_header(body: AsyncIterator[bytes]) -> tuple[str, AsyncIterator[bytes]]:
    """The CSV header line, and the rest of the body as it keeps streaming in."""
    buffered = b""
    async for chunk in body:
        buffered += chunk
        if b"\n" in buffered or b"\r" in buffered[:-1] or len(buffered) > 64 * 1024:
            break
    found = _HEADER_END.search(buffered)  # \n, \r\n, or a bare \r (old Mac files)
    end = (found.start(), found.end()) if found else (len(buffered), len(buffered))
    header, rest = buffered[: end[0]], buffered[end[1] :]

    async def remainder() -> AsyncIterator[bytes]:
        if rest:
            yield rest
        async for chunk in body:
            yield chunk

    try:
        return header.decode("utf-8"), remainder()
    except UnicodeDecodeError:
        raise InvalidInput("the CSV file must be UTF-8 text") from None


_MARKER = b"\\."
_BREAKS = b"\r\n"
_CR = ord("\r")
_HELD = 4  # bytes held back so that a marker split between chunks is still seen whole


async def refuse_end_marker(rows: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """The rows as they stream in, refusing a line that is just ``\\.`` (ended by ``\\n``,
    ``\\r\\n``, a bare ``\\r`` or the end of the data): COPY reads it as the end of the data
    and would drop every row after it without a word. Holds back a few bytes at a time."""
    held, lines, first = b"", 2, True  # line 1 is the header
    async for chunk in rows:
        data = held + chunk
        _refuse(data, first, len(data) - 2, lines)
        cut = max(0, len(data) - _HELD)
        if cut and data[cut - 1] == _CR:  # keep a \r\n together, to count it once
            cut -= 1
        send, held = data[:cut], data[cut:]
        lines += _line_breaks(send)
        if send:
            first = False
            yield send
    data = held
    if data:
        _refuse(data + b"\n", first, len(data), lines)
        yield data


def _refuse(data: bytes, first: bool, limit: int, lines: int) -> None:
    """Raise on a marker starting before ``limit`` whose line starts and ends around it."""
    at = data.find(_MARKER)
    while 0 <= at < limit:
        starts = (at == 0 and first) or (at > 0 and data[at - 1] in _BREAKS)
        if starts and at + 2 < len(data) and data[at + 2] in _BREAKS:
            line = lines + _line_breaks(data[:at])
            raise InvalidInput(
                f"line {line} is '\\.', which ends the data for Postgres's COPY; quote it or "
                "remove it (nothing was imported)"
            )
        at = data.find(_MARKER, at + 1)


def _line_breaks(data: bytes) -> int:
    return data.count(b"\n") + data.count(b"\r") - data.count(b"\r\n")


async def _driver(connection: Any) -> asyncpg.Connection:
    raw = await connection.get_raw_connection()
    driver: asyncpg.Connection = raw.driver_connection
    return driver


@asynccontextmanager
async def _transaction(engine: AsyncEngine) -> AsyncIterator[asyncpg.Connection]:
    """A pooled connection, used through asyncpg directly (COPY, cursors), in a transaction."""
    async with engine.connect() as connection:
        db = await _driver(connection)
        async with db.transaction():
            yield db


async def stage_import(
    engine: AsyncEngine,
    organization_id: UUID,
    user_id: UUID | None,
    body: AsyncIterator[bytes],
) -> tuple[UUID, int]:
    """COPY a CSV body into its own staging table; the import's id and its row count."""
    header, rows = await split_header(body)
    columns = [STAGED[name] for name in header_columns(header)]
    import_id = uuid4()
    table = staging_table(import_id)
    async with _transaction(engine) as db:
        await db.execute(
            f"CREATE UNLOGGED TABLE {table} (line bigint GENERATED ALWAYS AS IDENTITY "
            "(START WITH 2), phone_raw text, type_raw text, expires_raw text, created_raw text)"
        )
        try:
            status = await db.copy_to_table(
                table, source=refuse_end_marker(rows), columns=columns, format="csv"
            )
        except (
            asyncpg.DataError,
            asyncpg.PostgresSyntaxError,
            asyncpg.BadCopyFileFormatError,
        ) as exc:
            raise InvalidInput(f"the CSV file could not be read: {_copy_error(exc)}") from exc
        count = int(status.split()[-1])
        await db.execute(
            "INSERT INTO imports (id, organization_id, user_id, status, rows) "
            "VALUES ($1, $2, $3, 'queued', $4)",
            import_id, organization_id, user_id, count,
        )  # fmt: skip
    return import_id, count


def _copy_error(exc: asyncpg.PostgresError) -> str:
    """COPY's message and file line (its own count starts after the header); no table names."""
    found = re.search(r"line (\d+)", str(exc.context or ""))
    return f"line {int(found.group(1)) + 1}: {exc}" if found else str(exc)


@dataclass
class ImportReport:
    id: UUID
    status: str
    rows: int
    processed: int = 0
    added: int = 0
    duplicate: int = 0
    invalid: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)
    failure: str | None = None


async def import_report(
    engine: AsyncEngine, organization_id: UUID, import_id: UUID
) -> ImportReport:
    async with _transaction(engine) as db:
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
    """Validate and insert a staged import in one transaction; safe to run again.

    The numbers are listed the way every other path lists them
    (:func:`domain.usecases.entries.list_numbers`): the transaction records a ``mirror.sync``
    change naming the numbers it added or retired, and writes the added ones to Redis before
    its commit while holding the organization's mirror lock, so that no sync can read the
    truth in between; the change is settled after commit.
    """
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
        table, checked = staging_table(import_id), f"dnc_checked_{import_id.hex}"
        await db.execute(
            f"CREATE TEMP TABLE {checked} (line bigint, number text, type text, "
            "expires_at timestamptz, error text) ON COMMIT DROP"
        )
        await _check_rows(db, engine, import_id, table, checked, total, progress)
        added, retired = await _insert(db, checked, org_id, user_id)
        numbers = sorted(added.values())
        await uow.audit.record_added(org_id, user_id, list(added), {"importId": str(import_id)})
        await list_numbers(uow, mirror, org_id, numbers, retired)
        report = await _finish(db, import_id, checked, total, len(added))
        await uow.audit.record(
            AuditEvent(
                organization_id=org_id,
                actor_user_id=user_id,
                action="dnc.import",
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
    await settle(uow, mirror, org_id)
    log.info("import %s: %d rows, %d added", import_id, total, report.added)
    return report


async def _locked_driver(uow: SqlUnitOfWork, key: str) -> asyncpg.Connection:
    """The unit of work's own asyncpg connection, inside its transaction (which the advisory
    lock on ``key``, run through the session, begins), for COPY and cursors."""
    await uow.session.execute(
        text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"), {"key": key}
    )
    db = await _driver(await uow.session.connection())
    if not db.is_in_transaction():  # the raw statements must belong to the unit's transaction
        raise RuntimeError("the import's connection is not in its transaction")
    return db


async def abandon_import(engine: AsyncEngine, import_id: UUID, failure: str) -> None:
    """Mark an import failed for good, with its reason, and drop its staging table."""
    async with _transaction(engine) as db:
        await db.execute(
            "UPDATE imports SET status = 'failed', failure = $2, finished_at = now() "
            "WHERE id = $1 AND status <> 'done'",
            import_id, failure[:2000],
        )  # fmt: skip
        await db.execute(f"DROP TABLE IF EXISTS {staging_table(import_id)}")


async def process_inline(
    engine: AsyncEngine, mirror: DncMirror, import_id: UUID, progress: Progress | None = None
) -> ImportReport:
    """:func:`process_import` for a caller waiting on it (the API, the CLI): an import that
    fails there is not retried, so it is marked failed and its staging table dropped."""
    try:
        return await process_import(engine, mirror, import_id, progress)
    except BaseException as exc:  # a cancelled request too: nobody will run it again
        reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        await asyncio.shield(abandon_import(engine, import_id, reason))
        raise


async def _mark_running(engine: AsyncEngine, import_id: UUID) -> None:
    async with engine.begin() as connection:  # seen by status readers at once
        db = await _driver(connection)
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
    now = utcnow()
    done = 0
    cursor = db.cursor(
        f"SELECT line, phone_raw, type_raw, expires_raw FROM {table} ORDER BY line",
        prefetch=10_000,
    )
    batch: list[tuple[Any, ...]] = []
    async for line, phone_raw, type_raw, expires_raw in cursor.__aiter__():
        row = read_row(line, phone_raw, type_raw, expires_raw, now)
        batch.append((row.line, row.number, row.type, row.expires_at, row.error))
        if len(batch) >= CHUNK:
            done += await _flush(db, checked, batch)
            await _report_progress(engine, import_id, done, total, progress)
    done += await _flush(db, checked, batch)
    await _report_progress(engine, import_id, done, total, progress)


async def _flush(db: asyncpg.Connection, checked: str, batch: list[tuple[Any, ...]]) -> int:
    count = len(batch)
    if batch:
        await db.copy_records_to_table(
            checked, records=batch, columns=["line", "number", "type", "expires_at", "error"]
        )
        batch.clear()
    return count


async def _report_progress(
    engine: AsyncEngine, import_id: UUID, done: int, total: int, progress: Progress | None
) -> None:
    if progress:
        progress(done, total)
    async with _transaction(engine) as db:
        await db.execute("UPDATE imports SET processed = $2 WHERE id = $1", import_id, done)


async def _insert(
    db: asyncpg.Connection, checked: str, org_id: UUID, user_id: UUID | None
) -> tuple[dict[UUID, str], list[str]]:
    """The entries added (id: number), and the numbers whose expired entry was retired."""
    await db.execute(f"CREATE INDEX ON {checked} (number, line)")
    retired = await db.fetch(
        f"UPDATE dnc_entries e SET removed_at = now(), removal_reason = $2::text "
        f"FROM {checked} c WHERE e.organization_id = $1 AND e.phone_number = c.number "
        "AND e.removed_at IS NULL AND e.expires_at <= now() RETURNING e.phone_number",
        org_id,
        EXPIRED,
    )  # the rules of domain.rules, set-based: an expired entry is retired (blocks: no)
    rows = await db.fetch(
        "INSERT INTO dnc_entries (id, organization_id, phone_number, type, source, "
        "added_by_user_id, created_at, expires_at) "
        f"SELECT gen_random_uuid(), $1, number, type, $3::text, $2, now(), expires_at FROM "
        f"(SELECT DISTINCT ON (number) number, type, expires_at FROM {checked} "
        " WHERE number IS NOT NULL ORDER BY number, line) first "
        "ON CONFLICT (organization_id, phone_number) WHERE removed_at IS NULL DO NOTHING "
        "RETURNING id, phone_number",
        org_id, user_id, SOURCE_IMPORT,
    )  # fmt: skip
    return {r[0]: r[1] for r in rows}, [r[0] for r in retired]


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


@dataclass(frozen=True, slots=True)
class LostImports:
    retry: list[UUID]  # counted as one more attempt; enqueue them again
    failed: list[UUID]  # marked failed, with the reason


async def lost_imports(
    engine: AsyncEngine,
    older_than: datetime,
    max_attempts: int,
    live: Callable[[UUID], Awaitable[bool]],
) -> LostImports:
    """Imports left ``queued`` or ``running`` since before ``older_than`` (or their last relay)
    that no run holds (its advisory lock is free) and whose job ``live`` (awaited) does not
    report queued or running: their job was lost. One whose staging table is gone, or that
    has been enqueued again ``max_attempts`` times, is marked failed (its table dropped)."""
    retry: list[UUID] = []
    failed: list[tuple[UUID, str]] = []
    async with _transaction(engine) as db:
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
            if held or await live(import_id):
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


EXPORT_QUERY = """
SELECT phone_number AS "phoneNumber",
       CASE WHEN left(type, 1) = ANY($2::text[]) THEN $3 || type ELSE type END AS type,
       to_char(expires_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS "expiresAt",
       to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS "createdAt"
FROM dnc_entries
WHERE organization_id = $1 AND removed_at IS NULL
ORDER BY created_at, id
"""


async def export_csv(engine: AsyncEngine, organization_id: UUID) -> AsyncIterator[bytes]:
    """The organization's list as CSV, streamed with constant memory. A ``type`` a spreadsheet
    would run as a formula goes out neutralized (:func:`domain.imports.neutralized`, the same
    rule in SQL), and every ``type`` is quoted; an import takes the prefix back off."""
    queue: asyncio.Queue[bytes | None] = asyncio.Queue(maxsize=16)

    async def sink(chunk: bytes | bytearray | memoryview) -> None:
        await queue.put(bytes(chunk))

    async def copy() -> None:
        try:
            async with engine.connect() as connection:
                db = await _driver(connection)
                await db.copy_from_query(
                    EXPORT_QUERY,
                    organization_id,
                    list(ESCAPED_STARTS),
                    ESCAPE,
                    output=sink,
                    format="csv",
                    header=True,
                    force_quote=["type"],  # OWASP: the neutralized cell quoted too
                )
        finally:
            await queue.put(None)

    task = asyncio.create_task(copy())
    try:
        while (chunk := await queue.get()) is not None:
            yield chunk
        await task
    finally:
        if not task.done():
            task.cancel()
