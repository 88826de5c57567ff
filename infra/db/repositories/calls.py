"""Batches and the call records uploaded in them."""

from collections.abc import Sequence
from uuid import UUID

from sqlalchemy import (
    select,
)
from sqlalchemy.dialects.postgresql import insert

from domain.errors import Conflict
from domain.model import (
    Batch,
    CallRecord,
)
from infra.db.mappers import (
    batch_from_row,
    call_from_row,
    call_values,
)
from infra.db.models import (
    BatchRow,
    CallRecordRow,
)
from infra.db.repositories.base import Repository


class SqlBatchRepository(Repository):
    async def get(self, organization_id: UUID, batch_id: str) -> Batch | None:
        row = await self.session.scalar(
            select(BatchRow).where(
                BatchRow.organization_id == organization_id, BatchRow.batch_id == batch_id
            )
        )
        return batch_from_row(row) if row else None

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


class SqlCallRepository(Repository):
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
        return call_from_row(row, batch_id)

    async def add_many(self, calls: Sequence[CallRecord]) -> None:
        values = [call_values(c) for c in calls]
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
