"""mirror checksums: the checksum of each organization's listed entries, kept by triggers

Revision ID: 0005_mirror_checksums
Revises: 0004_imports_relay
Create Date: 2026-11-24 10:00:00.000000

The checksum (``domain/checksum.py``; the primes are written out here, as a migration must not
change with the code) of an organization's listed entries (``removed_at IS NULL``) is the sum
of its ``mirror_checksums`` rows. Statement-level triggers on ``dnc_entries`` append one row
per statement and organization, from the statement's transition tables, so every write path
(the API, the CSV import, the expiry job, SQL typed by hand) keeps it, and concurrent writers
never wait on one another's counter row. The upgrade backfills one row per organization from
the existing entries; ``CREATE TRIGGER`` holds off writes to ``dnc_entries`` until the
migration commits, so none is missed.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005_mirror_checksums"
down_revision: str | None = "0004_imports_relay"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

P1, P2, P3 = 67_108_859, 67_108_837, 67_108_819

INSERT = "INSERT INTO mirror_checksums (organization_id, count, sum1, sum2, sum3)"


def _sums(rows: str) -> str:
    """Per organization: the count and the three sums of ``rows`` (organization_id, n, sign),
    each sum reduced to its residue in [0, p)."""
    return (
        "SELECT organization_id, sum(sign)::bigint AS count, "  # noqa: S608 (constants)
        f"((sum(sign * (n % {P1})) % {P1} + {P1}) % {P1})::bigint AS sum1, "
        f"((sum(sign * (n % {P2})) % {P2} + {P2}) % {P2})::bigint AS sum2, "
        f"((sum(sign * ((n % {P3}) * (n % {P3}) % {P3})) % {P3} + {P3}) % {P3})::bigint AS sum3 "
        f"FROM ({rows}) AS t GROUP BY organization_id"
    )


def _listed(table: str, sign: int, where: str = "") -> str:
    return (
        f"SELECT organization_id, phone_number::bigint AS n, {sign} AS sign "  # noqa: S608
        f"FROM {table} WHERE removed_at IS NULL {where}"
    )


INSERTED = _sums(_listed("new_rows", 1))
UPDATED = _sums(f"{_listed('new_rows', 1)} UNION ALL {_listed('old_rows', -1)}")
DELETED = _sums(_listed("old_rows", -1, "AND organization_id IN (SELECT id FROM organizations)"))

FUNCTION = f"""
CREATE FUNCTION dnc_mirror_checksum() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    {INSERT} {INSERTED};
  ELSIF TG_OP = 'UPDATE' THEN  -- only what changed whether a row is listed
    {INSERT} SELECT * FROM ({UPDATED}) AS d
    WHERE count <> 0 OR sum1 <> 0 OR sum2 <> 0 OR sum3 <> 0;
  ELSE  -- DELETE; not for an organization being deleted (its checksum rows go with it)
    {INSERT} {DELETED};
  END IF;
  RETURN NULL;
END
$$
"""  # noqa: S608 (constants, no input)


def upgrade() -> None:
    op.create_table(
        "mirror_checksums",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("organization_id", sa.UUID(), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.Column("sum1", sa.BigInteger(), nullable=False),
        sa.Column("sum2", sa.BigInteger(), nullable=False),
        sa.Column("sum3", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_mirror_checksums_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mirror_checksums")),
    )
    op.create_index(
        op.f("ix_mirror_checksums_organization_id"),
        "mirror_checksums",
        ["organization_id"],
        unique=False,
    )
    op.execute(FUNCTION)
    for event, tables in (
        ("INSERT", "NEW TABLE AS new_rows"),
        ("UPDATE", "OLD TABLE AS old_rows NEW TABLE AS new_rows"),
        ("DELETE", "OLD TABLE AS old_rows"),
    ):
        op.execute(
            f"CREATE TRIGGER dnc_mirror_checksum_{event.lower()} AFTER {event} ON dnc_entries "
            f"REFERENCING {tables} FOR EACH STATEMENT EXECUTE FUNCTION dnc_mirror_checksum()"
        )
    op.execute(f"{INSERT} {_sums(_listed('dnc_entries', 1))}")  # the backfill


def downgrade() -> None:
    for event in ("insert", "update", "delete"):
        op.execute(f"DROP TRIGGER dnc_mirror_checksum_{event} ON dnc_entries")
    op.execute("DROP FUNCTION dnc_mirror_checksum()")
    op.drop_index(op.f("ix_mirror_checksums_organization_id"), table_name="mirror_checksums")
    op.drop_table("mirror_checksums")
