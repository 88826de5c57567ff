"""drop organizations.settings_version: written on every DNC switch, never read

Revision ID: 0006_drop_settings_version
Revises: 0005_mirror_checksums
Create Date: 2026-12-01 23:30:00.000000

The downgrade adds the column back as it was created (``0`` for every organization).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006_drop_settings_version"
down_revision: str | None = "0005_mirror_checksums"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_column("organizations", "settings_version")


def downgrade() -> None:
    op.add_column(
        "organizations",
        sa.Column("settings_version", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
    )
