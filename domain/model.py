"""Plain records the use cases work with; the persistence layer maps rows to and from these."""

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal, NamedTuple
from uuid import UUID

from domain.checksum import Checksum
from domain.errors import InvalidInput

Role = Literal["admin", "member"]
Scope = Literal["full", "check"]
ROLES: tuple[Role, ...] = ("admin", "member")
SCOPES: tuple[Scope, ...] = ("full", "check")
MAX_PAGE_SIZE = 1000
MAX_PAGE = 1_000_000  # deeper than this, page with the cursor (an offset must fit in a bigint)
DEFAULT_LIST = "default"  # the id of every organization's org-wide list
ListKind = Literal["org", "campaign"]


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: the token's user, its organization, role and scope."""

    user_id: UUID
    organization_id: UUID
    role: Role
    scope: Scope
    token_id: UUID


@dataclass(frozen=True, slots=True)
class Organization:
    id: UUID
    name: str
    dnc_enabled: bool


@dataclass(frozen=True, slots=True)
class User:
    id: UUID
    organization_id: UUID
    email: str
    role: Role


@dataclass(frozen=True, slots=True)
class ApiToken:
    id: UUID
    user_id: UUID
    token_hash: str
    scope: Scope


@dataclass(frozen=True, slots=True)
class Batch:
    id: UUID
    organization_id: UUID
    batch_id: str
    user_id: UUID | None
    name: str | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class CallRecord:
    id: UUID
    organization_id: UUID
    batch_pk: UUID
    batch_id: str
    request_uuid: str
    phone_number: str
    recording_url: str | None
    transcription: str | None
    status: str | None
    started_at: datetime | None
    duration_seconds: int | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class DncEntry:
    id: UUID
    organization_id: UUID
    phone_number: str
    type: str | None
    source: str
    batch_id: str | None
    batch_pk: UUID | None
    call_record_id: UUID | None
    request_uuid: str | None
    call_recording: str | None
    transcription: str | None
    added_by: UUID | None
    created_at: datetime
    expires_at: datetime | None = None
    list_id: str = DEFAULT_LIST
    requested_at: datetime | None = None  # the call's time, for an entry added from a call


@dataclass(frozen=True, slots=True)
class EnforcementReport:
    """Requests from calls received in a period (by the call's time), and how many seconds
    each took to be enforced (the entry written, Redis first): the median and the longest
    (None when there was none)."""

    since: datetime
    until: datetime
    requests: int
    median_seconds: float | None
    max_seconds: float | None


@dataclass(frozen=True, slots=True)
class PastEntry:
    """An entry as its history shows it: listed (``removed_at`` None) or a tombstone, with who
    removed it and why (``expired``, ``list deleted`` or the remover's reason)."""

    entry: DncEntry
    removed_at: datetime | None = None
    removed_by: UUID | None = None
    removal_reason: str | None = None


@dataclass(frozen=True, slots=True)
class DncList:
    """One of an organization's lists: the org-wide one (:data:`DEFAULT_LIST`, kind ``org``)
    or a named one (kind ``campaign``). ``count``: its entries not removed."""

    organization_id: UUID
    id: str
    name: str
    kind: ListKind
    description: str | None
    created_at: datetime
    count: int = 0


SharedListKind = Literal["registry", "state", "litigator"]
SHARED_LIST_KINDS: tuple[SharedListKind, ...] = ("registry", "state", "litigator")
DEFAULT_MAX_AGE_DAYS = 31  # the national registry's: data no older than 31 days before a call


@dataclass(frozen=True, slots=True)
class SharedList:
    """A list no organization writes (the national registry's area codes, a state list, a
    litigator list): operators load it, organizations subscribe to it. ``downloaded_at`` is
    when its data was fetched from its source (None: never loaded); past ``max_age_days``
    from then it is stale. ``generation``: the load whose numbers are live (None: none)."""

    id: str
    name: str
    kind: SharedListKind
    max_age_days: int
    created_at: datetime
    downloaded_at: datetime | None = None
    loaded_at: datetime | None = None
    count: int = 0
    generation: int | None = None

    @property
    def fresh_until(self) -> datetime | None:
        """When its data stops vouching for numbers (None: it never did)."""
        if self.downloaded_at is None:
            return None
        return self.downloaded_at + timedelta(days=self.max_age_days)

    def stale(self, now: datetime) -> bool:
        fresh_until = self.fresh_until
        return fresh_until is None or now >= fresh_until


ExemptionBasis = Literal["ebr_purchase", "ebr_inquiry", "written_consent"]
EXEMPTION_BASES: tuple[ExemptionBasis, ...] = ("ebr_purchase", "ebr_inquiry", "written_consent")


