"""What the use cases need from the outside world; ``infra`` provides the implementations."""

from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from datetime import datetime
from types import TracebackType
from typing import Any, Protocol, Self
from uuid import UUID

from domain.checksum import Checksum
from domain.model import (
    DEFAULT_LIST,
    ApiToken,
    AuditEvent,
    AuditQuery,
    AuditRecord,
    Batch,
    CallRecord,
    CheckReceipt,
    ConsoleSession,
    DncEntry,
    DncList,
    Email,
    EnforcementReport,
    Exemption,
    ImportReport,
    LostImports,
    MirrorAnswer,
    MirrorBuild,
    MirrorProbe,
    MirrorState,
    MirrorTruth,
    Organization,
    OrganizationRecord,
    OutboxMessage,
    PastEntry,
    PrefixRule,
    Principal,
    SharedCursor,
    SharedList,
    StagedImport,
    StagedNumbers,
    TokenRecord,
    User,
    UserRecord,
    VerifyCursor,
)

Progress = Callable[[int, int], None]  # (done, total), called as a long job goes


class OrganizationRepository(Protocol):
    async def get(self, organization_id: UUID) -> Organization | None: ...
    async def add(self, organization: Organization) -> None: ...
    async def get_for_update(self, organization_id: UUID) -> Organization | None:
        """The organization, its row locked until the transaction ends."""
        ...

    async def set_dnc_enabled(self, organization_id: UUID, enabled: bool) -> Organization: ...
    async def ids(self) -> list[UUID]: ...
    async def all(self) -> list[OrganizationRecord]:
        """Every organization, oldest first, with how many users it has."""
        ...

    async def lock_mirror(self, organization_id: UUID) -> None:
        """Serialize mirror writes of one organization until the transaction ends."""
        ...


class UserRepository(Protocol):
    async def get(self, organization_id: UUID, user_id: UUID) -> User | None: ...
    async def get_by_email(self, email: str) -> User | None: ...
    async def admins(self, organization_id: UUID) -> list[User]: ...
    async def count(self, organization_id: UUID) -> int: ...
    async def all(self, organization_id: UUID) -> list[UserRecord]:
        """The organization's users, oldest first."""
        ...

    async def add(self, user: User) -> None:
        """Raises :class:`domain.errors.Conflict` when the email is taken."""
        ...


class TokenRepository(Protocol):
    async def add(self, token: ApiToken) -> None: ...
    async def revoke(self, token_hash: str) -> bool:
        """Revoke a live token; False if there is none with this hash."""
        ...

    async def principal_for(self, token_hash: str) -> Principal | None:
        """The principal of a live (not revoked) token with this hash."""
        ...

    async def of_user(self, organization_id: UUID, user_id: UUID) -> list[TokenRecord]:
        """The user's tokens, live and revoked, oldest first."""
        ...


class ConsoleSessionRepository(Protocol):
    async def open(self, session: ConsoleSession) -> None: ...
    async def principal_for(
        self, session_hash: str, now: datetime
    ) -> tuple[Principal, ConsoleSession] | None:
        """The session with this hash and who it acts as, while it is live: neither ended nor
        expired at ``now``, and its token not revoked."""
        ...

    async def end(self, session_hash: str) -> bool:
        """End a live session; False if there is none with this hash."""
        ...


class TokenRevocations(Protocol):
    async def announce(self, token_hash: str) -> bool:
        """Tell every API process to forget this token now; False if that failed (each
        process then trusts its cached tokens for at most a second anyway). Never raises."""
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


class ListRepository(Protocol):
    """An organization's lists; a deleted list is kept (its entries as tombstones) but is no
    longer found."""

    async def add(self, dnc_list: DncList, created_by: UUID | None) -> DncList:
        """Raises :class:`domain.errors.Conflict` when a live list has the name (any case)."""
        ...

    async def get(self, organization_id: UUID, list_id: str, lock: bool = False) -> DncList | None:
        """The live list, with its count; ``lock``: its row locked until the transaction
        ends."""
        ...

    async def all(self, organization_id: UUID) -> list[DncList]:
        """The live lists, the org-wide one first, then by creation."""
        ...

    async def missing(self, organization_id: UUID, list_ids: Sequence[str]) -> list[str]:
        """Those of ``list_ids`` that are not live lists of the organization."""
        ...

    async def lock_shared(self, organization_id: UUID, list_ids: Sequence[str]) -> list[str]:
        """Hold these lists until the transaction ends (none can be deleted meanwhile); those
        that are not live lists of the organization."""
        ...

    async def delete(self, organization_id: UUID, list_id: str, user_id: UUID | None) -> bool: ...
    async def live(self) -> list[tuple[UUID, str]]:
        """Every live list of every organization: (organization, list id), in order."""
        ...


