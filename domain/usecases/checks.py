"""May a dialer call these numbers? From the Redis mirror when it is ready, from Postgres when
it is not or cannot answer, and a refusal (503) when neither can: never a guess."""

import asyncio
import logging
import time
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, NamedTuple
from uuid import UUID

from domain.errors import InvalidInput, Unavailable
from domain.model import DEFAULT_LIST, Blocking, CheckResult, Verdict
from domain.phone import normalize_or_none
from domain.ports import DncMirror, JobQueue, UnitOfWork
from domain.rules import PrefixRules
from domain.rules import blocking as rules_blocking
from domain.time import utcnow
from domain.usecases.lists import named_lists_of

log = logging.getLogger(__name__)
MAX_BULK_CHECK = 50_000
# A bulk check's per-number work (normalizing, building verdicts, encoding, freeing) gives the
# event loop back every this many numbers, about a millisecond of work: other checks of the
# same process are answered in between instead of waiting for all 50,000 (1,000 held a
# single check up by about 15 ms at p99 in the fairness bench; 250 by about 5)
YIELD_EVERY = 250
NEITHER = (
    "Neither the DNC cache nor the database can answer right now; do not dial these numbers, "
    "retry shortly"
)


class RebuildRequests:
    """Asks for a rebuild when a check finds the mirror not ready, at most every few seconds
    per organization and process (the queue keeps one rebuild per organization anyway)."""

    def __init__(self, queue: JobQueue, interval_seconds: float = 5.0) -> None:
        self.queue = queue
        self.interval = interval_seconds
        self._last: dict[UUID, float] = {}

    async def request(self, organization_id: UUID) -> None:
        now = time.monotonic()
        if now - self._last.get(organization_id, -self.interval) < self.interval:
            return
        self._last[organization_id] = now
        try:
            await self.queue.enqueue_rebuild(organization_id)
        except Exception:  # the worker's reconciliation asks again
            log.warning("could not request a rebuild of %s", organization_id, exc_info=True)


async def check_numbers(
    uow: UnitOfWork,
    mirror: DncMirror,
    rebuilds: RebuildRequests,
    organization_id: UUID,
    raw_numbers: Sequence[str],
    lists: Sequence[str] = (),
) -> CheckResult:
    """Each number against the org-wide list, the named ``lists`` and the prefix rules."""
    named = named_lists_of(lists)
    if len(raw_numbers) <= YIELD_EVERY:
        normalized, unique = normalize_all(raw_numbers)
        enabled, blocking, source = await _lookup(
            uow, mirror, rebuilds, organization_id, unique, named
        )
        verdicts = verdicts_for(raw_numbers, normalized, enabled, blocking)
        return CheckResult.of(enabled, verdicts, source)
    normalized, unique = await _normalize_in_turns(raw_numbers)
    enabled, blocking, source = await _lookup(uow, mirror, rebuilds, organization_id, unique, named)
    verdicts = []
    blocked = invalid = 0
    for start in range(0, len(raw_numbers), YIELD_EVERY):
        await asyncio.sleep(0)
        end = start + YIELD_EVERY
        part = verdicts_for(raw_numbers[start:end], normalized[start:end], enabled, blocking)
        blocked += sum(1 for v in part if v.blocked)
        invalid += sum(1 for v in part if v.normalized is None)
        verdicts += part
    return CheckResult(enabled, verdicts, source, blocked, invalid)


async def _normalize_in_turns(raw_numbers: Sequence[str]) -> tuple[list[str | None], list[str]]:
    """``normalize_all``, :data:`YIELD_EVERY` numbers at a time."""
    normalized: list[str | None] = []
    unique: dict[str, None] = {}
    for start in range(0, len(raw_numbers), YIELD_EVERY):
        if start:
            await asyncio.sleep(0)
        part = [normalize_or_none(raw) for raw in raw_numbers[start : start + YIELD_EVERY]]
        unique.update(dict.fromkeys(n for n in part if n is not None))
        normalized += part
    return normalized, list(unique)


async def release_in_turns(items: list[Any]) -> None:
    """Empties ``items`` from the end, :data:`YIELD_EVERY` at a time: freeing a bulk check's
    50,000 answers at once holds the event loop for milliseconds."""
    while items:
        del items[-YIELD_EVERY:]
        await asyncio.sleep(0)


def normalize_all(raw_numbers: Sequence[str]) -> tuple[list[str | None], list[str]]:
    """Each number normalized (None: invalid), and the distinct valid ones to look up."""
    normalized = [normalize_or_none(raw) for raw in raw_numbers]
    return normalized, list(dict.fromkeys(n for n in normalized if n is not None))


