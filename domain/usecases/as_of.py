"""A check at a past moment (``at=`` on both checks): what a check at ``at`` would have
answered, from what Postgres keeps (never from Redis, which holds the present only).

Reconstructed as they were at ``at``: the organization's DNC switch, its entries on the
org-wide list and the named lists asked about (added, removed, expired; a named list's
deletion removed its entries then), which named lists existed, its prefix rules, its
exemptions (created, deleted, lapsed) and its subscriptions to shared lists. Not
reconstructed: a shared list's contents and freshness. Postgres keeps only a shared list's
current generation (a national registry is hundreds of millions of numbers; a history per
number would cost more than the list), so a subscribed list answers with what it holds now
(and every number a change file deleted from it since: it may have been held then), and is
stale at ``at`` when its current data would have been; the answer names the lists whose data
changed after ``at`` (``sharedListsChangedSince``): for the others it is exact.
README ("Checks at a past moment") says what that means for the answers."""

import asyncio
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import NamedTuple
from uuid import UUID

from domain.errors import InvalidInput, Unavailable
from domain.model import DEFAULT_LIST, Blocking, CheckResult, SharedList
from domain.ports import UnitOfWork
from domain.rules import PrefixRules
from domain.rules import blocking as rules_blocking
from domain.time import as_utc, utcnow
from domain.usecases.checks import YIELD_EVERY, normalize_all, verdicts_for
from domain.usecases.lists import named_lists_of

SOURCE = "history"  # CheckResult.source of an as-of check
MAX_AT_LENGTH = 64
EXAMPLE = "e.g. 2026-11-01T10:03:00-04:00 or 2026-11-01T14:03:00Z"
ISO_CHARACTERS = frozenset("0123456789-:.,+TtZz ")  # (a NUL, another digit: not a time)
UNAVAILABLE = "The database cannot answer a check at a past moment right now; retry shortly"


class PastCheck(NamedTuple):
    result: CheckResult
    # the shared lists consulted whose data changed after the moment: answered with their
    # current numbers and freshness, which may not be what they were then
    shared_changed_since: tuple[str, ...]


def parse_at(raw: str) -> datetime:
    """``at`` as a caller sends it: ISO 8601 with a date, a time and a timezone (``Z`` or an
    offset), in UTC. A date alone, a time without a timezone, or anything else is a 400: read
    in the server's timezone it would be an answer about another moment."""
    text = raw.strip()
    if not text:
        raise InvalidInput(f"at is empty: send a time in ISO 8601 with a timezone, {EXAMPLE}")
    if len(text) > MAX_AT_LENGTH or not set(text) <= ISO_CHARACTERS:
        raise InvalidInput(f"at is not an ISO 8601 date and time with a timezone, {EXAMPLE}")
    try:
        moment = datetime.fromisoformat(text[:-1] + "+00:00" if text[-1] in "zZ" else text)
    except ValueError:
        raise InvalidInput(
            f"at is not an ISO 8601 date and time with a timezone, {EXAMPLE}"
        ) from None
    return as_utc(moment, "at")