class PrefixRepository(Protocol):
    async def add(self, rule: PrefixRule) -> None:
        """Raises :class:`domain.errors.Conflict` when the prefix is a rule already."""
        ...

    async def all(self, organization_id: UUID) -> list[PrefixRule]:
        """The rules in force, by prefix."""
        ...

    async def remove(
        self, organization_id: UUID, rule_id: UUID, user_id: UUID | None
    ) -> PrefixRule | None:
        """End a rule (kept as a record); None if no such rule is in force."""
        ...


class SharedListRepository(Protocol):
    """The shared lists (no organization's), and which organizations subscribe to which."""

    async def add(self, shared: SharedList) -> None:
        """Raises :class:`domain.errors.Conflict` when a list has the name (any case)."""
        ...

    async def get(
        self, list_id: str, lock: bool = False, skip_locked: bool = False
    ) -> SharedList | None:
        """``lock``: its row locked until the transaction ends (a load's mirror phase, a
        change and a rebuild of one list take turns); ``skip_locked``: None at once when
        another transaction holds it."""
        ...

    async def all(self) -> list[SharedList]:
        """Every shared list, by creation."""
        ...

    async def subscribed(self, organization_id: UUID) -> list[SharedList]:
        """The lists the organization subscribes to, by creation."""
        ...

    async def subscribe(self, organization_id: UUID, list_id: str) -> bool:
        """False if it was subscribed already."""
        ...

    async def unsubscribe(self, organization_id: UUID, list_id: str) -> bool:
        """False if it was not subscribed."""
        ...

    async def checksum(self, list_id: str) -> Checksum:
        """The checksum the list's row keeps of its live generation (empty: never loaded)."""
        ...

    async def subscribers(self, list_id: str) -> list[UUID]: ...
    async def subscriber_counts(self) -> dict[str, int]:
        """How many organizations subscribe to each list (lists none subscribe to: absent)."""
        ...

    async def listed_among(self, shared: SharedList, numbers: Sequence[str]) -> set[str]:
        """Which of these numbers the list's live generation holds."""
        ...

    async def numbers_after(self, shared: SharedList, after: int, limit: int) -> list[int]:
        """Up to ``limit`` numbers of the live generation above ``after``, in order (with
        the list's row locked, so the generation stays)."""
        ...

    def stream_buckets(
        self, shared: SharedList, buckets: int
    ) -> AsyncIterator[list[tuple[int, list[int]]]]:
        """The live generation's numbers, grouped as the mirror stores them:
        (n mod buckets, members)."""
        ...

    async def swap(
        self, list_id: str, staged: StagedNumbers, downloaded_at: datetime, loaded_at: datetime
    ) -> None:
        """Make a staged load the list's live generation (its checksum, count and freshness
        with it) and drop the generation it replaces, in the caller's transaction."""
        ...

    async def change(
        self,
        shared: SharedList,
        add: Sequence[str],
        remove: Sequence[str],
        downloaded_at: datetime,
    ) -> tuple[int, int]:
        """Add and delete numbers of the live generation (creating an empty one if the list
        was never loaded), keeping its checksum; the freshness becomes ``downloaded_at``. How
        many numbers were actually added and deleted."""
        ...


class SharedNumbers(Protocol):
    """A shared list's numbers in bulk, outside any unit of work: millions of rows are
    streamed into a generation of their own with ``COPY``, never written a row at a time."""

    async def stage(self, chunks: AsyncIterator[bytes]) -> StagedNumbers:
        """A new generation filled with these ``COPY`` text chunks (E.164 digits, one a
        line); duplicates are kept once. Not live until :meth:`SharedListRepository.swap`."""
        ...

    async def discard(self, generation: int) -> None:
        """Drop a staged generation that will not be swapped in."""
        ...