@dataclass(frozen=True, slots=True)
class Exemption:
    """The organization may call ``phone_number`` whatever its shared lists say (never its
    own lists or prefix rules), from ``since`` until ``lapses_at`` (None: until deleted)."""

    id: UUID
    organization_id: UUID
    phone_number: str
    basis: ExemptionBasis
    since: datetime
    lapses_at: datetime | None
    created_by: UUID | None
    created_at: datetime

    def lifts(self, now: datetime) -> bool:
        return self.lapses_at is None or now < self.lapses_at


@dataclass(frozen=True, slots=True)
class ExemptionPage:
    items: list[Exemption]
    total: int


@dataclass(frozen=True, slots=True)
class PrefixRule:
    """Every number whose E.164 digits start with ``prefix`` is blocked."""

    id: UUID
    organization_id: UUID
    prefix: str
    reason: str | None
    created_by: UUID | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class AuditEvent:
    organization_id: UUID
    actor_user_id: UUID | None
    action: str
    phone_number: str | None = None
    entity_id: str | None = None
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None
    list_id: str | None = None  # the list the event concerns; None: the organization


@dataclass(frozen=True, slots=True)
class OutboxMessage:
    id: int
    organization_id: UUID
    kind: str
    payload: dict[str, Any] = field(default_factory=dict)
    attempts: int = 0


@dataclass(frozen=True, slots=True)
class Email:
    """One message to one recipient; ``message_id`` makes a re-sent copy recognisable."""

    to: str
    subject: str
    body: str
    message_id: str


@dataclass(frozen=True, slots=True)
class MirrorAnswer:
    """What the Redis mirror knows: nothing (``ready`` False), or the flag and, for each
    number asked, what blocks it (None: nothing does)."""

    ready: bool
    enabled: bool
    blocking: "tuple[Blocking | None, ...]" = ()

    @property
    def listed(self) -> tuple[bool, ...]:
        """For each number: is anything blocking it?"""
        return tuple(b is not None for b in self.blocking)


class Blocking(NamedTuple):
    """What blocks one number: the organization's lists that hold it (of those asked about),
    whether a prefix rule matches it, the subscribed shared lists that hold it, and the
    subscribed shared lists too stale to vouch for it (an exemption lifts both of those)."""

    lists: tuple[str, ...]
    prefix: bool
    shared: tuple[str, ...] = ()
    stale: tuple[str, ...] = ()

    @property
    def reason(self) -> str:
        """The strongest: the organization's own word ("dnc", "prefix"), then a registry's."""
        if self.lists:
            return "dnc"
        if self.prefix:
            return "prefix"
        return "registry" if self.shared else "registry_stale"

    @property
    def ids(self) -> tuple[str, ...]:
        """Every list that blocks the number: the organization's, then the shared ones."""
        if not self.shared and not self.stale:
            return self.lists
        return tuple(dict.fromkeys((*self.lists, *self.shared, *self.stale)))


@dataclass(frozen=True, slots=True)
class MirrorState:
    ready: bool
    enabled: bool | None
    generation: str | None
    buckets: int | None
    building: bool
    rebuilt_at: str | None
    rebuilt_count: int | None


@dataclass(frozen=True, slots=True)
class WrittenChange:
    """A change whose numbers reached the mirror before its commit: its ``mirror.sync``
    message, and the list's mirror as it was when they were written (under the
    organization's mirror lock)."""

    change_id: int
    list_id: str
    written_to: MirrorState


@dataclass(frozen=True, slots=True)
class ListMirrorStatus:
    """How one list's mirror is doing: ``postgres`` the numbers it should hold, ``redis``
    what it holds (None when it is not ready)."""

    list_id: str
    name: str
    state: MirrorState
    postgres: int
    redis: int | None


@dataclass(frozen=True, slots=True)
class MirrorProbe:
    """The live generation's checksum and some numbers' memberships, read atomically."""

    ready: bool
    enabled: bool | None
    buckets: int | None
    checksum: Checksum | None  # None: no live generation, or one kept without a checksum
    members: tuple[bool, ...] = ()
    prefixes: tuple[str, ...] | None = None  # the org-wide list's: the prefix rules held
    subscriptions: tuple[str, ...] | None = None  # the org-wide list's: the shared lists held
    fresh_until: int | None = None  # a shared list's: its freshness, in seconds since 1970


