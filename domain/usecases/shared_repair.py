"""Keeping each shared list's Redis copy equal to Postgres, as ``mirror_repair`` does for the
organizations' lists: every round a cheap check of each list (its checksum and freshness,
whatever its size), then the next slice of a full, number-by-number verification that walks
every list in turn (a bucket lost from Redis, say, leaves the checksum as it was: only the
walk finds it). A list found different is rebuilt from Postgres.

The walk compares a chunk at a time with the list's row locked (loads, changes and rebuilds
wait; a list one of them holds is passed over this round), and only when Redis's checksum is
Postgres's: a load or a change that is half way through (each store has its side, the other
not yet) is the cheap check's business, not drift. The verification's budget is the
reconciliation's own: with shared lists in place a round gives them half of it, so a round
costs what it cost before them.
"""

import logging
from dataclasses import dataclass, replace

from domain.model import SharedCursor, SharedList
from domain.ports import DncMirror, JobQueue, SharedMirror, UnitOfWork
from domain.usecases.mirror_repair import BUCKET_SIZE, VERIFY_BUDGET, VERIFY_CHUNK, reconcile
from domain.usecases.shared_lists import rebuild_shared_mirror

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Round:
    """What one reconciliation round found: organizations whose mirror was drifted (their
    rebuild requested) and shared lists rebuilt."""

    drifted: int
    rebuilt: list[str]


async def reconcile_all(
    uow: UnitOfWork, mirror: DncMirror, shared: SharedMirror, queue: JobQueue
) -> Round:
    """The worker's round: the shared lists, then the organizations, sharing one budget."""
    async with uow:
        loaded = any(s.generation is not None for s in await uow.shared_lists.all())
    shared_budget = VERIFY_BUDGET // 2 if loaded else 0
    rebuilt = await reconcile_shared(uow, shared, shared_budget)
    drifts = await reconcile(uow, mirror, queue, VERIFY_BUDGET - shared_budget)
    return Round(len(drifts), rebuilt)


async def reconcile_shared(
    uow: UnitOfWork, mirror: SharedMirror, verify_budget: int = VERIFY_BUDGET // 2
) -> list[str]:
    """Compare each shared list's mirror with Postgres (its checksum and freshness), then up
    to ``verify_budget`` numbers one by one; rebuild the lists that differ or are not ready.
    The ids rebuilt. One list's failure does not stop the others."""
    async with uow:
        lists = await uow.shared_lists.all()
    differ: list[str] = []
    for shared in lists:
        try:
            if not await _same_summary(uow, mirror, shared):
                log.warning("mirror of shared list %s differs from Postgres: rebuilding", shared.id)
                differ.append(shared.id)
        except Exception:
            log.exception("reconciling shared list %s failed; next round retries", shared.id)
    try:
        walked = [s for s in lists if s.generation is not None and s.id not in differ]
        differ += await verify_shared_slice(uow, mirror, walked, verify_budget)
    except Exception:
        log.exception("the shared lists' verification slice failed; next round retries")
    rebuilt = []
    for list_id in differ:
        try:
            if await rebuild_shared_mirror(uow, mirror, list_id, unless_busy=True):
                rebuilt.append(list_id)
        except Exception:
            log.exception("rebuilding shared list %s failed; next round retries", list_id)
    return rebuilt


async def _same_summary(uow: UnitOfWork, mirror: SharedMirror, shared: SharedList) -> bool:
    probe = await mirror.probe(shared.id)
    fresh_until = shared.fresh_until
    expected = int(fresh_until.timestamp()) if fresh_until else 0
    async with uow:
        truth = await uow.shared_lists.checksum(shared.id)
    return probe.ready and probe.checksum == truth and probe.fresh_until == expected


async def verify_shared_slice(
    uow: UnitOfWork, mirror: SharedMirror, lists: list[SharedList], budget: int
) -> list[str]:
    """Compare up to ``budget`` numbers of ``lists`` one by one, going on where the last round
    stopped: every number of a list in Postgres must be in Redis, then every number in Redis
    must be in Postgres. The lists found different."""
    if not lists or budget <= 0:
        return []
    ids = sorted(s.id for s in lists)
    cursor = _resume(await mirror.verify_cursor(), ids)
    found: list[str] = []
    finished = 0  # lists walked to their end, or passed over, this round
    while budget > 0 and finished <= len(ids):
        step = await _step(uow, mirror, cursor, min(budget, VERIFY_CHUNK))
        following, compared, drifted = step
        budget -= max(compared, 1)
        if drifted and cursor.list_id not in found:
            log.warning("shared list %s: the full verification found drift", cursor.list_id)
            found.append(cursor.list_id)
        if following is None:
            finished += 1
            following = _next(cursor.list_id, ids)
        cursor = following
    await mirror.save_verify_cursor(cursor)
    return found


def _resume(cursor: SharedCursor | None, ids: list[str]) -> SharedCursor:
    if cursor is not None and cursor.list_id in ids:
        return cursor
    return _next(cursor.list_id if cursor else "", ids)


def _next(list_id: str, ids: list[str]) -> SharedCursor:
    """The start of the list after ``list_id`` (after the last, the first)."""
    later = [i for i in ids if i > list_id]
    return SharedCursor(later[0] if later else ids[0])


async def _step(
    uow: UnitOfWork, mirror: SharedMirror, cursor: SharedCursor, chunk: int
) -> tuple[SharedCursor | None, int, bool]:
    """One chunk with the list's row locked: where to go on (None: this list is done for
    now), how many numbers were compared, and whether they showed drift."""
    async with uow:
        shared = await uow.shared_lists.get(cursor.list_id, lock=True, skip_locked=True)
        if shared is None or shared.generation is None:  # held by a load, or gone
            return None, 0, False
        truth = await uow.shared_lists.checksum(shared.id)
        if cursor.phase == "postgres":
            page = await uow.shared_lists.numbers_after(shared, cursor.after, chunk)
            probe = await mirror.probe(shared.id, [str(n) for n in page])
            if not probe.ready or probe.checksum != truth:  # the cheap check's business
                return None, 0, False
            walked_on = (
                replace(cursor, after=page[-1])
                if len(page) == chunk
                else SharedCursor(shared.id, "redis")
            )
            return walked_on, len(page), not all(probe.members)
        probe = await mirror.probe(shared.id)
        read = await mirror.bucket_members(
            shared.id, cursor.bucket, cursor.bucket + max(1, chunk // BUCKET_SIZE)
        )
        if not probe.ready or probe.checksum != truth or read is None:
            return None, 0, False
        buckets, members = read
        numbers = [str(n) for n in members]
        extra = set(numbers) - await uow.shared_lists.listed_among(shared, numbers)
        stop = cursor.bucket + max(1, chunk // BUCKET_SIZE)
        following = replace(cursor, bucket=stop) if stop < buckets else None
        return following, len(numbers), bool(extra)