class HistoryRepository(Protocol):
    """What an organization's checks consulted at a past moment ``at``, from what Postgres
    keeps: entries with their tombstones, lists and prefix rules with their deletion times,
    exemptions with theirs, the DNC switch's changes and the subscription periods."""

    async def created_at(self, organization_id: UUID) -> datetime | None:
        """When the organization was created (None: no such organization)."""
        ...

    async def enabled_at(self, organization_id: UUID, at: datetime) -> bool:
        """Whether its DNC switch was on at ``at`` (on, when nothing is known)."""
        ...

    async def missing_lists_at(
        self, organization_id: UUID, list_ids: Sequence[str], at: datetime
    ) -> list[str]:
        """Those of ``list_ids`` that were not live lists of the organization at ``at``."""
        ...

    async def blocking_lists_at(
        self, organization_id: UUID, numbers: Sequence[str], at: datetime, lists: Sequence[str]
    ) -> dict[str, set[str]]:
        """number: those of ``lists`` on which it had an entry at ``at``, neither removed nor
        expired then."""
        ...

    async def prefixes_at(self, organization_id: UUID, at: datetime) -> list[str]:
        """The prefix rules in force at ``at``."""
        ...

    async def exempt_at(
        self, organization_id: UUID, numbers: Sequence[str], at: datetime
    ) -> set[str]:
        """Those of ``numbers`` an exemption lifted the shared lists for at ``at``."""
        ...

    async def subscribed_at(self, organization_id: UUID, at: datetime) -> list[str]:
        """The shared lists the organization subscribed to at ``at``, by their creation."""
        ...

    async def deleted_since(self, list_id: str, numbers: Sequence[str], at: datetime) -> set[str]:
        """Those of ``numbers`` a change file deleted from the shared list after ``at``."""
        ...

    async def shared_changed_since(self, list_ids: Sequence[str], at: datetime) -> list[str]:
        """Those of these shared lists whose data (numbers or freshness) changed after ``at``:
        what they held at ``at`` is not kept."""
        ...


class ExemptionRepository(Protocol):
    async def add(self, exemption: Exemption) -> None: ...
    async def get(self, organization_id: UUID, exemption_id: UUID) -> Exemption | None:
        """A live (not deleted) exemption."""
        ...

    async def page(
        self, organization_id: UUID, phone_number: str | None, offset: int, limit: int
    ) -> list[Exemption]:
        """Live exemptions, newest first (of one number, when given)."""
        ...

    async def count(self, organization_id: UUID, phone_number: str | None = None) -> int: ...
    async def delete(
        self, organization_id: UUID, exemption_id: UUID, user_id: UUID | None
    ) -> Exemption | None:
        """Delete a live exemption (its row is kept); None if there is none by that id."""
        ...

    async def exempted_count(self, organization_id: UUID) -> int:
        """How many numbers have a live exemption (what the mirror's hash should hold)."""
        ...

    async def lapses(
        self, organization_id: UUID, numbers: Sequence[str] | None = None
    ) -> dict[str, datetime | None]:
        """For each number with live exemptions (of ``numbers``; None: every number), when
        the last of them lapses (None: never), lapsed ones included."""
        ...


