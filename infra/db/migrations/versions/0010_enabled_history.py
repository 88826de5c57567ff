"""dnc_enabled_changes: the history of each organization's DNC switch, for as-of checks

Revision ID: 0010_enabled_history
Revises: 0009_entry_requested_at
Create Date: 2026-12-07 21:10:00.000000

A check at a past moment (``at=`` on both checks) answers with the switch as it was then. A
trigger on ``organizations`` appends one row per change of ``dnc_enabled`` (and one for the
organization's creation, at its ``created_at``), so every path that flips it (the API, SQL
typed by hand) is recorded, at its transaction's time like every other ``*_at`` of the schema.

The upgrade backfills the history from the audit log: the organization's state at its
creation is the ``before`` of its first ``dnc.enable``/``dnc.disable`` event (its current
state when it has none), then one row per event with the event's ``after``. A switch flipped
by hand in SQL before this revision (never audited) cannot be recovered.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010_enabled_history"
down_revision: str | None = "0009_entry_requested_at"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FUNCTION = """
CREATE FUNCTION dnc_enabled_history() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    INSERT INTO dnc_enabled_changes (organization_id, enabled, changed_at)
    VALUES (NEW.id, NEW.dnc_enabled, NEW.created_at);
  ELSIF NEW.dnc_enabled IS DISTINCT FROM OLD.dnc_enabled THEN
    INSERT INTO dnc_enabled_changes (organization_id, enabled, changed_at)
    VALUES (NEW.id, NEW.dnc_enabled, now());
  END IF;
  RETURN NULL;
END $$
"""

BACKFILL = """
WITH toggles AS (
  SELECT organization_id, created_at, id,
         (before ->> 'enabled')::boolean AS was, (after ->> 'enabled')::boolean AS now_is
  FROM audit_log WHERE action IN ('dnc.enable', 'dnc.disable')
), first AS (
  SELECT DISTINCT ON (organization_id) organization_id, was
  FROM toggles ORDER BY organization_id, created_at, id
)
INSERT INTO dnc_enabled_changes (organization_id, enabled, changed_at)
SELECT o.id, coalesce(first.was, o.dnc_enabled), o.created_at
FROM organizations o LEFT JOIN first ON first.organization_id = o.id
UNION ALL
SELECT organization_id, now_is, created_at FROM toggles WHERE now_is IS NOT NULL
"""


def upgrade() -> None:
    op.create_table(
        "dnc_enabled_changes",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("organization_id", sa.UUID(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_dnc_enabled_changes_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dnc_enabled_changes")),
    )
    op.create_index(
        "ix_dnc_enabled_changes_org_changed",
        "dnc_enabled_changes",
        ["organization_id", "changed_at", "id"],
    )
    op.execute(FUNCTION)
    # (CREATE TRIGGER holds off writes to organizations until the migration commits: no
    # toggle falls between the backfill and the trigger)
    op.execute(
        "CREATE TRIGGER dnc_enabled_history AFTER INSERT OR UPDATE OF dnc_enabled "
        "ON organizations FOR EACH ROW EXECUTE FUNCTION dnc_enabled_history()"
    )
    op.execute(BACKFILL)


def downgrade() -> None:
    op.execute("DROP TRIGGER dnc_enabled_history ON organizations")
    op.execute("DROP FUNCTION dnc_enabled_history()")
    op.drop_table("dnc_enabled_changes")
