"""Receipts of checks in Postgres (``check_receipts``): one row a receipt, committed before
the check's answer is sent.

A commit waits for the disk, so receipts that arrive together share one: at most
:data:`WRITES_IN_FLIGHT` transactions write receipts at a time per process, and every receipt
that arrives meanwhile waits for the next, which inserts all of them (one statement, one
commit; at most :data:`MAX_BATCH_BYTES` of them). When such a transaction fails, each of its
receipts is tried again alone, so that one receipt's failure is not another's.

The question and the answer are kept as zlib-compressed bytes (a 50,000-number answer is
about 5 MB of JSON and compresses about tenfold), compressed in a worker thread when they
are large, so the event loop answers other checks meanwhile. The same INSERT records the
subscribed shared lists' versions (id, generation, when its data was downloaded, count) as
Postgres holds them at that moment, beside what the check itself knows.
"""

import asyncio
import logging
import zlib
from typing import Any
from uuid import UUID

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from domain.errors import Unavailable
from domain.model import CheckReceipt

log = logging.getLogger(__name__)
IN_A_THREAD = 64 * 1024  # bytes: compressing more than this holds the event loop too long
LEVEL = 1  # zlib's fastest: most of what higher levels gain costs several times the time
WRITES_IN_FLIGHT = 2
MAX_BATCH_BYTES = 8 * 1024 * 1024  # compressed; a 50,000-number receipt is about 400 KiB
NOT_KEPT = (
    "The receipt could not be stored (the database is unreachable), so no answer is given; "
    "retry shortly"
)
INSERT = text(
    """
    INSERT INTO check_receipts
        (id, organization_id, asked_by, asked_at, numbers, question, answer, versions)
    VALUES (:id, :organization_id, :asked_by, :asked_at, :numbers, :question, :answer,
        CAST(:versions AS jsonb) || jsonb_build_object('sharedLists', (
            SELECT coalesce(jsonb_agg(jsonb_build_object(
                'id', l.id, 'name', l.name, 'kind', l.kind, 'generation', l.generation,
                'downloadedAt',
                    to_char(l.downloaded_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
                'maxAgeDays', l.max_age_days, 'count', l.count
            ) ORDER BY l.id), '[]'::jsonb)
            FROM shared_list_subscriptions s JOIN shared_lists l ON l.id = s.list_id
            WHERE s.organization_id = :organization_id)))
    """
)
SELECT = text(
    """
    SELECT id, organization_id, asked_by, asked_at, numbers, question, answer,
        versions::text AS versions
    FROM check_receipts WHERE id = :id AND organization_id = :organization_id
    """
)


async def compress(data: bytes) -> bytes:
    if len(data) > IN_A_THREAD:
        return await asyncio.to_thread(zlib.compress, data, LEVEL)
    return zlib.compress(data, LEVEL)


async def decompress(data: bytes) -> bytes:
    if len(data) > IN_A_THREAD // 8:
        return await asyncio.to_thread(zlib.decompress, data)
    return zlib.decompress(data)


Values = dict[str, Any]
_Waiter = tuple[Values, "asyncio.Future[None]"]


class SqlReceiptStore:
    """One per process (``infra.bootstrap.Resources.receipts``), so that concurrent receipts
    share their commits."""

    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], writes_in_flight: int = WRITES_IN_FLIGHT
    ) -> None:
        self._sessions = sessions
        self.writes_in_flight = writes_in_flight
        self._waiting: list[_Waiter] = []
        self._writers = 0
        self._tasks: set[asyncio.Future[None]] = set()

    async def add(self, receipt: CheckReceipt) -> None:
        question, answer = await compress(receipt.question), await compress(receipt.answer)
        values = {
            "id": receipt.id,
            "organization_id": receipt.organization_id,
            "asked_by": receipt.asked_by,
            "asked_at": receipt.asked_at,
            "numbers": receipt.numbers,
            "question": question,
            "answer": answer,
            "versions": receipt.versions.decode(),
        }
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.append((values, future))
        if self._writers < self.writes_in_flight:
            self._writers += 1
            self._tasks.add(task := asyncio.ensure_future(self._write_waiting()))
            task.add_done_callback(self._tasks.discard)
        await future

    async def _write_waiting(self) -> None:
        try:
            while self._waiting:
                batch: list[_Waiter] = []
                size = 0
                while self._waiting and (not batch or size < MAX_BATCH_BYTES):
                    values, future = self._waiting.pop(0)
                    batch.append((values, future))
                    size += len(values["question"]) + len(values["answer"])
                await self._write(batch)
        finally:
            self._writers -= 1

    async def _write(self, batch: list[_Waiter]) -> None:
        try:
            await self._insert([values for values, _ in batch])
        except Exception as exc:  # whatever it was, these receipts are not known to be kept
            if len(batch) == 1:
                [(values, future)] = batch
                log.warning("could not store receipt %s: %s", values["id"], exc)
                _settle(future, Unavailable(NOT_KEPT))
                return
            for waiter in batch:  # alone, each one
                await self._write([waiter])
        else:
            for _, future in batch:
                _settle(future, None)

    async def _insert(self, rows: list[Values]) -> None:
        async with self._sessions() as session:
            await session.execute(INSERT, rows)
            await session.commit()

    async def get(self, organization_id: UUID, receipt_id: UUID) -> CheckReceipt | None:
        async with self._sessions() as session:
            row = (
                await session.execute(
                    SELECT, {"id": receipt_id, "organization_id": organization_id}
                )
            ).one_or_none()
        if row is None:
            return None
        return CheckReceipt(
            id=row.id,
            organization_id=row.organization_id,
            asked_by=row.asked_by,
            asked_at=row.asked_at,
            numbers=row.numbers,
            question=await decompress(row.question),
            answer=await decompress(row.answer),
            versions=row.versions.encode(),
        )


def _settle(future: "asyncio.Future[None]", error: Exception | None) -> None:
    if future.done():  # its request was cancelled meanwhile
        return
    if error is None:
        future.set_result(None)
    else:
        future.set_exception(error)