class DncEntryRepository(Protocol):
    """Every query is of one list (the org-wide one unless ``list_id`` says otherwise)."""

    async def get(self, organization_id: UUID, entry_id: UUID) -> DncEntry | None: ...
    async def get_active(
        self, organization_id: UUID, phone_number: str, list_id: str = DEFAULT_LIST
    ) -> DncEntry | None:
        """The number's listed (not removed) entry on the list, expired or not: the one
        holding its place on the list (there is at most one)."""
        ...

    async def enforcement(
        self, organization_id: UUID, since: datetime, until: datetime
    ) -> EnforcementReport:
        """Entries added from calls made in [since, until), on any list, and the seconds from
        each call to its entry."""
        ...

    async def history(
        self, organization_id: UUID, phone_number: str, list_id: str | None
    ) -> list[PastEntry]:
        """Every entry the number has had on the list (``None``: on every list), listed and
        removed, oldest first."""
        ...

    async def add(self, entry: DncEntry) -> None:
        """Raises :class:`domain.errors.AlreadyListed` when the number is listed already."""
        ...

    async def remove(
        self, organization_id: UUID, entry_id: UUID, user_id: UUID | None, reason: str | None
    ) -> DncEntry | None:
        """Tombstone a listed entry (its evidence is kept); None if it was not listed."""
        ...

    async def count_blocked(
        self, organization_id: UUID, now: datetime, list_id: str = DEFAULT_LIST
    ) -> int:
        """Listed and not expired: what checks block."""
        ...

    async def blocked_among(
        self,
        organization_id: UUID,
        numbers: Sequence[str],
        now: datetime,
        list_id: str = DEFAULT_LIST,
    ) -> set[str]: ...

    async def blocking_lists(
        self, organization_id: UUID, numbers: Sequence[str], now: datetime, lists: Sequence[str]
    ) -> dict[str, set[str]]:
        """Of these numbers, those a list of ``lists`` blocks, each with those lists."""
        ...

    def stream_blocked(
        self, organization_id: UUID, now: datetime, chunk: int, list_id: str = DEFAULT_LIST
    ) -> AsyncIterator[list[str]]: ...

    def stream_blocked_buckets(
        self, organization_id: UUID, now: datetime, buckets: int, list_id: str = DEFAULT_LIST
    ) -> AsyncIterator[list[tuple[int, list[int]]]]:
        """What checks block, grouped as the mirror stores it: (n mod buckets, members)."""
        ...

    async def page(
        self,
        organization_id: UUID,
        search: str | None,
        after: tuple[datetime, UUID] | None,
        offset: int,
        limit: int,
        list_id: str = DEFAULT_LIST,
    ) -> list[DncEntry]:
        """Listed entries, newest first: after a keyset cursor, or from an offset."""
        ...

    async def count_listed(
        self, organization_id: UUID, search: str | None, list_id: str = DEFAULT_LIST
    ) -> int: ...

    async def add_many(self, entries: Sequence[DncEntry]) -> set[UUID]:
        """Insert what is not listed yet (on each entry's list); the ids actually added."""
        ...

    async def remove_list(
        self, organization_id: UUID, list_id: str, user_id: UUID | None
    ) -> list[UUID]:
        """Tombstone every listed entry of the list; the ids of those it took off."""
        ...

    async def retire_expired(
        self,
        organization_id: UUID,
        numbers: Sequence[str],
        now: datetime,
        list_id: str = DEFAULT_LIST,
    ) -> list[UUID]:
        """Tombstone listed-but-expired entries of these numbers, so they can be listed anew;
        the ids of those it retired."""
        ...

    async def expire_due(self, now: datetime, limit: int) -> list[DncEntry]:
        """Tombstone (reason "expired") entries whose expiry has passed; the ones retired."""
        ...

    async def mirror_truth(
        self, organization_id: UUID, expired_by: datetime, limit: int, list_id: str = DEFAULT_LIST
    ) -> MirrorTruth:
        """In one snapshot: whether mirror syncs are pending, the DNC flag, the checksum of the
        listed entries, and the listed entries expiring by ``expired_by`` (at most ``limit``)."""
        ...

    async def fold_checksums(self, organization_id: UUID) -> None:
        """Fold the checksum's accumulated changes into one row a list (keeps reading it
        cheap)."""
        ...

    async def listed_page(
        self,
        organization_id: UUID,
        after: str,
        now: datetime,
        limit: int,
        list_id: str = DEFAULT_LIST,
    ) -> list[tuple[str, bool]]:
        """Listed numbers above ``after`` in order, each with whether it blocks at ``now``."""
        ...

    async def listed_among(
        self, organization_id: UUID, numbers: Sequence[str], list_id: str = DEFAULT_LIST
    ) -> set[str]:
        """Which of these numbers are listed (not removed), expired or not."""
        ...


class AuditLog(Protocol):
    async def record(self, event: AuditEvent) -> None: ...
    async def record_added(
        self,
        organization_id: UUID,
        actor_user_id: UUID | None,
        entry_ids: Sequence[UUID],
        details: dict[str, Any],
    ) -> None:
        """One ``dnc.add`` row per entry (number, entry id, type, source, expiry and
        ``details``), written set-based in one statement whatever the count."""
        ...

    async def record_removed(
        self,
        organization_id: UUID,
        actor_user_id: UUID | None,
        action: str,
        entry_ids: Sequence[UUID],
        details: dict[str, Any],
    ) -> None:
        """One ``action`` row (``dnc.remove``, ``dnc.expire``) per entry taken off its list
        (number, list, entry id; the entry's type and expiry as ``before``, ``details`` as
        ``after``), written set-based in one statement whatever the count."""
        ...

    async def page(
        self,
        organization_id: UUID,
        query: AuditQuery,
        after_id: int | None,
        offset: int,
        limit: int,
    ) -> list[AuditRecord]: ...
    async def count(self, organization_id: UUID, query: AuditQuery) -> int: ...


