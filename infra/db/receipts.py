"""Receipts of checks in Postgres (``check_receipts``): one row a receipt, written by one
INSERT in a transaction of its own and committed before the check's answer is sent.

The question and the answer are kept as zlib-compressed bytes (a 50,000-number answer is
about 5 MB of JSON and compresses about tenfold), compressed in a worker thread when they
are large, so the event loop answers other checks meanwhile. The same INSERT records the
subscribed shared lists' versions (id, generation, when its data was downloaded, count) as
Postgres holds them at that moment, beside what the check itself knows.
"""

import asyncio
import logging
import zlib
from uuid import UUID

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from domain.errors import Unavailable
from domain.model import CheckReceipt

log = logging.getLogger(__name__)
IN_A_THREAD = 64 * 1024  # bytes: compressing more than this holds the event loop too long
LEVEL = 1  # zlib's fastest: most of what higher levels gain costs several times the time
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


class SqlReceiptStore:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

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
        try:
            async with self._sessions() as session:
                await session.execute(INSERT, values)
                await session.commit()
        except Exception as exc:  # whatever it was, the receipt is not known to be kept
            log.warning("could not store receipt %s: %s", receipt.id, exc)
            raise Unavailable(NOT_KEPT) from exc

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
