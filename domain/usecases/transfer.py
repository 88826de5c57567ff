"""Whole lists in and out: a CSV import is staged whole, then processed at once for a caller
who waits (a small file, the ``dnc import`` command) or by the worker (a large one); an export
streams the list. The staging and the set-based processing are the store's
(``domain.ports.ListTransfers``: files of a million rows take seconds there); what is decided
here is when an import runs, and what its failure means."""

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime
from uuid import UUID

from domain.errors import Unavailable
from domain.model import ImportReport, ImportStarted, LostImports, Principal
from domain.ports import DncMirror, JobQueue, ListTransfers, Progress, UnitOfWork
from domain.usecases.lists import known_list

INLINE_ROWS = 50_000  # larger files are processed by the worker (202 + jobId)
QUEUE_UNREACHABLE = "The job queue (Redis) is unreachable; retry the import"


async def import_list(
    uow: UnitOfWork,
    transfers: ListTransfers,
    queue: JobQueue,
    mirror: DncMirror,
    principal: Principal,
    body: AsyncIterator[bytes],
    list_id: str | None = None,
) -> ImportStarted:
    """Stage the file for the list (None: the org-wide one), then process it now (up to
    :data:`INLINE_ROWS` rows) or queue it for the worker (the answer carries the job id).
    Nothing is listed when the queue is down: the import stays staged, and the worker's relay
    runs it later."""
    on = await known_list(uow, principal.organization_id, list_id)
    staged = await transfers.stage(principal.organization_id, principal.user_id, body, on)
    if staged.rows <= INLINE_ROWS:
        return ImportStarted(await process_waited(transfers, mirror, staged.id))
    try:
        job_id = await queue.enqueue_import(staged.id)
    except Unavailable as exc:
        raise Unavailable(QUEUE_UNREACHABLE) from exc
    return ImportStarted(await transfers.report(principal.organization_id, staged.id), job_id)


async def process_waited(
    transfers: ListTransfers,
    mirror: DncMirror,
    import_id: UUID,
    progress: Progress | None = None,
) -> ImportReport:
    """Process an import for a caller waiting on it (the API, the CLI). Nobody runs it again,
    so one that fails, or is cancelled with its request, is failed for good."""
    try:
        return await transfers.process(import_id, mirror, progress)
    except BaseException as exc:
        await asyncio.shield(transfers.abandon(import_id, _failure(exc)))
        raise


async def process_queued(
    transfers: ListTransfers,
    mirror: DncMirror,
    import_id: UUID,
    progress: Progress | None = None,
) -> ImportReport:
    """Process an import in the worker: :class:`Unavailable` (the mirror away) is left for
    the job to be run again later; any other failure is final."""
    try:
        return await transfers.process(import_id, mirror, progress)
    except Unavailable:
        raise
    except Exception as exc:
        await transfers.abandon(import_id, _failure(exc))
        raise


async def relay_lost_imports(
    transfers: ListTransfers, queue: JobQueue, older_than: datetime, max_attempts: int
) -> LostImports:
    """Enqueue again the imports whose job was lost (the enqueue failed, a process died);
    fail those lost ``max_attempts`` times, or whose staged rows are gone."""
    lost = await transfers.lost(older_than, max_attempts, queue)
    for import_id in lost.retry:
        await queue.enqueue_import(import_id)
    return lost


async def get_import(
    transfers: ListTransfers, principal: Principal, import_id: UUID
) -> ImportReport:
    return await transfers.report(principal.organization_id, import_id)


async def export_list(
    uow: UnitOfWork, transfers: ListTransfers, principal: Principal, list_id: str | None = None
) -> AsyncIterator[bytes]:
    """One list (None: the org-wide one) as CSV, streamed; a 400 for a list the organization
    does not have."""
    on = await known_list(uow, principal.organization_id, list_id)
    return transfers.export(principal.organization_id, on)


def _failure(exc: BaseException) -> str:
    """What a failed import says went wrong: the exception's kind, and its message if any."""
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
