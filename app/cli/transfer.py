"""``dnc import`` and ``dnc export``: whole lists as CSV, with progress on stderr."""

import argparse
import sys
from collections.abc import AsyncIterator
from uuid import UUID

from app.cli.progress import ProgressLine
from app.cli.tools import Commands, Report, Tools, with_tools
from domain.usecases.identity import require_organization
from domain.usecases.lists import known_list
from domain.usecases.transfer import process_waited
from infra.db.imports import SqlListTransfers


def add_commands(commands: Commands) -> None:
    importing = commands.add_parser("import", help="import a CSV file, with progress")
    importing.add_argument("--org", required=True, type=UUID, help="organization id")
    importing.add_argument("--list", help="the list's id (default: the org-wide list)")
    importing.add_argument("file", help="CSV with a header: phoneNumber[,type][,expiresAt]")
    importing.set_defaults(run=with_tools(_import))
    exporting = commands.add_parser("export", help="write a list as CSV to stdout")
    exporting.add_argument("--org", required=True, type=UUID, help="organization id")
    exporting.add_argument("--list", help="the list's id (default: the org-wide list)")
    exporting.set_defaults(run=with_tools(_export))


async def _file_chunks(path: str) -> AsyncIterator[bytes]:
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            yield chunk


async def _import(tools: Tools, args: argparse.Namespace) -> Report:
    await require_organization(tools.uow, args.org)
    list_id = await known_list(tools.uow, args.org, args.list)
    transfers = SqlListTransfers(tools.engine)
    staged = await transfers.stage(args.org, None, _file_chunks(args.file), list_id)
    import_id = staged.id
    print(f"import {import_id}: {staged.rows} rows staged", file=sys.stderr, flush=True)

    line = ProgressLine(f"import {import_id}", "rows checked")

    def progress(done: int, total: int) -> None:
        line.update(done, total, f"import {import_id}: {done}/{total} rows checked")

    try:
        report = await process_waited(transfers, tools.mirror, import_id, progress)
    finally:
        line.finish()
    return {
        "importId": str(report.id),
        "rows": report.rows,
        "added": report.added,
        "duplicate": report.duplicate,
        "invalid": report.invalid,
        "errors": report.errors,
    }


async def _export(tools: Tools, args: argparse.Namespace) -> Report:
    """The CSV on stdout, so nothing else is printed there."""
    await require_organization(tools.uow, args.org)
    rows = 0
    out = sys.stdout.buffer
    list_id = await known_list(tools.uow, args.org, args.list)
    line = ProgressLine("export", "rows")
    async for chunk in SqlListTransfers(tools.engine).export(args.org, list_id):
        out.write(chunk)
        before, rows = rows, rows + chunk.count(b"\n")
        every = rows // 100_000 > before // 100_000
        line.update(max(rows - 1, 0), None, f"export: {rows - 1} rows" if every else None)
    out.flush()
    line.finish(f"export: {max(rows - 1, 0)} rows in all")
    return None
