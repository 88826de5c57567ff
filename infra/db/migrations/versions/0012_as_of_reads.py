"""as-of reads: entries by number; when a shared list's data changed, and its deletions

Revision ID: 0012_as_of_reads
Revises: 0011_subscription_history
Create Date: 2026-12-07 21:20:00.000000

- ``ix_dnc_entries_org_phone``: a check at a past moment asks which entries of these numbers
  were listed then, among the tombstones too; the history of a number reads them all. The
  only index by number covered the listed entries (``uq_dnc_entries_listed``); this one
  covers every row. It is built ``CONCURRENTLY`` (outside the migration's transaction), so
  writers of a large list are not held up while it builds.
- ``shared_lists.changed_at``: when the list's data last changed here (a load swapped in, a
  change file applied: its numbers, its freshness or both). Only the current data is kept, so
  a check at a moment before it says that it answered that list with later data. Lists loaded
  before this revision get the migration's time: what they held before it is not known.
- ``shared_list_deletions``: each number a change file deleted from a shared list, and when,
  so that a check at an earlier moment still counts it as held then (the safe direction). A
  full load swaps a whole list in without comparing it with the one it replaces (a national
  registry is hundreds of millions of numbers), so the numbers it drops are not recorded;
  nor are deletions before this revision.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012_as_of_reads"
down_revision: str | None = "0011_subscription_history"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("shared_lists", sa.Column("changed_at", sa.DateTime(timezone=True)))
    op.create_table(
        "shared_list_deletions",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("list_id", sa.String(64), nullable=False),
        sa.Column("number", sa.BigInteger(), nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_shared_list_deletions")),
    )
    op.create_index(
        "ix_shared_list_deletions_number",
        "shared_list_deletions",
        ["list_id", "number", "deleted_at"],
    )
    op.execute("UPDATE shared_lists SET changed_at = now() WHERE generation IS NOT NULL")
    with op.get_context().autocommit_block():
        op.execute(
            "CREATE INDEX CONCURRENTLY IF NOT EXISTS ix_dnc_entries_org_phone "
            "ON dnc_entries (organization_id, phone_number, created_at)"
        )


def downgrade() -> None:
    with op.get_context().autocommit_block():
        op.execute("DROP INDEX CONCURRENTLY IF EXISTS ix_dnc_entries_org_phone")
    op.drop_table("shared_list_deletions")
    op.drop_column("shared_lists", "changed_at")
