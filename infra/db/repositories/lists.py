"""The lists of an organization (its org-wide one and the named ones) and its prefix rules."""

from collections.abc import Sequence
from uuid import UUID

from sqlalchemy import any_, func, select, update
from sqlalchemy.dialects.postgresql import insert

from domain.errors import Conflict
from domain.model import DEFAULT_LIST, DncList, PrefixRule
from infra.db.mappers import list_from_row, rule_from_row
from infra.db.models import DncListRow, MirrorChecksumRow, PrefixRuleRow
from infra.db.repositories.base import Repository, texts


class SqlListRepository(Repository):
    async def add(self, dnc_list: DncList, created_by: UUID | None) -> DncList:
        row = await self.session.scalar(
            insert(DncListRow)
            .values(
                organization_id=dnc_list.organization_id,
                id=dnc_list.id,
                name=dnc_list.name,
                description=dnc_list.description,
                kind=dnc_list.kind,
                created_by_user_id=created_by,
            )
            .on_conflict_do_nothing()
            .returning(DncListRow)
        )
        if row is None:
            raise Conflict(f"A list named {dnc_list.name!r} exists already")
        return list_from_row(row, 0)

    async def get(self, organization_id: UUID, list_id: str, lock: bool = False) -> DncList | None:
        query = select(DncListRow).where(
            DncListRow.organization_id == organization_id,
            DncListRow.id == list_id,
            DncListRow.deleted_at.is_(None),
        )
        if lock:
            query = query.with_for_update()
        row = await self.session.scalar(query)
        if row is None:
            return None
        return list_from_row(row, (await self._counts(organization_id, [list_id])).get(list_id, 0))

    async def all(self, organization_id: UUID) -> list[DncList]:
        rows = list(
            await self.session.scalars(
                select(DncListRow)
                .where(
                    DncListRow.organization_id == organization_id, DncListRow.deleted_at.is_(None)
                )
                .order_by((DncListRow.id != DEFAULT_LIST), DncListRow.created_at, DncListRow.id)
            )
        )
        counts = await self._counts(organization_id, [row.id for row in rows])
        return [list_from_row(row, counts.get(row.id, 0)) for row in rows]

    async def missing(self, organization_id: UUID, list_ids: Sequence[str]) -> list[str]:
        return await self._missing(organization_id, list_ids, lock=False)

    async def lock_shared(self, organization_id: UUID, list_ids: Sequence[str]) -> list[str]:
        """FOR SHARE: a delete of one of them waits for the transaction to end."""
        return await self._missing(organization_id, list_ids, lock=True)

    async def _missing(
        self, organization_id: UUID, list_ids: Sequence[str], lock: bool
    ) -> list[str]:
        if not list_ids:
            return []
        query = select(DncListRow.id).where(
            DncListRow.organization_id == organization_id,
            DncListRow.id == any_(texts(list_ids)),
            DncListRow.deleted_at.is_(None),
        )
        if lock:
            query = query.with_for_update(read=True)
        found = set(await self.session.scalars(query))
        return [list_id for list_id in list_ids if list_id not in found]

    async def delete(self, organization_id: UUID, list_id: str, user_id: UUID | None) -> bool:
        deleted = await self.session.scalar(
            update(DncListRow)
            .where(
                DncListRow.organization_id == organization_id,
                DncListRow.id == list_id,
                DncListRow.deleted_at.is_(None),
            )
            .values(deleted_at=func.now(), deleted_by_user_id=user_id)
            .returning(DncListRow.id)
        )
        return deleted is not None

    async def live(self) -> list[tuple[UUID, str]]:
        rows = await self.session.execute(
            select(DncListRow.organization_id, DncListRow.id)
            .where(DncListRow.deleted_at.is_(None))
            .order_by(DncListRow.organization_id, DncListRow.id)
        )
        return [(organization_id, list_id) for organization_id, list_id in rows]

    async def _counts(self, organization_id: UUID, list_ids: Sequence[str]) -> dict[str, int]:
        """Entries not removed, a list: the sum of its checksum rows' counts (migration 0007),
        so the count costs the same whatever the list's size."""
        if not list_ids:
            return {}
        rows = await self.session.execute(
            select(MirrorChecksumRow.list_id, func.sum(MirrorChecksumRow.count))
            .where(
                MirrorChecksumRow.organization_id == organization_id,
                MirrorChecksumRow.list_id == any_(texts(list_ids)),
            )
            .group_by(MirrorChecksumRow.list_id)
        )
        return {list_id: int(count) for list_id, count in rows}


class SqlPrefixRepository(Repository):
    async def add(self, rule: PrefixRule) -> None:
        inserted = await self.session.scalar(
            insert(PrefixRuleRow)
            .values(
                id=rule.id,
                organization_id=rule.organization_id,
                prefix=rule.prefix,
                reason=rule.reason,
                created_by_user_id=rule.created_by,
            )
            .on_conflict_do_nothing()
            .returning(PrefixRuleRow.id)
        )
        if inserted is None:
            raise Conflict(f"The prefix {rule.prefix} is a rule already")

    async def all(self, organization_id: UUID) -> list[PrefixRule]:
        rows = await self.session.scalars(
            select(PrefixRuleRow)
            .where(
                PrefixRuleRow.organization_id == organization_id, PrefixRuleRow.removed_at.is_(None)
            )
            .order_by(PrefixRuleRow.prefix)
        )
        return [rule_from_row(row) for row in rows]

    async def remove(
        self, organization_id: UUID, rule_id: UUID, user_id: UUID | None
    ) -> PrefixRule | None:
        row = await self.session.scalar(
            update(PrefixRuleRow)
            .where(
                PrefixRuleRow.organization_id == organization_id,
                PrefixRuleRow.id == rule_id,
                PrefixRuleRow.removed_at.is_(None),
            )
            .values(removed_at=func.now(), removed_by_user_id=user_id)
            .returning(PrefixRuleRow)
        )
        return rule_from_row(row) if row else None
