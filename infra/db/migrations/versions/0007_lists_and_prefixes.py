"""lists and prefix rules: named lists beside the org-wide one, entries per list, prefix rules

Revision ID: 0007_lists_and_prefixes
Revises: 0006_drop_settings_version
Create Date: 2026-12-02 01:30:00.000000

Every organization gets its org-wide list (id ``default``, kind ``org``); every existing entry
belongs to it (``dnc_entries.list_id`` defaults to ``default``: adding the column rewrites no
row). "Listed" becomes "listed on that list": the unique index of listed numbers and the
newest-first index gain ``list_id``. The mirror's checksum rows are kept per list (the
trigger groups by organization and list; the primes are written out, as in 0005). Audit
events name the list they concern (null: the organization as a whole), and so do imports.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007_lists_and_prefixes"
down_revision: str | None = "0006_drop_settings_version"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

P1, P2, P3 = 67_108_859, 67_108_837, 67_108_819


def _function(keys: str) -> str:
    """The checksum trigger of 0005, grouping by ``keys``."""
    insert = f"INSERT INTO mirror_checksums ({keys}, count, sum1, sum2, sum3)"

    def sums(rows: str) -> str:
        return (
            f"SELECT {keys}, sum(sign)::bigint AS count, "  # noqa: S608 (constants)
            f"((sum(sign * (n % {P1})) % {P1} + {P1}) % {P1})::bigint AS sum1, "
            f"((sum(sign * (n % {P2})) % {P2} + {P2}) % {P2})::bigint AS sum2, "
            f"((sum(sign * ((n % {P3}) * (n % {P3}) % {P3})) % {P3} + {P3}) % {P3})::bigint "
            f"AS sum3 FROM ({rows}) AS t GROUP BY {keys}"
        )

    def listed(table: str, sign: int, where: str = "") -> str:
        return (
            f"SELECT {keys}, phone_number::bigint AS n, {sign} AS sign "  # noqa: S608
            f"FROM {table} WHERE removed_at IS NULL {where}"
        )

    inserted = sums(listed("new_rows", 1))
    updated = sums(f"{listed('new_rows', 1)} UNION ALL {listed('old_rows', -1)}")
    deleted = sums(listed("old_rows", -1, "AND organization_id IN (SELECT id FROM organizations)"))
    return f"""
CREATE OR REPLACE FUNCTION dnc_mirror_checksum() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    {insert} {inserted};
  ELSIF TG_OP = 'UPDATE' THEN  -- only what changed whether a row is listed
    {insert} SELECT * FROM ({updated}) AS d
    WHERE count <> 0 OR sum1 <> 0 OR sum2 <> 0 OR sum3 <> 0;
  ELSE  -- DELETE; not for an organization being deleted (its checksum rows go with it)
    {insert} {deleted};
  END IF;
  RETURN NULL;
END
$$
"""  # noqa: S608 (constants, no input)


def upgrade() -> None:
    op.create_table(
        "dnc_lists",
        sa.Column("organization_id", sa.UUID(), nullable=False),
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("created_by_user_id", sa.UUID(), nullable=True),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("deleted_by_user_id", sa.UUID(), nullable=True),
        sa.CheckConstraint("kind IN ('org', 'campaign')", name=op.f("ck_dnc_lists_kind")),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_dnc_lists_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["created_by_user_id"],
            ["users.id"],
            name=op.f("fk_dnc_lists_created_by_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["deleted_by_user_id"],
            ["users.id"],
            name=op.f("fk_dnc_lists_deleted_by_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("organization_id", "id", name=op.f("pk_dnc_lists")),
    )
    op.create_index(
        "uq_dnc_lists_name",
        "dnc_lists",
        ["organization_id", sa.text("lower(name)")],
        unique=True,
        postgresql_where=sa.text("deleted_at IS NULL"),
    )
    op.execute(
        "INSERT INTO dnc_lists (organization_id, id, name, kind, created_at) "
        "SELECT id, 'default', 'Org-wide list', 'org', created_at FROM organizations"
    )

    op.add_column(
        "dnc_entries",
        sa.Column("list_id", sa.String(64), server_default="default", nullable=False),
    )
    op.drop_index("uq_dnc_entries_listed", table_name="dnc_entries")
    op.create_index(
        "uq_dnc_entries_listed",
        "dnc_entries",
        ["organization_id", "list_id", "phone_number"],
        unique=True,
        postgresql_where=sa.text("removed_at IS NULL"),
    )
    op.drop_index("ix_dnc_entries_org_created", table_name="dnc_entries")
    op.create_index(
        "ix_dnc_entries_org_created",
        "dnc_entries",
        ["organization_id", "list_id", "created_at", "id"],
    )

    op.add_column(
        "mirror_checksums",
        sa.Column("list_id", sa.String(64), server_default="default", nullable=False),
    )
    op.execute(_function("organization_id, list_id"))

    op.add_column("audit_log", sa.Column("list_id", sa.String(64), nullable=True))
    op.add_column(
        "imports",
        sa.Column("list_id", sa.String(64), server_default="default", nullable=False),
    )

    op.create_table(
        "dnc_prefixes",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("organization_id", sa.UUID(), nullable=False),
        sa.Column("prefix", sa.String(15), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("created_by_user_id", sa.UUID(), nullable=True),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column("removed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("removed_by_user_id", sa.UUID(), nullable=True),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_dnc_prefixes_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["created_by_user_id"],
            ["users.id"],
            name=op.f("fk_dnc_prefixes_created_by_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["removed_by_user_id"],
            ["users.id"],
            name=op.f("fk_dnc_prefixes_removed_by_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dnc_prefixes")),
    )
    op.create_index(
        "uq_dnc_prefixes_active",
        "dnc_prefixes",
        ["organization_id", "prefix"],
        unique=True,
        postgresql_where=sa.text("removed_at IS NULL"),
    )


def downgrade() -> None:
    """Back to one list an organization: the named lists' entries are deleted (the org-wide
    list's stay), and the prefix rules go."""
    op.drop_index("uq_dnc_prefixes_active", table_name="dnc_prefixes")
    op.drop_table("dnc_prefixes")
    op.drop_column("imports", "list_id")
    op.drop_column("audit_log", "list_id")
    op.execute("DELETE FROM dnc_entries WHERE list_id <> 'default'")
    op.execute("DELETE FROM mirror_checksums WHERE list_id <> 'default'")
    op.execute(_function("organization_id"))
    op.drop_column("mirror_checksums", "list_id")
    op.drop_index("ix_dnc_entries_org_created", table_name="dnc_entries")
    op.create_index(
        "ix_dnc_entries_org_created", "dnc_entries", ["organization_id", "created_at", "id"]
    )
    op.drop_index("uq_dnc_entries_listed", table_name="dnc_entries")
    op.create_index(
        "uq_dnc_entries_listed",
        "dnc_entries",
        ["organization_id", "phone_number"],
        unique=True,
        postgresql_where=sa.text("removed_at IS NULL"),
    )
    op.drop_column("dnc_entries", "list_id")
    op.drop_index("uq_dnc_lists_name", table_name="dnc_lists")
    op.drop_table("dnc_lists")