class Outbox(Protocol):
    async def add(self, organization_id: UUID, kind: str, payload: dict[str, object]) -> int: ...
    async def claim(self, message_id: int) -> OutboxMessage | None:
        """Lock an unprocessed message for this transaction; None if done or held elsewhere."""
        ...

    async def mark_processed(self, message_id: int) -> None: ...
    async def record_failure(self, message_id: int, error: str) -> None: ...
    async def pending_ids(self, kind: str, older_than: datetime, limit: int) -> list[int]: ...
    async def pending_for(
        self, organization_id: UUID, kind: str, limit: int = 1000
    ) -> list[OutboxMessage]: ...
    async def mark_processed_many(self, message_ids: Sequence[int]) -> None: ...
    async def organizations_pending(self, kind: str) -> list[UUID]: ...
    async def has_pending(self, organization_id: UUID, kind: str) -> bool: ...
    async def last_id(self) -> int: ...
    async def oldest_pending_age(self) -> float:
        """Seconds since the oldest unprocessed message of any organization was written
        (0: none pending)."""
        ...

    async def numbers_since(self, organization_id: UUID, kind: str, after_id: int) -> set[str]:
        """Numbers named by messages of this kind with ids above ``after_id``."""
        ...


class UnitOfWork(Protocol):
    """One transaction; leaving the block without :meth:`commit` rolls it back."""

    @property
    def organizations(self) -> OrganizationRepository: ...
    @property
    def users(self) -> UserRepository: ...
    @property
    def tokens(self) -> TokenRepository: ...
    @property
    def console_sessions(self) -> ConsoleSessionRepository: ...
    @property
    def batches(self) -> BatchRepository: ...
    @property
    def calls(self) -> CallRepository: ...
    @property
    def entries(self) -> DncEntryRepository: ...
    @property
    def lists(self) -> ListRepository: ...
    @property
    def prefixes(self) -> PrefixRepository: ...
    @property
    def shared_lists(self) -> SharedListRepository: ...
    @property
    def exemptions(self) -> ExemptionRepository: ...
    @property
    def audit(self) -> AuditLog: ...
    @property
    def outbox(self) -> Outbox: ...
    @property
    def history(self) -> HistoryRepository: ...

    async def __aenter__(self) -> Self: ...
    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...
    async def commit(self) -> None: ...


