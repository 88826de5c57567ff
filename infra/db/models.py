"""SQLAlchemy models. They stay inside ``infra``; repositories hand out domain records."""

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from domain.model import DEFAULT_LIST

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


def _created_at() -> Mapped[datetime]:
    return mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=False)


class OrganizationRow(Base):
    __tablename__ = "organizations"

    id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    dnc_enabled: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))
    created_at: Mapped[datetime] = _created_at()


class EnabledChangeRow(Base):
    """One change of an organization's DNC switch (and its state at creation), written by a
    trigger on ``organizations`` (migration 0010): what as-of checks read."""

    __tablename__ = "dnc_enabled_changes"
    __table_args__ = (
        Index("ix_dnc_enabled_changes_org_changed", "organization_id", "changed_at", "id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    organization_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE")
    )
    enabled: Mapped[bool] = mapped_column(Boolean)
    changed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class UserRow(Base):
    __tablename__ = "users"
    __table_args__ = (CheckConstraint("role IN ('admin', 'member')", name="role"),)

    id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    organization_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    email: Mapped[str] = mapped_column(Text, unique=True)
    role: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = _created_at()


class ApiTokenRow(Base):
    __tablename__ = "api_tokens"
    __table_args__ = (CheckConstraint("scope IN ('full', 'check')", name="scope"),)

    id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    scope: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = _created_at()
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class BatchRow(Base):
    __tablename__ = "batches"
    __table_args__ = (UniqueConstraint("organization_id", "batch_id"),)

    id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    organization_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE")
    )
    batch_id: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    name: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = _created_at()


class CallRecordRow(Base):
    __tablename__ = "call_records"
    __table_args__ = (UniqueConstraint("organization_id", "request_uuid"),)

    id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    organization_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE")
    )
    batch_pk: Mapped[uuid.UUID] = mapped_column(ForeignKey("batches.id"), index=True)
    request_uuid: Mapped[str] = mapped_column(Text)
    phone_number: Mapped[str] = mapped_column(String(15))
    recording_url: Mapped[str | None] = mapped_column(Text)
    transcription: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    duration_seconds: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = _created_at()
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )


class DncEntryRow(Base):
    """A listed number. A removed one keeps its row (and evidence) as a tombstone."""

    __tablename__ = "dnc_entries"
    __table_args__ = (
        Index(
            "uq_dnc_entries_listed",
            "organization_id",
            "list_id",
            "phone_number",
            unique=True,
            postgresql_where=text("removed_at IS NULL"),
        ),
        Index("ix_dnc_entries_org_created", "organization_id", "list_id", "created_at", "id"),
        Index("ix_dnc_entries_org_phone", "organization_id", "phone_number", "created_at"),
        Index(
            "ix_dnc_entries_expiring",
            "expires_at",
            postgresql_where=text("removed_at IS NULL AND expires_at IS NOT NULL"),
        ),
    )

    # The references to organizations, batches, calls and users are checked once per statement
    # by triggers, not by foreign keys (migration 0016: an import writes a million rows).
    id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    organization_id: Mapped[uuid.UUID] = mapped_column(UUID)
    list_id: Mapped[str] = mapped_column(String(64), server_default=DEFAULT_LIST)
    phone_number: Mapped[str] = mapped_column(String(15))
    type: Mapped[str | None] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(16))
    batch_pk: Mapped[uuid.UUID | None] = mapped_column(UUID)
    batch_id: Mapped[str | None] = mapped_column(String(64))
    call_record_id: Mapped[uuid.UUID | None] = mapped_column(UUID)
    request_uuid: Mapped[str | None] = mapped_column(Text)
    call_recording: Mapped[str | None] = mapped_column(Text)
    transcription: Mapped[str | None] = mapped_column(Text)
    added_by_user_id: Mapped[uuid.UUID | None] = mapped_column(UUID)
    created_at: Mapped[datetime] = _created_at()
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    removed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    removed_by_user_id: Mapped[uuid.UUID | None] = mapped_column(UUID)
    removal_reason: Mapped[str | None] = mapped_column(Text)
    requested_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class DncListRow(Base):
    """A list of an organization: its org-wide one (``default``) or a named one. A deleted
    list keeps its row, and its entries as tombstones."""

    __tablename__ = "dnc_lists"
    __table_args__ = (
        CheckConstraint("kind IN ('org', 'campaign')", name="kind"),
        Index(
            "uq_dnc_lists_name",
            "organization_id",
            text("lower(name)"),
            unique=True,
            postgresql_where=text("deleted_at IS NULL"),
        ),
    )

    organization_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), primary_key=True
    )
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    description: Mapped[str | None] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(16))
    created_by_user_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = _created_at()
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    deleted_by_user_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )


