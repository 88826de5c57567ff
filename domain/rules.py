"""The rules of listing a number, one copy each; every path that lists numbers (single, bulk,
import) takes them from here. The import's set-based SQL states the same rules in SQL and takes
its constants from here."""

import calendar
from collections.abc import Iterable
from datetime import datetime, timedelta
from uuid import UUID, uuid4

from domain.errors import InvalidInput
from domain.model import DEFAULT_LIST, Batch, Blocking, CallRecord, DncEntry, ExemptionBasis
from domain.time import as_utc

EXPIRED = "expired"  # the removal reason of an entry retired because its expiresAt passed
LIST_DELETED = "list deleted"  # the removal reason of the entries of a deleted list
SOURCE_CALL = "call"
SOURCE_BULK = "bulk"
SOURCE_IMPORT = "import"
# how long an established business relationship lifts the shared lists: 18 months after the
# last purchase, 3 months after an inquiry; written consent holds until it is deleted
EXEMPTION_MONTHS: dict[ExemptionBasis, int | None] = {
    "ebr_purchase": 18,
    "ebr_inquiry": 3,
    "written_consent": None,
}


def expiry(expires_at: datetime | None, now: datetime) -> datetime | None:
    """A new entry's ``expiresAt`` in UTC; it must be in the future."""
    if expires_at is None:
        return None
    expires_at = as_utc(expires_at, "expiresAt")
    if expires_at <= now:
        raise InvalidInput("expiresAt must be in the future")
    return expires_at


def blocks(entry: DncEntry, now: datetime) -> bool:
    """A listed entry blocks until its ``expiresAt``; one past it is retired (with the reason
    :data:`EXPIRED`) when its number is listed anew, or by the expiry job."""
    return entry.expires_at is None or entry.expires_at > now


def new_entry(
    organization_id: UUID,
    number: str,
    added_by: UUID | None,
    now: datetime,
    source: str,
    type: str | None,
    expires_at: datetime | None,
    batch: Batch | None = None,
    call: CallRecord | None = None,
    list_id: str = DEFAULT_LIST,
) -> DncEntry:
    """A new entry; one listed from a call carries its batch and a copy of the call's evidence."""
    return DncEntry(
        id=uuid4(),
        organization_id=organization_id,
        phone_number=number,
        type=type,
        source=source,
        batch_id=batch.batch_id if batch else None,
        batch_pk=batch.id if batch else None,
        call_record_id=call.id if call else None,
        request_uuid=call.request_uuid if call else None,
        call_recording=call.recording_url if call else None,
        transcription=call.transcription if call else None,
        added_by=added_by,
        created_at=now,
        expires_at=expires_at,
        list_id=list_id,
        requested_at=call_time(call) if call else None,
    )


def call_time(call: CallRecord) -> datetime:
    """When a do-not-call request made on the call was made, at the latest: the call's end
    when its start and duration are known, its start, or when it was recorded."""
    if call.started_at is not None and call.duration_seconds is not None:
        return call.started_at + timedelta(seconds=call.duration_seconds)
    return call.started_at or call.created_at


class PrefixRules:
    """An organization's prefix rules, matched as ``check.lua`` matches them: a number is
    blocked when its E.164 digits start with a rule."""

    def __init__(self, prefixes: Iterable[str]) -> None:
        self.prefixes = frozenset(prefixes)
        self.lengths = sorted({len(prefix) for prefix in self.prefixes})

    def match(self, number: str) -> bool:
        return any(number[:length] in self.prefixes for length in self.lengths)


def blocking(
    lists: tuple[str, ...],
    prefix: bool,
    shared: tuple[str, ...],
    stale: tuple[str, ...],
    exempt: bool,
) -> Blocking | None:
    """What blocks a number (None: nothing), given the organization's lists that hold it,
    whether a prefix rule matches it, the subscribed shared lists that hold it, those too
    stale to vouch for it, and whether an exemption lifts the shared lists for it. An
    exemption never lifts the organization's own lists or rules: a do-not-call request beats a
    business relationship."""
    if exempt:
        shared = stale = ()
    else:
        stale = tuple(list_id for list_id in stale if list_id not in shared)
    if not (lists or prefix or shared or stale):
        return None
    return Blocking(lists, prefix, shared, stale)


def exemption_lapse(basis: ExemptionBasis, since: datetime) -> datetime | None:
    """When an exemption on ``basis`` from ``since`` stops lifting the shared lists (None:
    never), in UTC: calendar months after ``since`` in UTC, its day of the month kept, or the
    month's last day when the month is shorter (Aug 31 + 18 months: the last of February)."""
    months = EXEMPTION_MONTHS[basis]
    if months is None:
        return None
    try:
        return add_months(as_utc(since, "since"), months)
    except ValueError:  # past the year 9999
        raise InvalidInput("since is out of range: it would lapse after the year 9999") from None


def add_months(moment: datetime, months: int) -> datetime:
    """``moment`` that many calendar months later, the day clamped to the month's end."""
    index = moment.year * 12 + moment.month - 1 + months
    year, month = divmod(index, 12)
    day = min(moment.day, calendar.monthrange(year, month + 1)[1])
    return moment.replace(year=year, month=month + 1, day=day)