@dataclass(frozen=True, slots=True)
class MirrorTruth:
    """What Postgres says one organization's mirror should hold, read in one snapshot."""

    pending: bool  # mirror.sync messages not applied yet: the mirror may lag behind
    enabled: bool
    listed: Checksum  # every listed (not removed) entry
    expired: list[str] | None  # listed entries expired or about to be (None: too many)
    prefixes: tuple[str, ...] = ()  # the organization's prefix rules, in order


@dataclass(frozen=True, slots=True)
class VerifyCursor:
    """Where the slice-by-slice full verification goes on: a list of an organization, and
    within it the last Postgres number compared (phase "postgres") or the next Redis bucket
    ("redis")."""

    organization_id: UUID
    phase: str = "postgres"
    after: str = ""
    bucket: int = 0
    list_id: str = DEFAULT_LIST


@dataclass(frozen=True, slots=True)
class SharedCursor:
    """Where the slice-by-slice full verification of the shared lists goes on: a list, and
    within it the last number compared from Postgres (phase "postgres") or the next Redis
    bucket ("redis")."""

    list_id: str
    phase: str = "postgres"
    after: int = 0
    bucket: int = 0


@dataclass(frozen=True, slots=True)
class BadLine:
    """A line of a shared list's file that is not a number (or, in a change file, not a
    number and ``A`` or ``D``): where it is, and what it says (cut short)."""

    file: str
    line: int
    text: str


@dataclass(frozen=True, slots=True)
class NumberChunk:
    """Part of a shared list's files, read: its numbers as ``COPY`` text (E.164 digits, one
    a line), how many, and the lines that were not numbers."""

    text: bytes
    count: int
    bad: tuple[BadLine, ...] = ()


@dataclass(frozen=True, slots=True)
class ChangeChunk:
    """Part of a change file, read: the numbers added and deleted (E.164 digits), and the
    lines that were not changes."""

    added: tuple[str, ...]
    deleted: tuple[str, ...]
    bad: tuple[BadLine, ...] = ()


@dataclass(frozen=True, slots=True)
class StagedNumbers:
    """A shared list's load, written to Postgres but not live yet: its generation and the
    checksum of its (distinct) numbers."""

    generation: int
    checksum: Checksum


@dataclass(frozen=True, slots=True)
class MirrorBuild:
    """A generation of one list's mirror being built by a rebuild."""

    generation: str
    buckets: int
    list_id: str = DEFAULT_LIST


class Verdict(NamedTuple):  # a tuple: a bulk check makes tens of thousands of them
    """One number's answer: ``reason`` is "dnc" (on a list), "prefix" (a prefix rule),
    "invalid", or None (callable); ``lists`` the ids of the lists that hold it."""

    phone_number: str
    normalized: str | None
    blocked: bool
    reason: str | None
    lists: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class CheckResult:
    dnc_enabled: bool
    verdicts: list[Verdict]
    source: str  # "redis", "postgres" or "api"
    blocked_count: int  # invalid numbers included: they are blocked too
    invalid_count: int

    @classmethod
    def of(cls, dnc_enabled: bool, verdicts: list[Verdict], source: str) -> "CheckResult":
        """The result of these verdicts, counted (a bulk check counts them in turns)."""
        blocked = sum(1 for v in verdicts if v.blocked)
        invalid = sum(1 for v in verdicts if v.normalized is None)
        return cls(dnc_enabled, verdicts, source, blocked, invalid)


@dataclass(frozen=True, slots=True)
class OrganizationRecord:
    """An organization as an operator lists it (``dnc org list``)."""

    id: UUID
    name: str
    dnc_enabled: bool
    created_at: datetime
    users: int


@dataclass(frozen=True, slots=True)
class UserRecord:
    """A user as an operator lists it (``dnc user list``)."""

    id: UUID
    organization_id: UUID
    email: str
    role: Role
    created_at: datetime


@dataclass(frozen=True, slots=True)
class TokenRecord:
    """A token as an operator lists it (``dnc token list``): never its secret or its hash.
    When it was last used is not recorded."""

    id: UUID
    user_id: UUID
    scope: Scope
    created_at: datetime
    revoked_at: datetime | None


@dataclass(frozen=True, slots=True)
class AuditRecord:
    id: int
    action: str
    actor_user_id: UUID | None
    phone_number: str | None
    entity_id: str | None
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    created_at: datetime
    list_id: str | None = None


# Value types the use cases take and give back --------------------------------------------