class PrefixRuleRow(Base):
    """A prefix rule: every number whose E.164 digits start with ``prefix`` is blocked. A
    deleted rule keeps its row."""

    __tablename__ = "dnc_prefixes"
    __table_args__ = (
        Index(
            "uq_dnc_prefixes_active",
            "organization_id",
            "prefix",
            unique=True,
            postgresql_where=text("removed_at IS NULL"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    organization_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE")
    )
    prefix: Mapped[str] = mapped_column(String(15))
    reason: Mapped[str | None] = mapped_column(Text)
    created_by_user_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = _created_at()
    removed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    removed_by_user_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )


class MirrorChecksumRow(Base):
    """Changes to the checksum of each organization's listed entries (see domain/checksum.py),
    written by triggers on ``dnc_entries``: one row per statement and organization, so that
    concurrent writers never wait for each other. The organization's checksum is the sum of
    its rows; the reconciliation folds them into one now and then (migration 0004)."""

    __tablename__ = "mirror_checksums"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    organization_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    list_id: Mapped[str] = mapped_column(String(64), server_default=DEFAULT_LIST)
    count: Mapped[int] = mapped_column(BigInteger)
    sum1: Mapped[int] = mapped_column(BigInteger)
    sum2: Mapped[int] = mapped_column(BigInteger)
    sum3: Mapped[int] = mapped_column(BigInteger)


class AuditRow(Base):
    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_org_created", "organization_id", "created_at"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    # checked once per statement by triggers, not by a foreign key (migration 0016)
    organization_id: Mapped[uuid.UUID] = mapped_column(UUID)
    actor_user_id: Mapped[uuid.UUID | None] = mapped_column(UUID)
    action: Mapped[str] = mapped_column(String(32))
    list_id: Mapped[str | None] = mapped_column(String(64))
    phone_number: Mapped[str | None] = mapped_column(String(15))
    entity_id: Mapped[str | None] = mapped_column(Text)
    before: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    created_at: Mapped[datetime] = _created_at()


class OutboxRow(Base):
    """A side effect recorded in the transaction that caused it, done after commit."""

    __tablename__ = "outbox"
    __table_args__ = (
        Index("ix_outbox_pending", "created_at", postgresql_where=text("processed_at IS NULL")),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    organization_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE")
    )
    kind: Mapped[str] = mapped_column(String(32))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB)
    created_at: Mapped[datetime] = _created_at()
    processed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    attempts: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    last_error: Mapped[str | None] = mapped_column(Text)


