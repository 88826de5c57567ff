"""The outbox: side effects (emails, mirror syncs) committed with the change."""

from collections.abc import Sequence
from datetime import datetime
from uuid import UUID

from sqlalchemy import (
    ARRAY,
    BigInteger,
    any_,
    bindparam,
    func,
    literal_column,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.sql.elements import ColumnElement

from domain.model import (
    OutboxMessage,
)
from infra.db.mappers import outbox_message_from_row
from infra.db.models import (
    OutboxRow,
)
from infra.db.repositories.base import Repository


class SqlOutbox(Repository):
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
        return outbox_message_from_row(row)

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
        return [outbox_message_from_row(r) for r in rows]

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

    async def oldest_pending_age(self) -> float:
        age = await self.session.scalar(
            select(
                func.coalesce(func.extract("epoch", func.now() - func.min(OutboxRow.created_at)), 0)
            ).where(OutboxRow.processed_at.is_(None))
        )
        return float(age or 0)
