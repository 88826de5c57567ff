"""What the use cases need from the outside world; ``infra`` provides the implementations."""

from collections.abc import Sequence
from datetime import datetime
from types import TracebackType
from typing import Protocol, Self
from uuid import UUID

from domain.model import (
    ApiToken,
    AuditEvent,
    Batch,
    CallRecord,
    DncEntry,
    Email,
    Organization,
    OutboxMessage,
    Principal,
    User,
)


class OrganizationRepository(Protocol):
    async def get(self, organization_id: UUID) -> Organization | None: ...
    async def add(self, organization: Organization) -> None: ...
    async def set_dnc_enabled(self, organization_id: UUID, enabled: bool) -> Organization:
        """Store the flag and bump the settings version, holding the row lock to commit."""
        ...


class UserRepository(Protocol):
    async def get(self, organization_id: UUID, user_id: UUID) -> User | None: ...
    async def get_by_email(self, email: str) -> User | None: ...
    async def admins(self, organization_id: UUID) -> list[User]: ...
    async def count(self, organization_id: UUID) -> int: ...
    async def add(self, user: User) -> None:
        """Raises :class:`domain.errors.Conflict` when the email is taken."""
        ...


class TokenRepository(Protocol):
    async def add(self, token: ApiToken) -> None: ...
    async def principal_for(self, token_hash: str) -> Principal | None:
        """The principal of a live (not revoked) token with this hash."""
        ...


class BatchRepository(Protocol):
    async def get(self, organization_id: UUID, batch_id: str) -> Batch | None: ...
    async def add(self, batch: Batch) -> None:
        """Raises :class:`domain.errors.Conflict` when the batch id is taken."""
        ...


class CallRepository(Protocol):
    async def get(
        self, organization_id: UUID, batch_pk: UUID, request_uuid: str
    ) -> CallRecord | None: ...
    async def add_many(self, calls: Sequence[CallRecord]) -> None:
        """Raises :class:`domain.errors.Conflict` when a requestUUID is taken."""
        ...


class DncEntryRepository(Protocol):
    async def get(self, organization_id: UUID, entry_id: UUID) -> DncEntry | None: ...
    async def get_active(self, organization_id: UUID, phone_number: str) -> DncEntry | None:
        """The listed (not removed) entry for this number, expired or not."""
        ...

    async def add(self, entry: DncEntry) -> None:
        """Raises :class:`domain.errors.AlreadyListed` when the number is listed already."""
        ...

    async def count_active(self, organization_id: UUID, now: datetime) -> int: ...


class AuditLog(Protocol):
    async def record(self, event: AuditEvent) -> None: ...


class Outbox(Protocol):
    async def add(self, organization_id: UUID, kind: str, payload: dict[str, str]) -> int: ...
    async def claim(self, message_id: int) -> OutboxMessage | None:
        """Lock an unprocessed message for this transaction; None if done or held elsewhere."""
        ...

    async def mark_processed(self, message_id: int) -> None: ...
    async def record_failure(self, message_id: int, error: str) -> None: ...
    async def pending_ids(self, older_than: datetime, limit: int) -> list[int]: ...


class UnitOfWork(Protocol):
    """One transaction; leaving the block without :meth:`commit` rolls it back."""

    @property
    def organizations(self) -> OrganizationRepository: ...
    @property
    def users(self) -> UserRepository: ...
    @property
    def tokens(self) -> TokenRepository: ...
    @property
    def batches(self) -> BatchRepository: ...
    @property
    def calls(self) -> CallRepository: ...
    @property
    def entries(self) -> DncEntryRepository: ...
    @property
    def audit(self) -> AuditLog: ...
    @property
    def outbox(self) -> Outbox: ...

    async def __aenter__(self) -> Self: ...
    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...
    async def commit(self) -> None: ...


class DncMirror(Protocol):
    """The Redis copy dialers read. Writes raise :class:`domain.errors.Unavailable` on failure."""

    async def add_numbers(self, organization_id: UUID, numbers: Sequence[str]) -> None: ...
    async def set_enabled(self, organization_id: UUID, enabled: bool, version: int) -> None: ...


class JobQueue(Protocol):
    async def dispatch_outbox(self, message_ids: Sequence[int]) -> None:
        """Hand committed outbox messages to workers; may fail (the relay retries later)."""
        ...


class Mailer(Protocol):
    async def send(self, email: Email) -> None:
        """Raises :class:`MailerUnavailable` when the message could not be handed over."""
        ...


class MailerUnavailable(Exception):
    """The mail server could not take the message now; try again later."""


class MailRejected(Exception):
    """The mail server refused the message for good (e.g. unknown recipient)."""
