"""shared_list_subscription_periods: when each organization subscribed to each shared list

Revision ID: 0011_subscription_history
Revises: 0010_enabled_history
Create Date: 2026-12-07 21:15:00.000000

``shared_list_subscriptions`` holds the subscriptions in force (an unsubscription deletes its
row), so a check at a past moment could not tell which shared lists applied then. Triggers
on it keep one period a subscription: a row from its ``created_at``, closed (``ended_at``) by
the delete that ends it, at that transaction's time, whatever deletes it (``dnc shared-list
unsubscribe``, a shared list's or an organization's removal, SQL typed by hand). Periods have
no foreign key to ``shared_lists``: they outlive the list.

The upgrade backfills the periods from the audit log (``shared.subscribe`` and
``shared.unsubscribe``, which name the list in ``entity_id``): each subscribe opens a period
that the next unsubscribe of the same list closes (periods that overlap, from events out of
order, only widen what applied: the safe direction); a subscription in force without such a
period (made by hand) gets one from its ``created_at``.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011_subscription_history"
down_revision: str | None = "0010_enabled_history"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FUNCTION = """
CREATE FUNCTION dnc_subscription_history() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    INSERT INTO shared_list_subscription_periods (organization_id, list_id, started_at)
    VALUES (NEW.organization_id, NEW.list_id, NEW.created_at);
  ELSE
    UPDATE shared_list_subscription_periods SET ended_at = now()
    WHERE organization_id = OLD.organization_id AND list_id = OLD.list_id
      AND ended_at IS NULL;
  END IF;
  RETURN NULL;
END $$
"""

BACKFILL = """
INSERT INTO shared_list_subscription_periods (organization_id, list_id, started_at, ended_at)
SELECT s.organization_id, s.entity_id, s.created_at, (
  SELECT min(u.created_at) FROM audit_log u
  WHERE u.action = 'shared.unsubscribe' AND u.organization_id = s.organization_id
    AND u.entity_id = s.entity_id AND u.created_at >= s.created_at AND u.id > s.id
)
FROM audit_log s
WHERE s.action = 'shared.subscribe' AND s.entity_id IS NOT NULL
"""

IN_FORCE = """
INSERT INTO shared_list_subscription_periods (organization_id, list_id, started_at)
SELECT s.organization_id, s.list_id, s.created_at FROM shared_list_subscriptions s
WHERE NOT EXISTS (
  SELECT 1 FROM shared_list_subscription_periods p
  WHERE p.organization_id = s.organization_id AND p.list_id = s.list_id AND p.ended_at IS NULL
)
"""

CLOSE_LOST = """
UPDATE shared_list_subscription_periods p SET ended_at = now()
WHERE ended_at IS NULL AND NOT EXISTS (
  SELECT 1 FROM shared_list_subscriptions s
  WHERE s.organization_id = p.organization_id AND s.list_id = p.list_id
)
"""


def upgrade() -> None:
    op.create_table(
        "shared_list_subscription_periods",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("organization_id", sa.UUID(), nullable=False),
        sa.Column("list_id", sa.String(64), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True)),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_shared_list_subscription_periods_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_shared_list_subscription_periods")),
    )
    op.create_index(
        "ix_shared_list_subscription_periods_org",
        "shared_list_subscription_periods",
        ["organization_id", "started_at"],
    )
    op.execute(FUNCTION)
    op.execute(
        "CREATE TRIGGER dnc_subscription_history AFTER INSERT OR DELETE "
        "ON shared_list_subscriptions FOR EACH ROW EXECUTE FUNCTION dnc_subscription_history()"
    )
    op.execute(BACKFILL)
    op.execute(CLOSE_LOST)  # an audited subscribe whose row is gone (deleted by hand)
    op.execute(IN_FORCE)


def downgrade() -> None:
    op.execute("DROP TRIGGER dnc_subscription_history ON shared_list_subscriptions")
    op.execute("DROP FUNCTION dnc_subscription_history()")
    op.drop_table("shared_list_subscription_periods")
