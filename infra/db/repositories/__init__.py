"""Repositories, one module per aggregate: every tenant query takes the organization
explicitly; none commits. Rows become domain records in ``infra.db.mappers``."""

from infra.db.repositories.audit import SqlAuditLog
from infra.db.repositories.calls import SqlBatchRepository, SqlCallRepository
from infra.db.repositories.console_sessions import SqlConsoleSessionRepository
from infra.db.repositories.entries import SqlDncEntryRepository
from infra.db.repositories.exemptions import SqlExemptionRepository
from infra.db.repositories.history import SqlHistoryRepository
from infra.db.repositories.identity import SqlTokenRepository, SqlUserRepository
from infra.db.repositories.lists import SqlListRepository, SqlPrefixRepository
from infra.db.repositories.organizations import SqlOrganizationRepository
from infra.db.repositories.outbox import SqlOutbox
from infra.db.repositories.shared_lists import SqlSharedListRepository

__all__ = [
    "SqlAuditLog",
    "SqlBatchRepository",
    "SqlCallRepository",
    "SqlConsoleSessionRepository",
    "SqlDncEntryRepository",
    "SqlExemptionRepository",
    "SqlHistoryRepository",
    "SqlListRepository",
    "SqlOrganizationRepository",
    "SqlOutbox",
    "SqlPrefixRepository",
    "SqlSharedListRepository",
    "SqlTokenRepository",
    "SqlUserRepository",
]
