"""an UPDATE's references looked up for each row whose key changed, not by set difference

Revision ID: 0017_references_row_by_row
Revises: 0016_statement_references
Create Date: 2026-12-08 02:00:00.000000

0016 looked up (and locked ``FOR KEY SHARE``) only the keys of an UPDATE's new rows that none
of its old rows held. One statement that sets a user on a row while another row it updates
held that user already took no lock on the user: a concurrent delete of the user cleared the
row it could see and left the other naming a user that no longer exists. A foreign key checks
each row whose key changed; so do these functions now, pairing each new row with its old one
by id (a row whose id changed counts as changed in every key).
"""

import importlib
from collections.abc import Sequence

from alembic import op

revision: str = "0017_references_row_by_row"
down_revision: str | None = "0016_statement_references"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

previous = importlib.import_module("infra.db.migrations.versions.0016_statement_references")

COLUMNS = ("organization_id", "batch_pk", "call_record_id", "added_by_user_id",
           "removed_by_user_id")  # fmt: skip
# each new row's keys that differ from its old row's (NULL where a key did not change)
PAIRED = ", ".join(f"CASE WHEN n.{c} IS DISTINCT FROM o.{c} THEN n.{c} END AS {c}" for c in COLUMNS)
CHANGED = f"(SELECT {PAIRED} FROM new_rows n LEFT JOIN old_rows o ON o.id = n.id) AS changed"  # noqa: S608

ENTRIES_WRITTEN = f"""
CREATE OR REPLACE FUNCTION dnc_entries_references() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  orgs uuid[]; batches uuid[]; calls uuid[]; adders uuid[]; removers uuid[];
BEGIN
  IF TG_OP = 'UPDATE' THEN
    {previous.KEYS.format(into="orgs, batches, calls, adders, removers", rows=CHANGED)}
  ELSE
    {previous.KEYS.format(into="orgs, batches, calls, adders, removers", rows="new_rows")}
  END IF;
  PERFORM dnc_require_keys(orgs, 'organizations', TG_TABLE_NAME, 'organization_id');
  PERFORM dnc_require_keys(batches, 'batches', TG_TABLE_NAME, 'batch_pk');
  PERFORM dnc_require_keys(calls, 'call_records', TG_TABLE_NAME, 'call_record_id');
  PERFORM dnc_require_keys(adders, 'users', TG_TABLE_NAME, 'added_by_user_id');
  PERFORM dnc_require_keys(removers, 'users', TG_TABLE_NAME, 'removed_by_user_id');
  RETURN NULL;
END
$$
"""

AUDIT_WRITTEN = """
CREATE OR REPLACE FUNCTION dnc_audit_references() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  orgs uuid[];
BEGIN
  IF TG_OP = 'UPDATE' THEN
    orgs := ARRAY(SELECT DISTINCT n.organization_id FROM new_rows n
                    LEFT JOIN old_rows o ON o.id = n.id
                   WHERE n.organization_id IS DISTINCT FROM o.organization_id
                     AND n.organization_id IS NOT NULL);
  ELSE
    orgs := ARRAY(SELECT DISTINCT organization_id FROM new_rows
                   WHERE organization_id IS NOT NULL);
  END IF;
  PERFORM dnc_require_keys(orgs, 'organizations', TG_TABLE_NAME, 'organization_id');
  RETURN NULL;
END
$$
"""


def upgrade() -> None:
    op.execute(ENTRIES_WRITTEN)
    op.execute(AUDIT_WRITTEN)


def downgrade() -> None:
    for body in (previous.ENTRIES_WRITTEN, previous.AUDIT_WRITTEN):
        op.execute(body.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1))
