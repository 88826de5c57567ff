"""An organization's exemptions from its shared lists. A deleted exemption keeps its row
(``deleted_at``, ``deleted_by_user_id``); "live" means not deleted, lapsed or not."""

from collections.abc import Sequence
from datetime import datetime
from uuid import UUID

from sqlalchemy import ColumnElement, any_, case, func, insert, null, select, update

from domain.model import Exemption
from infra.db.mappers import exemption_from_row
from infra.db.models import ExemptionRow
from infra.db.repositories.base import Repository, texts


def _live(organization_id: UUID, phone_number: str | None = None) -> list[ColumnElement[bool]]:
    conditions = [
        ExemptionRow.organization_id == organization_id,
        ExemptionRow.deleted_at.is_(None),
    ]
    if phone_number is not None:
        conditions.append(ExemptionRow.phone_number == phone_number)
    return conditions


class SqlExemptionRepository(Repository):
    async def add(self, exemption: Exemption) -> None:
        await self.session.execute(
            insert(ExemptionRow).values(
                id=exemption.id,
                organization_id=exemption.organization_id,
                phone_number=exemption.phone_number,
                basis=exemption.basis,
                since=exemption.since,
                lapses_at=exemption.lapses_at,
                created_by_user_id=exemption.created_by,
                created_at=exemption.created_at,
            )
        )

    async def get(self, organization_id: UUID, exemption_id: UUID) -> Exemption | None:
        row = await self.session.scalar(
            select(ExemptionRow).where(*_live(organization_id), ExemptionRow.id == exemption_id)
        )
        return exemption_from_row(row) if row else None

    async def page(
        self, organization_id: UUID, phone_number: str | None, offset: int, limit: int
    ) -> list[Exemption]:
        rows = await self.session.scalars(
            select(ExemptionRow)
            .where(*_live(organization_id, phone_number))
            .order_by(ExemptionRow.created_at.desc(), ExemptionRow.id.desc())
            .offset(offset)
            .limit(limit)
        )
        return [exemption_from_row(row) for row in rows]

    async def count(self, organization_id: UUID, phone_number: str | None = None) -> int:
        counted = await self.session.scalar(
            select(func.count()).where(*_live(organization_id, phone_number))
        )
        return counted or 0

    async def delete(
        self, organization_id: UUID, exemption_id: UUID, user_id: UUID | None
    ) -> Exemption | None:
        """Concurrent deletes of one exemption take turns on its row: one deletes it, the
        others then find it deleted (None)."""
        row = await self.session.scalar(
            update(ExemptionRow)
            .where(*_live(organization_id), ExemptionRow.id == exemption_id)
            .values(deleted_at=func.now(), deleted_by_user_id=user_id)
            .returning(ExemptionRow)
        )
        return exemption_from_row(row) if row else None

    async def exempted_count(self, organization_id: UUID) -> int:
        counted = await self.session.scalar(
            select(func.count(func.distinct(ExemptionRow.phone_number))).where(
                *_live(organization_id)
            )
        )
        return counted or 0

    async def lapses(
        self, organization_id: UUID, numbers: Sequence[str] | None = None
    ) -> dict[str, datetime | None]:
        if numbers is not None and not numbers:
            return {}
        never = func.bool_or(ExemptionRow.lapses_at.is_(None))
        last = case((never, null()), else_=func.max(ExemptionRow.lapses_at))
        query = (
            select(ExemptionRow.phone_number, last)
            .where(*_live(organization_id))
            .group_by(ExemptionRow.phone_number)
        )
        if numbers is not None:
            query = query.where(ExemptionRow.phone_number == any_(texts(numbers)))
        return {number: lapses_at for number, lapses_at in await self.session.execute(query)}
