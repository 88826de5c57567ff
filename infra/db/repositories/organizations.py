"""Organizations: the tenant, its DNC switch and its mirror lock."""

from uuid import UUID

from sqlalchemy import (
    func,
    select,
    text,
    update,
)

from domain.errors import NotFound
from domain.model import (
    Organization,
    OrganizationRecord,
)
from infra.db.mappers import (
    organization_from_row,
)
from infra.db.models import (
    OrganizationRow,
    UserRow,
)
from infra.db.repositories.base import Repository


class SqlOrganizationRepository(Repository):
    async def get(self, organization_id: UUID) -> Organization | None:
        row = await self.session.get(OrganizationRow, organization_id)
        return organization_from_row(row) if row else None

    async def add(self, organization: Organization) -> None:
        self.session.add(
            OrganizationRow(
                id=organization.id, name=organization.name, dnc_enabled=organization.dnc_enabled
            )
        )
        await self.session.flush()

    async def get_for_update(self, organization_id: UUID) -> Organization | None:
        row = await self.session.scalar(
            select(OrganizationRow).where(OrganizationRow.id == organization_id).with_for_update()
        )
        return organization_from_row(row) if row else None

    async def ids(self) -> list[UUID]:
        return list(
            await self.session.scalars(select(OrganizationRow.id).order_by(OrganizationRow.id))
        )

    async def all(self) -> list[OrganizationRecord]:
        users = (
            select(func.count())
            .where(UserRow.organization_id == OrganizationRow.id)
            .scalar_subquery()
        )
        rows = await self.session.execute(
            select(
                OrganizationRow.id,
                OrganizationRow.name,
                OrganizationRow.dnc_enabled,
                OrganizationRow.created_at,
                users,
            ).order_by(OrganizationRow.created_at, OrganizationRow.id)
        )
        return [OrganizationRecord(*row) for row in rows]

    async def lock_mirror(self, organization_id: UUID) -> None:
        await self.session.execute(
            text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"),
            {"key": f"dnc-mirror:{organization_id}"},
        )

    async def set_dnc_enabled(self, organization_id: UUID, enabled: bool) -> Organization:
        row = (
            await self.session.execute(
                update(OrganizationRow)
                .where(OrganizationRow.id == organization_id)
                .values(dnc_enabled=enabled)
                .returning(OrganizationRow)
            )
        ).scalar_one_or_none()
        if row is None:
            raise NotFound(f"Organization {organization_id} not found")
        return organization_from_row(row)