async def check_numbers_at(
    uow: UnitOfWork,
    organization_id: UUID,
    raw_numbers: Sequence[str],
    lists: Sequence[str],
    at: datetime,
) -> PastCheck:
    """Each number as a check at ``at`` would have answered it, asking about the org-wide
    list, the named ``lists`` (each must have existed at ``at``) and the prefix rules then in
    force, and the shared lists subscribed to then (their current contents)."""
    at = as_utc(at, "at")
    named = named_lists_of(lists)
    now = utcnow()
    if at > now:
        raise InvalidInput(
            f"at ({at.isoformat()}) is in the future (the server's time is "
            f"{now.isoformat()}): a check at a past moment needs a moment that has passed"
        )
    normalized, unique = await _normalized(raw_numbers)
    try:
        async with uow:
            created = await uow.history.created_at(organization_id)
            if created is None or at < created:
                raise InvalidInput(_before_organization(created))
            unknown = await uow.history.missing_lists_at(organization_id, named, at)
            if unknown:
                raise InvalidInput(
                    f"Unknown list id {unknown[0]!r} at {at.isoformat()}: the organization "
                    "had no such list then"
                )
            enabled = await uow.history.enabled_at(organization_id, at)
            blocking, subscribed = await _blocking_at(uow, organization_id, unique, named, at)
            changed = await uow.history.shared_changed_since(subscribed, at)
    except InvalidInput:
        raise
    except Exception as exc:  # any failure here means we do not know: refuse, never guess
        raise Unavailable(UNAVAILABLE) from exc
    verdicts = []
    for start in range(0, len(raw_numbers), YIELD_EVERY):  # 50,000 numbers: in turns
        if start:
            await asyncio.sleep(0)
        end = start + YIELD_EVERY
        verdicts += verdicts_for(raw_numbers[start:end], normalized[start:end], enabled, blocking)
    return PastCheck(CheckResult.of(enabled, verdicts, SOURCE), tuple(changed))


async def _normalized(raw_numbers: Sequence[str]) -> tuple[list[str | None], list[str]]:
    """``normalize_all``, giving the event loop back every :data:`YIELD_EVERY` numbers (as a
    check of the present does)."""
    normalized: list[str | None] = []
    unique: dict[str, None] = {}
    for start in range(0, len(raw_numbers), YIELD_EVERY):
        if start:
            await asyncio.sleep(0)
        part, distinct = normalize_all(raw_numbers[start : start + YIELD_EVERY])
        normalized += part
        unique.update(dict.fromkeys(distinct))
    return normalized, list(unique)


def _before_organization(created: datetime | None) -> str:
    if created is None:
        return "The organization does not exist"
    # created_at has microseconds; the message gives the first whole second after it
    since = (created + timedelta(microseconds=999_999)).replace(microsecond=0)
    return (
        f"at is before the organization existed: it was created at {created.isoformat()}; "
        f"ask about {since.isoformat()} or later"
    )


async def _blocking_at(
    uow: UnitOfWork,
    organization_id: UUID,
    numbers: list[str],
    named: tuple[str, ...],
    at: datetime,
) -> tuple[dict[str, Blocking], list[str]]:
    """What blocked each number at ``at`` (those that nothing blocked: absent), and the
    shared lists subscribed to then."""
    order = (DEFAULT_LIST, *named)
    history = uow.history
    lists = await history.blocking_lists_at(organization_id, numbers, at, order)
    rules = PrefixRules(await history.prefixes_at(organization_id, at))
    subscribed = await history.subscribed_at(organization_id, at)
    holding: dict[str, tuple[str, ...]] = {}
    stale: list[str] = []
    exempt: set[str] = set()
    if subscribed:
        exempt = await history.exempt_at(organization_id, numbers, at)
        for list_id in subscribed:
            shared = await uow.shared_lists.get(list_id)
            if _stale_at(shared, at):
                stale.append(list_id)
            if shared is not None:
                holds = await uow.shared_lists.listed_among(shared, numbers)
                # a number a change file deleted since may have been held then: it counts
                holds |= await history.deleted_since(list_id, numbers, at)
                for number in (n for n in numbers if n in holds):
                    holding[number] = (*holding.get(number, ()), list_id)
    found: dict[str, Blocking] = {}
    for number in numbers:
        on = lists.get(number)
        held = tuple(list_id for list_id in order if on and list_id in on)
        theirs, lifted = holding.get(number, ()), number in exempt
        verdict = rules_blocking(held, rules.match(number), theirs, tuple(stale), lifted)
        if verdict is not None:
            found[number] = verdict
    return found, subscribed


def _stale_at(shared: SharedList | None, at: datetime) -> bool:
    """Whether a subscribed list could not vouch for numbers at ``at``, judged by its current
    data: never loaded, past its age at ``at``, or gone (no data to answer with: it blocks
    what it cannot vouch for, as a stale list does)."""
    return shared is None or shared.stale(at)
