"""shared lists (registries) and subscriptions to them; business-relationship exemptions

Revision ID: 0008_shared_lists
Revises: 0007_lists_and_prefixes
Create Date: 2026-12-02 04:30:00.000000

A shared list (the national registry's area codes, a state list, a litigator list) belongs to
no organization: operators load it, organizations subscribe to it. Its numbers are lean rows
(one ``bigint`` each, no evidence) in a table of their own per load, in the schema
``shared_numbers`` (``shared_numbers.g<generation>``, generations from the sequence
``shared_list_generations``): a load fills a new table and swaps it in by updating the list's
``generation`` in one transaction. The list's row keeps the checksum of its numbers (count and
three sums, as ``domain/checksum.py``) for the reconciliation.

An exemption (an established business relationship, or written consent) lifts an
organization's shared lists for one number until ``lapses_at`` (null: until deleted).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008_shared_lists"
down_revision: str | None = "0007_lists_and_prefixes"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("CREATE SCHEMA IF NOT EXISTS shared_numbers")
    op.execute("CREATE SEQUENCE shared_list_generations")
    op.create_table(
        "shared_lists",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("max_age_days", sa.Integer(), nullable=False),
        sa.Column("downloaded_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("loaded_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("generation", sa.BigInteger(), nullable=True),
        sa.Column("count", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("sum1", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("sum2", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("sum3", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.CheckConstraint(
            "kind IN ('registry', 'state', 'litigator')", name=op.f("ck_shared_lists_kind")
        ),
        sa.CheckConstraint("max_age_days > 0", name=op.f("ck_shared_lists_max_age_days")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_shared_lists")),
    )
    op.create_index("uq_shared_lists_name", "shared_lists", [sa.text("lower(name)")], unique=True)
    op.create_table(
        "shared_list_subscriptions",
        sa.Column("organization_id", sa.UUID(), nullable=False),
        sa.Column("list_id", sa.String(64), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_shared_list_subscriptions_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["list_id"],
            ["shared_lists.id"],
            name=op.f("fk_shared_list_subscriptions_list_id_shared_lists"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "organization_id", "list_id", name=op.f("pk_shared_list_subscriptions")
        ),
    )
    op.create_index(
        "ix_shared_list_subscriptions_list_id", "shared_list_subscriptions", ["list_id"]
    )
    op.create_table(
        "exemptions",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("organization_id", sa.UUID(), nullable=False),
        sa.Column("phone_number", sa.String(15), nullable=False),
        sa.Column("basis", sa.String(32), nullable=False),
        sa.Column("since", sa.DateTime(timezone=True), nullable=False),
        sa.Column("lapses_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_by_user_id", sa.UUID(), nullable=True),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("deleted_by_user_id", sa.UUID(), nullable=True),
        sa.CheckConstraint(
            "basis IN ('ebr_purchase', 'ebr_inquiry', 'written_consent')",
            name=op.f("ck_exemptions_basis"),
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_exemptions_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["created_by_user_id"],
            ["users.id"],
            name=op.f("fk_exemptions_created_by_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["deleted_by_user_id"],
            ["users.id"],
            name=op.f("fk_exemptions_deleted_by_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_exemptions")),
    )
    op.create_index(
        "ix_exemptions_live",
        "exemptions",
        ["organization_id", "phone_number"],
        postgresql_where=sa.text("deleted_at IS NULL"),
    )
    op.create_index(
        "ix_exemptions_org_created", "exemptions", ["organization_id", "created_at", "id"]
    )


def downgrade() -> None:
    op.drop_index("ix_exemptions_org_created", table_name="exemptions")
    op.drop_index("ix_exemptions_live", table_name="exemptions")
    op.drop_table("exemptions")
    op.drop_index("ix_shared_list_subscriptions_list_id", table_name="shared_list_subscriptions")
    op.drop_table("shared_list_subscriptions")
    op.drop_index("uq_shared_lists_name", table_name="shared_lists")
    op.drop_table("shared_lists")
    op.execute("DROP SEQUENCE shared_list_generations")
    op.execute("DROP SCHEMA shared_numbers CASCADE")
