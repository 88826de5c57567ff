"""dnc_entries.requested_at: when the call that asked for the entry took place

Revision ID: 0009_entry_requested_at
Revises: 0008_shared_lists
Create Date: 2026-12-02 10:20:00.000000

An entry added from a call records the call's time (its end when its start and duration are
known, else its start, else when it was recorded), so a report can show how soon a request
was enforced (the entry's ``created_at``). Entries made before this revision have none. A
nullable column without a default: adding it rewrites nothing, whatever the table's size.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009_entry_requested_at"
down_revision: str | None = "0008_shared_lists"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("dnc_entries", sa.Column("requested_at", sa.DateTime(timezone=True)))


def downgrade() -> None:
    op.drop_column("dnc_entries", "requested_at")
