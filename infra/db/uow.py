"""The SQL unit of work: one session, one transaction, committed explicitly."""

from types import TracebackType
from typing import Self

from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from infra.db.repositories import (
    SqlAuditLog,
    SqlBatchRepository,
    SqlCallRepository,
    SqlConsoleSessionRepository,
    SqlDncEntryRepository,
    SqlExemptionRepository,
    SqlHistoryRepository,
    SqlListRepository,
    SqlOrganizationRepository,
    SqlOutbox,
    SqlPrefixRepository,
    SqlSharedListRepository,
    SqlTokenRepository,
    SqlUserRepository,
)
from infra.settings import Settings


def create_engine(settings: Settings, application_name: str) -> AsyncEngine:
    return create_async_engine(
        settings.async_database_url,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_pool_size,
        pool_pre_ping=True,
        hide_parameters=True,  # SQL errors must not log phone numbers or transcriptions
        connect_args={"server_settings": {"application_name": application_name}},
    )


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


class SqlUnitOfWork:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def __aenter__(self) -> Self:
        self.session = self._sessions()
        self.organizations = SqlOrganizationRepository(self.session)
        self.users = SqlUserRepository(self.session)
        self.tokens = SqlTokenRepository(self.session)
        self.console_sessions = SqlConsoleSessionRepository(self.session)
        self.batches = SqlBatchRepository(self.session)
        self.calls = SqlCallRepository(self.session)
        self.entries = SqlDncEntryRepository(self.session)
        self.lists = SqlListRepository(self.session)
        self.prefixes = SqlPrefixRepository(self.session)
        self.shared_lists = SqlSharedListRepository(self.session)
        self.exemptions = SqlExemptionRepository(self.session)
        self.audit = SqlAuditLog(self.session)
        self.outbox = SqlOutbox(self.session)
        self.history = SqlHistoryRepository(self.session)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            await self.session.rollback()
        finally:
            await self.session.close()

    async def commit(self) -> None:
        await self.session.commit()