class DncMirror(Protocol):
    """The Redis copy dialers read: each list of an organization (its org-wide one unless
    ``list_id`` says otherwise), its DNC flag and its prefix rules. Every call raises
    :class:`domain.errors.Unavailable` when Redis cannot answer or take the write."""

    async def check(
        self, organization_id: UUID, numbers: Sequence[str], lists: Sequence[str] = ()
    ) -> MirrorAnswer:
        """What blocks each number: the org-wide list, the named ``lists``, a prefix rule."""
        ...

    async def apply(
        self,
        organization_id: UUID,
        add: Sequence[str] = (),
        remove: Sequence[str] = (),
        enabled: bool | None = None,
        list_id: str = DEFAULT_LIST,
    ) -> bool:
        """Add and remove numbers of one list, and set the DNC flag unless it is None,
        atomically in its live and its building generation; True if one is live."""
        ...

    async def set_prefixes(self, organization_id: UUID, prefixes: Sequence[str]) -> None:
        """Store the organization's prefix rules (all of them)."""
        ...

    async def state(self, organization_id: UUID, list_id: str = DEFAULT_LIST) -> MirrorState: ...
    async def count(self, organization_id: UUID, list_id: str = DEFAULT_LIST) -> int | None:
        """How many numbers the live generation holds (None when there is none)."""
        ...

    async def members(self, organization_id: UUID, list_id: str = DEFAULT_LIST) -> set[int] | None:
        """Every number in the live generation (None when there is none)."""
        ...

    async def begin_rebuild(
        self, organization_id: UUID, expected: int, list_id: str = DEFAULT_LIST
    ) -> MirrorBuild:
        """Announce a new generation sized for ``expected`` numbers; live writes reach it
        from now on."""
        ...

    async def load_buckets(
        self, organization_id: UUID, build: MirrorBuild, groups: Sequence[tuple[int, list[int]]]
    ) -> bool:
        """Load into the build; False (nothing written) if another rebuild took over."""
        ...

    async def probe(
        self, organization_id: UUID, numbers: Sequence[str] = (), list_id: str = DEFAULT_LIST
    ) -> MirrorProbe:
        """The live generation's checksum and these numbers' memberships, atomically."""
        ...

    async def bucket_members(
        self, organization_id: UUID, start: int, stop: int, list_id: str = DEFAULT_LIST
    ) -> tuple[int, set[int]] | None:
        """The live generation's bucket count and the numbers in buckets [start, stop)."""
        ...

    async def verify_cursor(self) -> VerifyCursor | None: ...
    async def save_verify_cursor(self, cursor: VerifyCursor) -> None: ...
    async def swap(
        self,
        organization_id: UUID,
        build: MirrorBuild,
        enabled: bool | None,
        rebuilt_at: str,
        count: int,
        prefixes: Sequence[str] | None = None,
    ) -> bool:
        """Make the build live and its list ready, with the flag (None: a named list's) and
        the prefix rules (the org-wide list's); False if another rebuild took over meanwhile."""
        ...

    async def drop_list(self, organization_id: UUID, list_id: str) -> None:
        """Forget a deleted named list: checks naming it read as unknown."""
        ...

    async def set_subscriptions(self, organization_id: UUID, list_ids: Sequence[str]) -> None:
        """Store the shared lists the organization's checks consult (all of them)."""
        ...

    async def set_exemptions(
        self,
        organization_id: UUID,
        lapses: Mapping[str, datetime | None],
        clear: Sequence[str] = (),
        replace: bool = False,
    ) -> None:
        """Store when each number's exemption lapses (None: never), and forget those of
        ``clear``; ``replace``: these are all of them (every other one is forgotten)."""
        ...

    async def exemption_count(self, organization_id: UUID) -> int | None:
        """How many numbers have an exemption stored (None: the mirror is not ready)."""
        ...


class SharedMirror(Protocol):
    """The Redis copy of each shared list, in the bucketed layout under a hash tag of its own,
    which checks of its subscribers read beside theirs. Every call raises
    :class:`domain.errors.Unavailable` when Redis cannot answer or take the write."""

    async def state(self, list_id: str) -> MirrorState: ...
    async def begin_rebuild(self, list_id: str, expected: int) -> MirrorBuild: ...
    async def load_buckets(
        self, list_id: str, build: MirrorBuild, groups: Sequence[tuple[int, list[int]]]
    ) -> bool:
        """Load into the build; False (nothing written) if another rebuild took over."""
        ...

    async def swap(
        self,
        list_id: str,
        build: MirrorBuild,
        fresh_until: datetime | None,
        rebuilt_at: str,
        count: int,
    ) -> bool:
        """Make the build live and ready, vouching for numbers until ``fresh_until`` (None:
        not at all); False if another rebuild took over meanwhile."""
        ...

    async def suspend(self, list_id: str) -> None:
        """Mark the live generation not ready (its subscribers' checks ask Postgres) until
        the next swap: a load does so before its Postgres commit, so a swap that never follows
        (Redis lost at that moment, the process killed, another load taking the build over)
        leaves no old generation answering for the new numbers."""
        ...

    async def apply(
        self,
        list_id: str,
        add: Sequence[str],
        remove: Sequence[str],
        fresh_until: datetime | None,
    ) -> bool:
        """Add and remove numbers in the live and the building generation, and set the
        freshness, atomically; True if one is live."""
        ...

    async def probe(self, list_id: str, numbers: Sequence[str] = ()) -> MirrorProbe:
        """The live generation's checksum and freshness, and which of ``numbers`` it holds, in
        one reading."""
        ...

    async def bucket_members(
        self, list_id: str, start: int, stop: int
    ) -> tuple[int, set[int]] | None:
        """The live generation's bucket count and the numbers in buckets ``start`` to
        ``stop`` (excluded); None without one."""
        ...

    async def verify_cursor(self) -> SharedCursor | None:
        """Where the shared lists' full verification stopped (None: start over)."""
        ...

    async def save_verify_cursor(self, cursor: SharedCursor) -> None: ...
    async def count(self, list_id: str) -> int | None: ...


