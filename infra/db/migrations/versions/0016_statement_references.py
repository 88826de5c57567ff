"""references checked once per statement on the two tables written a million rows at a time

Revision ID: 0016_statement_references
Revises: 0015_console_sessions
Create Date: 2026-12-08 00:30:00.000000

A foreign key checks every inserted row on its own: a million-row import into ``dnc_entries``
ran the organization's check a million times (12 s of the import, measured with EXPLAIN
ANALYZE), and each of the four nullable references (batch, call, the users who added and
removed) cost 1.4 to 2 s more even when NULL; its million audit rows paid the same for
``audit_log``'s organization. Here those six foreign keys are replaced by statement-level
triggers that keep the same promises:

- **A row written must reference rows that exist.** After each INSERT or UPDATE statement on
  ``dnc_entries`` or ``audit_log``, the distinct keys of the statement's new rows (one pass
  over its transition table; for an UPDATE, the keys of each row whose key changed, its new
  row paired with its old one by id, as a foreign key checks) are looked up and locked
  ``FOR KEY SHARE``, the lock a foreign key takes, so a parent cannot be deleted or re-keyed
  until the writer commits; a missing one raises ``foreign_key_violation`` naming the old
  constraint.
- **Deleting a parent does what the foreign key did**: an organization's entries and audit
  rows go with it (CASCADE); a user's entries keep their rows with ``added_by_user_id`` /
  ``removed_by_user_id`` cleared (SET NULL); a batch or call that an entry still cites cannot
  be deleted (NO ACTION). Each runs once per DELETE statement, from its transition table.
- **A parent's id never changes** (an UPDATE of it is refused).

What a foreign key did that these do not: ``TRUNCATE`` of a parent alone does not reach the
entries (``organizations``, ``users`` and ``batches`` are still referenced by other foreign
keys, so only ``TRUNCATE ... CASCADE`` or one listing the child tables gets through; for
``call_records``, cited only by entries, an operator must truncate ``dnc_entries`` with it).
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0016_statement_references"
down_revision: str | None = "0015_console_sessions"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (child table, column, parent table, ON DELETE) of each foreign key replaced (None: NO ACTION)
REFERENCES = (
    ("dnc_entries", "organization_id", "organizations", "CASCADE"),
    ("dnc_entries", "batch_pk", "batches", None),
    ("dnc_entries", "call_record_id", "call_records", None),
    ("dnc_entries", "added_by_user_id", "users", "SET NULL"),
    ("dnc_entries", "removed_by_user_id", "users", "SET NULL"),
    ("audit_log", "organization_id", "organizations", "CASCADE"),
)
PARENTS = ("organizations", "batches", "call_records", "users")


def _name(child: str, column: str, parent: str) -> str:
    return f"fk_{child}_{column}_{parent}"


REQUIRE = """
CREATE FUNCTION dnc_require_keys(keys uuid[], parent regclass, child text, col text)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  held uuid[];
  missing uuid;
BEGIN
  IF coalesce(cardinality(keys), 0) = 0 THEN
    RETURN;
  END IF;
  EXECUTE format('SELECT array_agg(id) FROM (SELECT id FROM %s WHERE id = ANY($1) '
                 'FOR KEY SHARE) AS p', parent) INTO held USING keys;
  SELECT k INTO missing FROM unnest(keys) AS k WHERE k <> ALL (coalesce(held, '{}')) LIMIT 1;
  IF missing IS NOT NULL THEN
    RAISE EXCEPTION 'insert or update on table "%" violates foreign key constraint "%"',
        child, format('fk_%s_%s_%s', child, col, parent)
      USING ERRCODE = 'foreign_key_violation', TABLE = child, COLUMN = col,
        CONSTRAINT = format('fk_%s_%s_%s', child, col, parent),
        DETAIL = format('Key (%s)=(%s) is not present in table "%s".', col, missing, parent);
  END IF;
END
$$
"""

# The distinct keys of each column in one pass over a transition table (grouping sets, hashed
# together).
KEYS = """
  SELECT array_agg(organization_id) FILTER (WHERE organization_id IS NOT NULL),
         array_agg(batch_pk) FILTER (WHERE batch_pk IS NOT NULL),
         array_agg(call_record_id) FILTER (WHERE call_record_id IS NOT NULL),
         array_agg(added_by_user_id) FILTER (WHERE added_by_user_id IS NOT NULL),
         array_agg(removed_by_user_id) FILTER (WHERE removed_by_user_id IS NOT NULL)
    INTO orgs, batches, calls, adders, removers
    FROM (SELECT organization_id, batch_pk, call_record_id, added_by_user_id,
                 removed_by_user_id
            FROM {rows}
           GROUP BY GROUPING SETS ((organization_id), (batch_pk), (call_record_id),
                                   (added_by_user_id), (removed_by_user_id))) AS k;
"""
COLUMNS = ("organization_id", "batch_pk", "call_record_id", "added_by_user_id",
           "removed_by_user_id")  # fmt: skip
# An UPDATE's rows as the keys that changed: each new row paired with its old one by id (a row
# whose id changed counts as changed in every key), NULL where a key did not change; a foreign
# key likewise checks each row whose key changed, and only those.
PAIRED = ", ".join(f"CASE WHEN n.{c} IS DISTINCT FROM o.{c} THEN n.{c} END AS {c}" for c in COLUMNS)
CHANGED = f"(SELECT {PAIRED} FROM new_rows n LEFT JOIN old_rows o ON o.id = n.id) AS changed"  # noqa: S608 (constants)

ENTRIES_WRITTEN = f"""
CREATE FUNCTION dnc_entries_references() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  orgs uuid[]; batches uuid[]; calls uuid[]; adders uuid[]; removers uuid[];
BEGIN
  IF TG_OP = 'UPDATE' THEN
    {KEYS.format(rows=CHANGED)}
  ELSE
    {KEYS.format(rows="new_rows")}
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
CREATE FUNCTION dnc_audit_references() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  orgs uuid[];
BEGIN
  IF TG_OP = 'UPDATE' THEN  -- each row whose key changed, as above
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

