"""check_receipts: receipted checks, kept as evidence

Revision ID: 0013_check_receipts
Revises: 0012_as_of_reads
Create Date: 2026-12-07 21:20:00.000000

One row a receipted check: the question and the answer exactly as it was sent, each
compressed with zlib by the service (``infra/db/receipts.py``) into one ``bytea``, so a
50,000-number answer is one row written by one INSERT. Their storage is EXTERNAL: the values
are compressed already, so Postgres stores them out of line without trying to compress them
again. Looked up by id (and organization) only; nothing deletes them.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0013_check_receipts"
down_revision: str | None = "0012_as_of_reads"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "check_receipts",
        sa.Column("id", postgresql.UUID(), nullable=False),
        sa.Column(
            "organization_id",
            postgresql.UUID(),
            sa.ForeignKey(
                "organizations.id",
                ondelete="CASCADE",
                name="fk_check_receipts_organization_id_organizations",
            ),
            nullable=False,
        ),
        sa.Column(
            "asked_by",
            postgresql.UUID(),
            sa.ForeignKey("users.id", ondelete="SET NULL", name="fk_check_receipts_asked_by_users"),
        ),
        sa.Column("asked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("numbers", sa.Integer(), nullable=False),
        sa.Column("question", sa.LargeBinary(), nullable=False),
        sa.Column("answer", sa.LargeBinary(), nullable=False),
        sa.Column("versions", postgresql.JSONB(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_check_receipts"),
    )
    op.execute("ALTER TABLE check_receipts ALTER COLUMN question SET STORAGE EXTERNAL")
    op.execute("ALTER TABLE check_receipts ALTER COLUMN answer SET STORAGE EXTERNAL")


def downgrade() -> None:
    op.drop_table("check_receipts")
