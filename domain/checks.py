"""May a dialer call these numbers? From the Redis mirror when it is ready, from Postgres when
it is not or cannot answer, and a refusal (503) when neither can: never a guess."""

import asyncio
import logging
import time
from collections.abc import Sequence
from uuid import UUID

from domain.errors import Unavailable
from domain.model import CheckResult, Verdict
from domain.phone import normalize_or_none
from domain.ports import DncMirror, JobQueue, UnitOfWork
from domain.time import utcnow

log = logging.getLogger(__name__)
MAX_BULK_CHECK = 50_000
# A bulk check's per-number work (normalizing, building verdicts) gives the event loop back
# every this many numbers, a few milliseconds of work: other checks of the same process are
# answered in between instead of waiting for all 50,000
YIELD_EVERY = 1_000
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
) -> CheckResult:
    if len(raw_numbers) <= YIELD_EVERY:
        normalized, unique = normalize_all(raw_numbers)
    else:
        normalized, unique = await _normalize_in_turns(raw_numbers)
    enabled, listed, source = await _lookup(uow, mirror, rebuilds, organization_id, unique)
    verdicts: list[Verdict] = []
    for start in range(0, len(raw_numbers), YIELD_EVERY):
        if start:
            await asyncio.sleep(0)
        end = start + YIELD_EVERY
        verdicts += verdicts_for(raw_numbers[start:end], normalized[start:end], enabled, listed)
    return CheckResult(enabled, verdicts, source)


async def _normalize_in_turns(raw_numbers: Sequence[str]) -> tuple[list[str | None], list[str]]:
    """``normalize_all``, :data:`YIELD_EVERY` numbers at a time."""
    normalized: list[str | None] = []
    for start in range(0, len(raw_numbers), YIELD_EVERY):
        if start:
            await asyncio.sleep(0)
        normalized += [normalize_or_none(raw) for raw in raw_numbers[start : start + YIELD_EVERY]]
    return normalized, list(dict.fromkeys(n for n in normalized if n is not None))


def normalize_all(raw_numbers: Sequence[str]) -> tuple[list[str | None], list[str]]:
    """Each number normalized (None: invalid), and the distinct valid ones to look up."""
    normalized = [normalize_or_none(raw) for raw in raw_numbers]
    return normalized, list(dict.fromkeys(n for n in normalized if n is not None))


def verdicts_for(
    raw_numbers: Sequence[str],
    normalized: Sequence[str | None],
    enabled: bool,
    listed: set[str],
) -> list[Verdict]:
    """Each number's answer, in order: invalid, listed (with DNC enabled), or callable."""
    return [
        Verdict(raw, None, True, "invalid")
        if number is None
        else Verdict(raw, number, True, "dnc")
        if enabled and number in listed
        else Verdict(raw, number, False, None)
        for raw, number in zip(raw_numbers, normalized, strict=True)
    ]


async def _lookup(
    uow: UnitOfWork,
    mirror: DncMirror,
    rebuilds: RebuildRequests,
    organization_id: UUID,
    numbers: list[str],
) -> tuple[bool, set[str], str]:
    try:
        answer = await mirror.check(organization_id, numbers)
    except Unavailable:
        log.warning("mirror unreachable; answering %s from Postgres", organization_id)
    else:
        if answer.ready and not answer.enabled:
            return False, set(), "redis"
        if answer.ready and len(answer.listed) == len(numbers):
            listed = {n for n, hit in zip(numbers, answer.listed, strict=True) if hit}
            return True, listed, "redis"
        if answer.ready:  # an answer that does not fit the question: never read it as callable
            log.error("mirror answered %d of %d numbers", len(answer.listed), len(numbers))
        else:
            await rebuilds.request(organization_id)
    try:
        async with uow:
            organization = await uow.organizations.get(organization_id)
            listed = await uow.entries.blocked_among(organization_id, numbers, utcnow())
    except Exception as exc:  # any failure here means we do not know: refuse, never guess
        raise Unavailable(NEITHER) from exc
    return (organization.dnc_enabled if organization else True), listed, "postgres"