class ImportRow(Base):
    """One CSV import: staged by the API, processed inline or by a worker job."""

    __tablename__ = "imports"
    __table_args__ = (
        CheckConstraint("status IN ('queued', 'running', 'done', 'failed')", name="status"),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    organization_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    list_id: Mapped[str] = mapped_column(String(64), server_default=DEFAULT_LIST)
    status: Mapped[str] = mapped_column(String(16))
    rows: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    processed: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    added: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    duplicate: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    invalid: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    errors: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, server_default=text("'[]'"))
    failure: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = _created_at()
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    attempts: Mapped[int] = mapped_column(Integer, server_default=text("0"))  # relay re-enqueues
    relayed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class SharedListRow(Base):
    """A shared list (registry, state or litigator list): no organization's. Its numbers are
    in ``shared_numbers.g<generation>`` (null: never loaded); ``count`` and the sums are
    their checksum (see domain/checksum.py)."""

    __tablename__ = "shared_lists"
    __table_args__ = (
        CheckConstraint("kind IN ('registry', 'state', 'litigator')", name="kind"),
        CheckConstraint("max_age_days > 0", name="max_age_days"),
        Index("uq_shared_lists_name", text("lower(name)"), unique=True),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(16))
    max_age_days: Mapped[int] = mapped_column(Integer)
    downloaded_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    loaded_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # when its data (numbers or freshness) last changed here: a load or a change file
    changed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    generation: Mapped[int | None] = mapped_column(BigInteger)
    count: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    sum1: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    sum2: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    sum3: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    created_at: Mapped[datetime] = _created_at()


class SharedDeletionRow(Base):
    """A number a change file deleted from a shared list, and when (migration 0012): a check
    at an earlier moment still counts it as held then (only a list's current numbers are
    kept). A full load's dropped numbers are not recorded."""

    __tablename__ = "shared_list_deletions"
    __table_args__ = (Index("ix_shared_list_deletions_number", "list_id", "number", "deleted_at"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    list_id: Mapped[str] = mapped_column(String(64))  # no foreign key: it outlives the list
    number: Mapped[int] = mapped_column(BigInteger)
    deleted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class SubscriptionRow(Base):
    """An organization's checks consult this shared list."""

    __tablename__ = "shared_list_subscriptions"

    organization_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), primary_key=True
    )
    list_id: Mapped[str] = mapped_column(
        ForeignKey("shared_lists.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    created_at: Mapped[datetime] = _created_at()


class SubscriptionPeriodRow(Base):
    """When an organization subscribed to a shared list, and when it stopped (null: still
    does), kept by triggers on ``shared_list_subscriptions`` (migration 0011)."""

    __tablename__ = "shared_list_subscription_periods"
    __table_args__ = (
        Index("ix_shared_list_subscription_periods_org", "organization_id", "started_at"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    organization_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE")
    )
    list_id: Mapped[str] = mapped_column(String(64))  # no foreign key: it outlives the list
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class ExemptionRow(Base):
    """A number the organization may call whatever its shared lists say, until ``lapses_at``
    (null: until deleted). A deleted exemption keeps its row."""

    __tablename__ = "exemptions"
    __table_args__ = (
        CheckConstraint(
            "basis IN ('ebr_purchase', 'ebr_inquiry', 'written_consent')", name="basis"
        ),
        Index(
            "ix_exemptions_live",
            "organization_id",
            "phone_number",
            postgresql_where=text("deleted_at IS NULL"),
        ),
        Index("ix_exemptions_org_created", "organization_id", "created_at", "id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    organization_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE")
    )
    phone_number: Mapped[str] = mapped_column(String(15))
    basis: Mapped[str] = mapped_column(String(32))
    since: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    lapses_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_by_user_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = _created_at()
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    deleted_by_user_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )


class ConsoleSessionRow(Base):
    """A web console session: opened by signing in with a full-scope token, ended by signing
    out or by ``expires_at``; only the hash of its cookie is kept."""

    __tablename__ = "console_sessions"

    session_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    token_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("api_tokens.id", ondelete="CASCADE"), index=True
    )
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = _created_at()
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class CheckReceiptRow(Base):
    """A receipted check (``infra/db/receipts.py``): the question and the answer as sent, each
    compressed (zlib) in one ``bytea``, and the versions the answer rests on. Kept for good,
    as entries are."""

    __tablename__ = "check_receipts"

    id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    organization_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE")
    )
    asked_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    asked_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    numbers: Mapped[int] = mapped_column(Integer)
    question: Mapped[bytes] = mapped_column(LargeBinary)
    answer: Mapped[bytes] = mapped_column(LargeBinary)
    versions: Mapped[dict[str, Any]] = mapped_column(JSONB)