class JobQueue(Protocol):
    """Work for the worker. Every call raises :class:`domain.errors.Unavailable` when the
    queue cannot take (or tell about) a job."""

    async def dispatch_outbox(self, message_ids: Sequence[int]) -> None:
        """Hand committed outbox messages to workers (the relay hands them again if this
        fails)."""
        ...

    async def enqueue_rebuild(self, organization_id: UUID) -> str:
        """Queue a mirror rebuild (one per organization at a time); returns the job id."""
        ...

    async def enqueue_import(self, import_id: UUID) -> str:
        """Queue a staged import's processing (one job per import at a time); returns the job
        id."""
        ...

    async def import_pending(self, import_id: UUID) -> bool:
        """Whether the import's job is waiting in the queue or running."""
        ...


class ListTransfers(Protocol):
    """Whole lists in and out as CSV, done by the store itself: files of millions of rows are
    streamed, never held in memory nor written a row at a time."""

    async def stage(
        self,
        organization_id: UUID,
        user_id: UUID | None,
        body: AsyncIterator[bytes],
        list_id: str = DEFAULT_LIST,
    ) -> StagedImport:
        """Take a CSV file in whole, rows unchecked, as a queued import into the list. Raises
        :class:`domain.errors.InvalidInput` (nothing staged) when it cannot be read as CSV."""
        ...

    async def process(
        self, import_id: UUID, mirror: DncMirror, progress: Progress | None = None
    ) -> ImportReport:
        """Check the staged rows (``domain.imports.RowReader``) and list the good ones as every
        path lists numbers (``domain.usecases.entries.list_many``, settled after the commit
        with ``domain.usecases.mirror_sync.settle_written``), in one transaction;
        safe to run again (a finished import answers with how it ended). Raises
        :class:`domain.errors.Unavailable` (nothing listed, the rows still staged) when the
        mirror cannot take the numbers, and :class:`domain.errors.InvalidInput` when its
        list was deleted since it was staged."""
        ...

    async def abandon(self, import_id: UUID, failure: str) -> None:
        """Mark an import failed for good, with its reason, and drop its staged rows."""
        ...

    async def report(self, organization_id: UUID, import_id: UUID) -> ImportReport:
        """Raises :class:`domain.errors.NotFound` for no such import in the organization."""
        ...

    async def lost(self, older_than: datetime, max_attempts: int, queue: JobQueue) -> LostImports:
        """Imports left queued or running since before ``older_than`` that no run holds and
        whose job the ``queue`` does not hold (:meth:`JobQueue.import_pending`): their job was
        lost. One whose staged rows are
        gone, or found lost ``max_attempts`` times already, is marked failed; the others count
        one more attempt, to be enqueued again."""
        ...

    def export(self, organization_id: UUID, list_id: str = DEFAULT_LIST) -> AsyncIterator[bytes]:
        """One of the organization's lists as CSV (phoneNumber,type,expiresAt,createdAt),
        streamed; a ``type`` a spreadsheet would run as a formula is neutralized
        (``domain.imports.neutralized``)."""
        ...


class Mailer(Protocol):
    async def send(self, email: Email) -> None:
        """Raises :class:`MailRejected` for a message that can never be sent as it is, and
        :class:`MailerUnavailable` when it could not be handed over now; nothing else."""
        ...


class MailerUnavailable(Exception):
    """The mail server could not take the message now; try again later."""


class MailRejected(Exception):
    """The mail server refused the message for good (e.g. unknown recipient)."""


class ReceiptStore(Protocol):
    """Where receipts of checks are kept. A receipt is the one thing its request writes, so
    each call is its own transaction: :meth:`add` returns once the receipt is committed."""

    async def add(self, receipt: CheckReceipt) -> None:
        """Keeps ``receipt`` for good; :class:`Unavailable` when it could not be stored."""
        ...

    async def get(self, organization_id: UUID, receipt_id: UUID) -> CheckReceipt | None:
        """The organization's receipt by that id (None: none of the organization's)."""
        ...