def verdicts_for(
    raw_numbers: Sequence[str],
    normalized: Sequence[str | None],
    enabled: bool,
    blocking: Mapping[str, Blocking],
) -> list[Verdict]:
    """Each number's answer, in order: invalid, blocked (with DNC enabled) by the lists that
    hold it or a prefix rule, or callable."""
    verdicts = []
    for raw, number in zip(raw_numbers, normalized, strict=True):
        if number is None:
            verdicts.append(Verdict(raw, None, True, "invalid"))
        elif enabled and (found := blocking.get(number)) is not None:
            verdicts.append(Verdict(raw, number, True, found.reason, found.ids))
        else:
            verdicts.append(Verdict(raw, number, False, None))
    return verdicts


async def _blocking_among(
    numbers: list[str], answers: Sequence[Blocking | None]
) -> dict[str, Blocking]:
    blocking: dict[str, Blocking] = {}
    for start in range(0, len(numbers), YIELD_EVERY):
        if start:
            await asyncio.sleep(0)
        end = start + YIELD_EVERY
        blocking.update(
            (n, found)
            for n, found in zip(numbers[start:end], answers[start:end], strict=True)
            if found is not None
        )
    return blocking


async def _lookup(
    uow: UnitOfWork,
    mirror: DncMirror,
    rebuilds: RebuildRequests,
    organization_id: UUID,
    numbers: list[str],
    named: tuple[str, ...],
) -> tuple[bool, dict[str, Blocking], str]:
    not_ready = False
    try:
        answer = await mirror.check(organization_id, numbers, named)
    except Unavailable:
        log.warning("mirror unreachable; answering %s from Postgres", organization_id)
    else:
        if answer.ready and not answer.enabled:
            return False, {}, "redis"
        if answer.ready and len(answer.blocking) == len(numbers):
            return True, await _blocking_among(numbers, answer.blocking), "redis"
        if answer.ready:  # an answer that does not fit the question: never read it as callable
            log.error("mirror answered %d of %d numbers", len(answer.blocking), len(numbers))
        not_ready = not answer.ready
    return await _from_postgres(uow, rebuilds, organization_id, numbers, named, not_ready)


async def _from_postgres(
    uow: UnitOfWork,
    rebuilds: RebuildRequests,
    organization_id: UUID,
    numbers: list[str],
    named: tuple[str, ...],
    not_ready: bool,
) -> tuple[bool, dict[str, Blocking], str]:
    """The answer from Postgres; a rebuild is asked for when the mirror was not ready."""
    now = utcnow()
    try:
        async with uow:
            unknown = await uow.lists.missing(organization_id, named)
            if not unknown:
                organization = await uow.organizations.get(organization_id)
                lists = await uow.entries.blocking_lists(
                    organization_id, numbers, now, [DEFAULT_LIST, *named]
                )
                rules = PrefixRules(rule.prefix for rule in await uow.prefixes.all(organization_id))
                shared = await _shared_lists_say(uow, organization_id, numbers, now)
    except Exception as exc:  # any failure here means we do not know: refuse, never guess
        if not_ready:
            await rebuilds.request(organization_id)
        raise Unavailable(NEITHER) from exc
    if unknown:  # (an unknown list's keys are not there: no rebuild makes them)
        raise InvalidInput(f"Unknown list id {unknown[0]!r}")
    if not_ready:
        await rebuilds.request(organization_id)
    order = (DEFAULT_LIST, *named)
    blocking = {}
    for number in numbers:
        on = lists.get(number)
        held = tuple(list_id for list_id in order if on and list_id in on)
        theirs, exempt = shared.holding.get(number, ()), number in shared.exempt
        found = rules_blocking(held, rules.match(number), theirs, shared.stale, exempt)
        if found is not None:
            blocking[number] = found
    return (organization.dnc_enabled if organization else True), blocking, "postgres"


class SharedAnswer(NamedTuple):
    holding: dict[str, tuple[str, ...]]  # number: the subscribed lists that hold it
    stale: tuple[str, ...]  # the subscribed lists past their freshness
    exempt: set[str]  # the numbers an exemption lifts the shared lists for


async def _shared_lists_say(
    uow: UnitOfWork, organization_id: UUID, numbers: list[str], now: datetime
) -> SharedAnswer:
    """What the organization's subscribed shared lists say of these numbers, in Postgres."""
    subscribed = await uow.shared_lists.subscribed(organization_id)
    if not subscribed:
        return SharedAnswer({}, (), set())
    lapses = await uow.exemptions.lapses(organization_id, numbers)
    exempt = {n for n, lapse in lapses.items() if lapse is None or now < lapse}
    holding: dict[str, tuple[str, ...]] = {}
    for shared in subscribed:
        for number in await uow.shared_lists.listed_among(shared, numbers):
            holding[number] = (*holding.get(number, ()), shared.id)
    stale = tuple(shared.id for shared in subscribed if shared.stale(now))
    return SharedAnswer(holding, stale, exempt)