ORGANIZATIONS_DELETED = """
CREATE FUNCTION dnc_organizations_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  DELETE FROM dnc_entries WHERE organization_id IN (SELECT id FROM old_rows);
  DELETE FROM audit_log WHERE organization_id IN (SELECT id FROM old_rows);
  RETURN NULL;
END
$$
"""

USERS_DELETED = """
CREATE FUNCTION dnc_users_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  -- not the entries of an organization deleted with its users: they go with it
  UPDATE dnc_entries
     SET added_by_user_id = CASE WHEN added_by_user_id IN (SELECT id FROM old_rows)
                                 THEN NULL ELSE added_by_user_id END,
         removed_by_user_id = CASE WHEN removed_by_user_id IN (SELECT id FROM old_rows)
                                   THEN NULL ELSE removed_by_user_id END
   WHERE (added_by_user_id IN (SELECT id FROM old_rows)
          OR removed_by_user_id IN (SELECT id FROM old_rows))
     AND organization_id IN (SELECT id FROM organizations);
  RETURN NULL;
END
$$
"""

CITED_DELETED = """
CREATE FUNCTION dnc_cited_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  cited uuid;
BEGIN
  EXECUTE format('SELECT e.%1$I FROM dnc_entries e WHERE e.%1$I IN (SELECT id FROM old_rows) '
                 'LIMIT 1', TG_ARGV[0]) INTO cited;
  IF cited IS NOT NULL THEN
    RAISE EXCEPTION 'update or delete on table "%" violates foreign key constraint "%" on '
        'table "dnc_entries"', TG_TABLE_NAME,
        format('fk_dnc_entries_%s_%s', TG_ARGV[0], TG_TABLE_NAME)
      USING ERRCODE = 'foreign_key_violation', TABLE = 'dnc_entries',
        CONSTRAINT = format('fk_dnc_entries_%s_%s', TG_ARGV[0], TG_TABLE_NAME),
        DETAIL = format('Key (id)=(%s) is still referenced from table "dnc_entries".', cited);
  END IF;
  RETURN NULL;
END
$$
"""

KEY_CHANGED = """
CREATE FUNCTION dnc_refuse_key_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'the id of a row of "%" cannot change', TG_TABLE_NAME
    USING ERRCODE = 'foreign_key_violation', TABLE = TG_TABLE_NAME;
END
$$
"""

FUNCTIONS = (
    ("dnc_require_keys(uuid[], regclass, text, text)", REQUIRE),
    ("dnc_entries_references()", ENTRIES_WRITTEN),
    ("dnc_audit_references()", AUDIT_WRITTEN),
    ("dnc_organizations_deleted()", ORGANIZATIONS_DELETED),
    ("dnc_users_deleted()", USERS_DELETED),
    ("dnc_cited_deleted()", CITED_DELETED),
    ("dnc_refuse_key_change()", KEY_CHANGED),
)

# (trigger, table, when, function call)
TRIGGERS = (
    *(
        (f"{table}_references_{event.lower()}", table,
         f"AFTER {event} ON {table} REFERENCING {tables} FOR EACH STATEMENT",
         f"{function}()")
        for table, function in (
            ("dnc_entries", "dnc_entries_references"),
            ("audit_log", "dnc_audit_references"),
        )
        for event, tables in (
            ("INSERT", "NEW TABLE AS new_rows"),
            ("UPDATE", "OLD TABLE AS old_rows NEW TABLE AS new_rows"),
        )
    ),
    ("dnc_organizations_deleted", "organizations",
     "AFTER DELETE ON organizations REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT",
     "dnc_organizations_deleted()"),
    ("dnc_users_deleted", "users",
     "AFTER DELETE ON users REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT",
     "dnc_users_deleted()"),
    ("dnc_batches_deleted", "batches",
     "AFTER DELETE ON batches REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT",
     "dnc_cited_deleted('batch_pk')"),
    ("dnc_call_records_deleted", "call_records",
     "AFTER DELETE ON call_records REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT",
     "dnc_cited_deleted('call_record_id')"),
    *(
        (f"dnc_{parent}_key", parent,
         f"BEFORE UPDATE OF id ON {parent} FOR EACH ROW WHEN (OLD.id IS DISTINCT FROM NEW.id)",
         "dnc_refuse_key_change()")
        for parent in PARENTS
    ),
)  # fmt: skip


def upgrade() -> None:
    for child, column, parent, _ in REFERENCES:
        op.drop_constraint(_name(child, column, parent), child, type_="foreignkey")
    for _, body in FUNCTIONS:
        op.execute(body)
    for name, _, when, call in TRIGGERS:
        op.execute(f"CREATE TRIGGER {name} {when} EXECUTE FUNCTION {call}")


def downgrade() -> None:
    for name, table, _, _ in TRIGGERS:
        op.execute(f"DROP TRIGGER {name} ON {table}")
    for signature, _ in FUNCTIONS:
        op.execute(f"DROP FUNCTION {signature}")
    for child, column, parent, on_delete in REFERENCES:
        op.create_foreign_key(
            _name(child, column, parent), child, parent, [column], ["id"], ondelete=on_delete
        )