@dataclass(frozen=True, slots=True)
class PageRequest:
    """Offset paging (``page``) for the vendor's clients, keyset paging (``after``) for the rest."""

    page: int = 1
    limit: int = 10
    after: tuple[datetime, UUID] | None = None

    def __post_init__(self) -> None:
        if self.page < 1:
            raise InvalidInput("page must be 1 or more")
        if self.page > MAX_PAGE:
            raise InvalidInput(f"page must be at most {MAX_PAGE}; go deeper with the cursor")
        if not 1 <= self.limit <= MAX_PAGE_SIZE:
            raise InvalidInput(f"limit must be between 1 and {MAX_PAGE_SIZE}")

    @property
    def offset(self) -> int:
        return 0 if self.after else (self.page - 1) * self.limit


@dataclass(frozen=True, slots=True)
class EntryPage:
    items: list[DncEntry]
    total: int | None  # counted for page requests; a cursor request skips the full count
    has_more: bool


@dataclass(frozen=True, slots=True)
class AuditQuery:
    phone_number: str | None = None
    action: str | None = None
    actor: UUID | None = None
    since: datetime | None = None
    until: datetime | None = None
    list_id: str = DEFAULT_LIST  # that list's events; the org-wide list's include the org's own


@dataclass(frozen=True, slots=True)
class AuditPage:
    items: list[AuditRecord]
    total: int
    has_more: bool


@dataclass(frozen=True, slots=True)
class AddNumber:
    phone_number: str
    batch_id: str
    request_uuid: str
    type: str | None = None
    expires_at: datetime | None = None
    list_id: str | None = None  # None: the org-wide list


@dataclass(frozen=True, slots=True)
class BulkItem:
    phone_number: str
    type: str | None = None
    expires_at: datetime | None = None
    list_id: str | None = None  # None: the request's list


@dataclass(frozen=True, slots=True)
class BulkOutcome:
    phone_number: str
    normalized: str | None
    outcome: str  # "added", "duplicate" or "invalid"
    error: str | None = None


@dataclass(frozen=True, slots=True)
class NewCall:
    phone_number: str
    request_uuid: str | None = None
    recording_url: str | None = None
    transcription: str | None = None
    status: str | None = None
    started_at: datetime | None = None
    duration_seconds: int | None = None


@dataclass(frozen=True, slots=True)
class RebuildReport:
    organization_id: UUID
    loaded: int
    swapped: bool


@dataclass(frozen=True, slots=True)
class Drift:
    organization_id: UUID
    ready: bool
    postgres: int
    redis: int | None
    missing_in_redis: int = 0
    extra_in_redis: int = 0
    checksum_differs: bool = False  # the cheap check: counts, sums, the flag or the rules differ
    list_id: str = DEFAULT_LIST

    @property
    def drifted(self) -> bool:
        return (
            not self.ready
            or self.missing_in_redis > 0
            or self.extra_in_redis > 0
            or self.checksum_differs
        )


@dataclass(frozen=True, slots=True)
class StagedImport:
    """A CSV file taken in whole, its rows not checked yet: a ``queued`` import."""

    id: UUID
    rows: int


@dataclass(frozen=True, slots=True)
class ImportReport:
    """How an import is doing (``queued``, ``running``) or how it ended (``done``, ``failed``,
    with the ``failure``); ``errors`` holds the first bad rows (``{"line", "error"}``)."""

    id: UUID
    status: str
    rows: int
    processed: int = 0
    added: int = 0
    duplicate: int = 0
    invalid: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)
    failure: str | None = None


@dataclass(frozen=True, slots=True)
class ImportStarted:
    """An import's answer: processed at once, or queued for the worker (with its job id)."""

    report: ImportReport
    job_id: str | None = None

    @property
    def queued(self) -> bool:
        return self.job_id is not None


@dataclass(frozen=True, slots=True)
class LostImports:
    """Imports whose job was lost: ``retry`` are to be enqueued again, ``failed`` were marked
    failed (with the reason)."""

    retry: list[UUID]
    failed: list[UUID]


@dataclass(frozen=True, slots=True)
class ConsoleSession:
    """Someone signed in to the web console with a full-scope token. The cookie holds a secret
    whose hash is ``session_hash``; ``csrf_token`` goes in every form the session is shown."""

    session_hash: str
    token_id: UUID
    csrf_token: str
    created_at: datetime
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class CheckReceipt:
    """A check kept as evidence: the question as it was asked (JSON), the answer exactly as
    it was sent (the response body's bytes), and what the answer rests on. ``versions`` is a
    JSON object the store completes when it writes the receipt (the shared lists' versions);
    the use cases pass it on unread."""

    id: UUID
    organization_id: UUID
    asked_by: UUID | None  # the user whose token asked
    asked_at: datetime
    numbers: int  # how many numbers were asked about
    question: bytes
    answer: bytes
    versions: bytes
