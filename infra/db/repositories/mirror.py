"""The entries as the mirror's sync and repair read them: checksums, pages."""

from collections.abc import Sequence
from datetime import datetime
from uuid import UUID

from sqlalchemy import (
    any_,
    select,
    text,
)
from sqlalchemy.sql.elements import ColumnElement

from domain.checksum import P1, P2, P3, Checksum
from domain.model import (
    DEFAULT_LIST,
    MirrorTruth,
)
from infra.db.models import (
    DncEntryRow,
)
from infra.db.repositories.base import Repository, texts
from infra.db.repositories.filters import not_removed_matching


class MirrorQueries(Repository):
    async def mirror_truth(
        self, organization_id: UUID, expired_by: datetime, limit: int, list_id: str = DEFAULT_LIST
    ) -> MirrorTruth:
        row = (
            await self.session.execute(
                text(MIRROR_TRUTH),
                {
                    "org": organization_id,
                    "list": list_id,
                    "kind": "mirror.sync",
                    "by": expired_by,
                    "limit": limit + 1,
                },
            )
        ).one()
        pending, enabled, count, sum1, sum2, sum3, expired, prefixes = row
        return MirrorTruth(
            pending=bool(pending),
            enabled=bool(enabled),
            listed=Checksum(int(count), int(sum1), int(sum2), int(sum3)),
            expired=list(expired) if len(expired) <= limit else None,
            prefixes=tuple(prefixes),
        )

    async def fold_checksums(self, organization_id: UUID) -> None:
        await self.session.execute(text(FOLD_CHECKSUMS), {"org": organization_id})

    async def listed_page(
        self,
        organization_id: UUID,
        after: str,
        now: datetime,
        limit: int,
        list_id: str = DEFAULT_LIST,
    ) -> list[tuple[str, bool]]:
        blocks = DncEntryRow.expires_at.is_(None) | (DncEntryRow.expires_at > now)
        rows = await self.session.execute(
            select(DncEntryRow.phone_number, blocks)
            .where(
                *not_removed_matching(organization_id, None, list_id),
                DncEntryRow.phone_number > after,
            )
            .order_by(DncEntryRow.phone_number)
            .limit(limit)
        )
        return [(number, bool(blocking)) for number, blocking in rows]

    async def listed_among(
        self, organization_id: UUID, numbers: Sequence[str], list_id: str = DEFAULT_LIST
    ) -> set[str]:
        return await self._among(numbers, *not_removed_matching(organization_id, None, list_id))

    async def _among(self, numbers: Sequence[str], *where: ColumnElement[bool]) -> set[str]:
        """Those of ``numbers`` whose entry the conditions select."""
        if not numbers:
            return set()
        rows = await self.session.scalars(
            select(DncEntryRow.phone_number).where(
                *where, DncEntryRow.phone_number == any_(texts(numbers))
            )
        )
        return set(rows)


# One snapshot (one statement): mirror syncs pending (of the organization), the flag, the
# checksum of the list's listed entries (the sum of the trigger-written rows, see migrations
# 0005 and 0007), and its listed entries that expire by :by (from the expiry index; the
# expiry job keeps that list short).
MIRROR_TRUTH = f"""
SELECT EXISTS (SELECT 1 FROM outbox WHERE organization_id = :org AND kind = :kind
               AND processed_at IS NULL) AS pending,
       coalesce((SELECT dnc_enabled FROM organizations WHERE id = :org), true) AS enabled,
       c.count, c.sum1, c.sum2, c.sum3,
       ARRAY(SELECT phone_number FROM dnc_entries WHERE organization_id = :org
             AND list_id = :list AND removed_at IS NULL AND expires_at <= :by
             ORDER BY expires_at LIMIT :limit) AS expired,
       ARRAY(SELECT prefix FROM dnc_prefixes WHERE organization_id = :org
             AND removed_at IS NULL ORDER BY prefix) AS prefixes
FROM (SELECT coalesce(sum(count), 0) AS count, coalesce(sum(sum1), 0) % {P1} AS sum1,
             coalesce(sum(sum2), 0) % {P2} AS sum2, coalesce(sum(sum3), 0) % {P3} AS sum3
      FROM mirror_checksums WHERE organization_id = :org AND list_id = :list) AS c
"""  # noqa: S608 (constants, no input)

# Fold an organization's checksum rows into one a list (when there are more). Rows committed
# meanwhile are not in this statement's snapshot, so they are neither deleted nor counted.
FOLD_CHECKSUMS = f"""
WITH gone AS (
  DELETE FROM mirror_checksums WHERE organization_id = :org
  AND (SELECT count(*) FROM mirror_checksums WHERE organization_id = :org)
      > (SELECT count(DISTINCT list_id) FROM mirror_checksums WHERE organization_id = :org)
  RETURNING list_id, count, sum1, sum2, sum3
)
INSERT INTO mirror_checksums (organization_id, list_id, count, sum1, sum2, sum3)
SELECT :org, list_id, sum(count), sum(sum1) % {P1}, sum(sum2) % {P2}, sum(sum3) % {P3}
FROM gone GROUP BY list_id
"""  # noqa: S608 (constants, no input)
