"""`make bench`: import/export of a large list next to raw COPY of the same file, and deep
keyset paging next to OFFSET paging, measured side by side in one run.

The import's target (#13): the whole import (staged, checked, listed, audited, mirrored) in
at most twice the time of a ``COPY`` of the same file into a table made ``LIKE dnc_entries
INCLUDING ALL`` (the entries' indexes, a logged table like the entries').

Rows: DNC_BENCH_ROWS (default 1,000,000).
"""

import os
import time
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg

from domain.model import PageRequest, Principal
from domain.usecases.browse import list_entries
from infra.db.copy import export_csv, stage_import
from infra.db.imports import process_import
from infra.db.uow import SqlUnitOfWork, create_engine, create_sessionmaker
from infra.settings import Settings
from tests.support.bench import Row
from tests.support.helpers import Org, mirror_for

ROWS = int(os.environ.get("DNC_BENCH_ROWS", "1000000"))


async def chunks(path: Path) -> AsyncIterator[bytes]:
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            yield chunk


async def discard(_: bytes) -> None:
    return None


async def indexed_copy(settings: Settings, org: Org, source: Path) -> float:
    """Seconds to COPY the file into a table with the entries' columns and indexes (the
    columns the file lacks come from defaults, as the import fills them in)."""
    connection = await asyncpg.connect(settings.database_url)
    try:
        await connection.execute(
            "CREATE TABLE bench_indexed_entries (LIKE dnc_entries INCLUDING ALL)"
        )
        await connection.execute(
            "ALTER TABLE bench_indexed_entries ALTER id SET DEFAULT gen_random_uuid(), "
            f"ALTER organization_id SET DEFAULT '{org.id}', ALTER source SET DEFAULT 'import'"
        )
        started = time.perf_counter()
        await connection.copy_to_table(
            "bench_indexed_entries",
            source=chunks(source),
            columns=["phone_number", "type"],
            format="csv",
            header=True,
        )
        return time.perf_counter() - started
    finally:
        await connection.execute("DROP TABLE IF EXISTS bench_indexed_entries")
        await connection.close()


async def test_import_export_throughput(
    settings: Settings, org: Org, tmp_path: Path, report: list[Row]
) -> None:
    source = tmp_path / "list.csv"
    with source.open("w") as out:
        out.write("phoneNumber,type\n")
        for n in range(2_000_000, 2_000_000 + ROWS):
            out.write(f"1212{n:07d},bench\n")
    results: list[tuple[str, float, str, float]] = []

    connection = await asyncpg.connect(settings.database_url)
    try:
        await connection.execute("CREATE TEMP TABLE raw (phone text, type text)")
        started = time.perf_counter()
        await connection.copy_to_table("raw", source=chunks(source), format="csv", header=True)
        raw_copy_in = time.perf_counter() - started
        started = time.perf_counter()
        await connection.copy_from_query(
            "SELECT phone, type FROM raw", output=discard, format="csv", header=True
        )
        raw_copy_out = time.perf_counter() - started
    finally:
        await connection.close()

    engine = create_engine(settings, "dnc-bench")
    uow = SqlUnitOfWork(create_sessionmaker(engine))
    async with mirror_for(settings) as mirror:
        # the reference just before the import and just after it: the machine's load drifts
        indexed_before = await indexed_copy(settings, org, source)
        started = time.perf_counter()
        import_id, rows = await stage_import(engine, org.id, None, chunks(source))
        staged = time.perf_counter() - started
        outcome = await process_import(engine, mirror, import_id)
        imported = time.perf_counter() - started
        assert (rows, outcome.added) == (ROWS, ROWS)
        indexed_after = await indexed_copy(settings, org, source)
        indexed_copy_in = (indexed_before + indexed_after) / 2
        print(f"\nCOPY into the indexed table: {indexed_before:.2f} s before the import, "
              f"{indexed_after:.2f} s after; the import: {imported:.2f} s")  # fmt: skip

        started = time.perf_counter()
        lines = 0
        async for chunk in export_csv(engine, org.id):
            lines += chunk.count(b"\n")
        exported = time.perf_counter() - started
        assert lines == ROWS + 1

        principal = Principal(org.admin_id, org.id, "admin", "full", org.admin_id)
        deep_page = ROWS // 100  # page 10,000 of 100 for 1M rows
        started = time.perf_counter()
        await list_entries(uow, principal, PageRequest(deep_page, 100), None)
        offset_paging = time.perf_counter() - started
        last = (await list_entries(uow, principal, PageRequest(deep_page - 1, 100), None)).items[-1]
        started = time.perf_counter()
        await list_entries(uow, principal, PageRequest(1, 100, (last.created_at, last.id)), None)
        keyset_paging = time.perf_counter() - started

    results += [
        ("import: COPY into staging", staged, "raw COPY in", raw_copy_in),
        ("export (streamed CSV)", exported, "raw COPY out", raw_copy_out),
        (
            f"list page {deep_page:,} (keyset cursor)",
            keyset_paging,
            "same page by OFFSET",
            offset_paging,
        ),
    ]
    report += [
        Row(f"{name} ({ROWS:,} rows)", f"{ours:.2f} s", ref_name, f"{ref:.2f} s", ours / ref)
        for name, ours, ref_name, ref in results
    ]
    ratio = imported / indexed_copy_in
    report.append(
        Row(
            f"import, end to end ({ROWS:,} rows)",
            f"{imported:.2f} s",
            "COPY into LIKE dnc_entries INCLUDING ALL (mean of one before, one after)",
            f"{indexed_copy_in:.2f} s",
            ratio,
            "<= 2.0x",
            ratio <= 2.0,
        )
    )
