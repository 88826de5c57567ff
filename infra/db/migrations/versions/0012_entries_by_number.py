"""ix_dnc_entries_org_phone: every entry of a number, listed or removed, found by index

Revision ID: 0012_entries_by_number
Revises: 0011_subscription_history
Create Date: 2026-12-07 21:20:00.000000

A check at a past moment asks which entries of these numbers were listed then, among the
tombstones too; the history of a number reads them all. The only index by number covered the
listed entries (``uq_dnc_entries_listed``); this one covers every row. It is built
``CONCURRENTLY`` (outside the migration's transaction), so writers of a large list are not
held up while it builds.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0012_entries_by_number"
down_revision: str | None = "0011_subscription_history"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.get_context().autocommit_block():
        op.execute(
            "CREATE INDEX CONCURRENTLY IF NOT EXISTS ix_dnc_entries_org_phone "
            "ON dnc_entries (organization_id, phone_number, created_at)"
        )


def downgrade() -> None:
    with op.get_context().autocommit_block():
        op.execute("DROP INDEX CONCURRENTLY IF EXISTS ix_dnc_entries_org_phone")
