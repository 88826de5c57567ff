"""Repairing a mirror whole: a rebuild loads a new generation from Postgres while live writes
reach both generations, then swaps it in atomically; a reconciliation pass compares the two
stores periodically (cheaply every round, and a slice of a full comparison)."""

import logging
from contextlib import aclosing
from dataclasses import replace
from datetime import timedelta
from uuid import UUID

from domain.checksum import Checksum
from domain.model import (
    DEFAULT_LIST,
    AuditEvent,
    DncList,
    Drift,
    ListMirrorStatus,
    MirrorProbe,
    MirrorTruth,
    RebuildReport,
    VerifyCursor,
)
from domain.ports import DncMirror, JobQueue, Progress, UnitOfWork
from domain.streams import read_ahead
from domain.time import utcnow
from domain.usecases.mirror_sync import (
    MIRROR_SYNC,
    apply_changes,
    sync_all,
    sync_mirror,
    write_subscriptions,
    write_truth,
)

log = logging.getLogger(__name__)

STREAM_CHUNK = 50_000
EXPIRING_PROBED = 10_000  # listed-but-expired entries probed per check; more: compare later
EXPIRY_SLACK = timedelta(seconds=60)  # entries expiring this soon are probed too (clock skew)
VERIFY_BUDGET = 200_000  # numbers fully compared per reconciliation round
VERIFY_CHUNK = 5_000  # numbers compared per hold of an organization's mirror lock (~50 ms)
BUCKET_SIZE = 256  # about how many numbers a mirror bucket holds
BUSY_TRIES = 3  # a comparison that keeps meeting pending syncs is left to the next round
Step = tuple[VerifyCursor, int, Drift | None]  # one chunk: next cursor, compared, drift found


async def rebuild_mirror(
    uow: UnitOfWork,
    mirror: DncMirror,
    organization_id: UUID,
    actor_user_id: UUID | None = None,
    progress: Progress | None = None,
    list_id: str | None = None,
) -> RebuildReport:
    """Load each list of the organization (or only ``list_id``) into a new generation and
    swap it in atomically, the org-wide list first."""
    if list_id is None:
        async with uow:
            named = [
                found.id for found in await uow.lists.all(organization_id) if found.kind != "org"
            ]
        list_ids = [DEFAULT_LIST, *named]
    else:
        list_ids = [list_id]
    loaded, swapped = 0, True
    for each in list_ids:
        report = await _rebuild_list(uow, mirror, organization_id, each, actor_user_id, progress)
        loaded += report.loaded
        swapped = swapped and report.swapped
    return RebuildReport(organization_id, loaded, swapped)


async def _rebuild_list(
    uow: UnitOfWork,
    mirror: DncMirror,
    organization_id: UUID,
    list_id: str,
    actor_user_id: UUID | None,
    progress: Progress | None,
) -> RebuildReport:
    org_wide = list_id == DEFAULT_LIST
    async with uow:
        expected = await uow.entries.count_blocked(organization_id, utcnow(), list_id)
        watermark = await uow.outbox.last_id()
    build = await mirror.begin_rebuild(organization_id, expected, list_id)
    loaded = 0
    async with uow:
        stream = uow.entries.stream_blocked_buckets(
            organization_id, utcnow(), build.buckets, list_id
        )
        async with aclosing(read_ahead(stream)) as read:  # Postgres reads while Redis loads
            async for groups in read:
                if not await mirror.load_buckets(organization_id, build, groups):
                    break  # another rebuild took over: this one will not swap
                loaded += sum(len(members) for _, members in groups)
                if progress:
                    progress(loaded, expected)
    async with uow:
        await uow.organizations.lock_mirror(organization_id)
        if not org_wide and await uow.lists.get(organization_id, list_id) is None:
            await uow.commit()  # deleted meanwhile: its sync drops what was loaded
            await mirror.drop_list(organization_id, list_id)
            return RebuildReport(organization_id, loaded, False)
        enabled, prefixes = None, None
        if org_wide:
            organization = await uow.organizations.get(organization_id)
            enabled = organization.dnc_enabled if organization else True
            prefixes = [rule.prefix for rule in await uow.prefixes.all(organization_id)]
            # what goes live with the list: its subscriptions and exemptions, whole (the
            # lock keeps their syncs out meanwhile)
            await write_subscriptions(uow, mirror, organization_id)
            lapses = await uow.exemptions.lapses(organization_id)
            await mirror.set_exemptions(organization_id, lapses, replace=True)
        swapped = await mirror.swap(
            organization_id, build, enabled, utcnow().isoformat(), loaded, prefixes
        )
        if swapped:
            # Changes made while loading were written to the new generation too, but the load
            # may have re-added a number removed meanwhile: re-read those numbers' truth.
            touched = await uow.outbox.numbers_since(organization_id, MIRROR_SYNC, watermark)
            await write_truth(uow, mirror, organization_id, touched, list_id)
            pending = await uow.outbox.pending_for(organization_id, MIRROR_SYNC)
            await apply_changes(uow, mirror, organization_id, [m.payload for m in pending])
            await uow.outbox.mark_processed_many([message.id for message in pending])
            await uow.audit.record(
                AuditEvent(
                    organization_id=organization_id,
                    actor_user_id=actor_user_id,
                    action="cache.rebuild",
                    list_id=list_id,
                    after={"count": loaded},
                )
            )
        await uow.commit()
    log.info(
        "mirror of %s list %s rebuilt: %d numbers (swapped=%s)",
        organization_id,
        list_id,
        loaded,
        swapped,
    )
    return RebuildReport(organization_id, loaded, swapped)


async def reconcile(
    uow: UnitOfWork, mirror: DncMirror, queue: JobQueue, verify_budget: int = VERIFY_BUDGET
) -> list[Drift]:
    """One round: the cheap check of every list of every organization, then the next slice of
    the full verification; every organization with a list found drifted (or not ready) is
    rebuilt. One organization's failure does not stop the others."""
    await sync_all(uow, mirror)
    units = await _units(uow)
    found: dict[UUID, Drift] = {}
    for unit in units:
        try:
            drift = await check_summary(uow, mirror, unit.organization_id, unit.list_id)
            if drift is not None and drift.drifted:
                found.setdefault(unit.organization_id, drift)
        except Exception:
            log.exception("reconciling %s failed; next round retries", unit.organization_id)
    try:
        for drift in await verify_slice(uow, mirror, verify_budget):
            found.setdefault(drift.organization_id, drift)
    except Exception:
        log.exception("the full verification's slice failed; next round retries")
    for organization_id, drift in found.items():
        try:
            await queue.enqueue_rebuild(organization_id)
            log.warning("mirror drift, rebuild requested: %s", drift)
        except Exception:
            log.exception("rebuild of %s not requested; next round retries", organization_id)
    return list(found.values())


async def every_list(uow: UnitOfWork) -> list[tuple[UUID, str]]:
    """Every list of every organization, by organization, the org-wide list first (an
    organization always has one, whether or not a row says so)."""
    return [(unit.organization_id, unit.list_id) for unit in await _units(uow)]


async def _units(uow: UnitOfWork) -> list[VerifyCursor]:
    """Every list of every organization (the org-wide one first), each as the start of its
    walk, in the order the verification takes them."""
    async with uow:
        organizations = await uow.organizations.ids()
        named = await uow.lists.live()
    units = [VerifyCursor(organization_id) for organization_id in organizations]
    units += [
        VerifyCursor(organization_id, list_id=list_id)
        for organization_id, list_id in named
        if list_id != DEFAULT_LIST
    ]
    return sorted(units, key=_order)


def _order(cursor: VerifyCursor) -> tuple[UUID, bool, str]:
    return cursor.organization_id, cursor.list_id != DEFAULT_LIST, cursor.list_id


async def check_summary(
    uow: UnitOfWork, mirror: DncMirror, organization_id: UUID, list_id: str = DEFAULT_LIST
) -> Drift | None:
    """Compare counts, checksums, the flag and the prefix rules; the cost does not depend on
    the list's size. None when it cannot compare this round (syncs keep arriving, or too
    many entries wait for the expiry job)."""
    async with uow:
        await uow.entries.fold_checksums(organization_id)
        await uow.commit()
    for _ in range(BUSY_TRIES):
        probe: MirrorProbe | None = None
        async with uow:
            await uow.organizations.lock_mirror(organization_id)
            truth = await uow.entries.mirror_truth(
                organization_id, utcnow() + EXPIRY_SLACK, EXPIRING_PROBED, list_id
            )
            subscribed: tuple[str, ...] = ()
            exempted = held = 0
            if list_id == DEFAULT_LIST:
                subscribed = tuple(s.id for s in await uow.shared_lists.subscribed(organization_id))
                exempted = await uow.exemptions.exempted_count(organization_id)
            if not truth.pending and truth.expired is not None:
                probe = await mirror.probe(organization_id, truth.expired, list_id)
                if list_id == DEFAULT_LIST:
                    held = await mirror.exemption_count(organization_id) or 0
        if probe is not None:
            drift = _compare(organization_id, list_id, truth, probe, subscribed)
            if held != exempted:  # an exemption only Redis holds would lift a registry
                log.warning(
                    "%s: %d exemptions in Redis, %d in Postgres", organization_id, held, exempted
                )
                return replace(drift, checksum_differs=True)
            return drift
        if truth.expired is None:
            log.info("%s: many entries wait for the expiry job; compared later", organization_id)
            return None
        await sync_mirror(uow, mirror, organization_id)  # a sync is in flight: apply it first
    return None


def _compare(
    organization_id: UUID,
    list_id: str,
    truth: MirrorTruth,
    probe: MirrorProbe,
    subscribed: tuple[str, ...] = (),
) -> Drift:
    """Redis should hold the listed entries, less those expired ones a sync already took out
    (Redis may hold an entry that expired since its last write until the expiry job retires
    it; the probe says which it holds); the org-wide list's meta key the flag, the rules and
    the subscriptions."""
    if not probe.ready:
        return Drift(organization_id, False, truth.listed.count, None, list_id=list_id)
    expired = truth.expired or []
    taken_out = [n for n, held in zip(expired, probe.members, strict=True) if not held]
    expected = truth.listed - Checksum.of(taken_out)
    if probe.checksum is None:  # a generation built before checksums were kept
        return Drift(
            organization_id, True, expected.count, None, checksum_differs=True, list_id=list_id
        )
    differs = expected != probe.checksum
    if list_id == DEFAULT_LIST:
        rules = None if probe.prefixes is None else sorted(probe.prefixes)
        differs = differs or probe.enabled != truth.enabled or rules != sorted(truth.prefixes)
        differs = differs or probe.subscriptions != subscribed
    return Drift(
        organization_id,
        True,
        expected.count,
        probe.checksum.count,
        checksum_differs=differs,
        list_id=list_id,
    )


async def verify_slice(uow: UnitOfWork, mirror: DncMirror, budget: int) -> list[Drift]:
    """Compare up to ``budget`` numbers one by one, going on where the last round stopped
    (the cursor lives in Redis; without one the walk starts over)."""
    units = await _units(uow)
    if not units:
        return []
    cursor = _resume(await mirror.verify_cursor(), units)
    found: list[Drift] = []
    finished = 0  # lists walked to their end this round (the first one may be twice)
    while budget > 0 and finished <= len(units):
        step = await _verify_step(uow, mirror, cursor, min(budget, VERIFY_CHUNK), units)
        if step is None:  # busy with syncs: this chunk waits for the next round
            break
        following, compared, drift = step
        budget -= max(compared, 1)
        if drift is not None:
            found.append(drift)
        if following == _next_unit(cursor, units):
            finished += 1
        cursor = _resume(following, units)
    await mirror.save_verify_cursor(cursor)
    return found


def _resume(cursor: VerifyCursor | None, units: list[VerifyCursor]) -> VerifyCursor:
    """The cursor, or the start of the next list that still exists."""
    if cursor is None:
        return units[0]
    if any(_order(unit) == _order(cursor) for unit in units):
        return cursor
    return _next_unit(cursor, units)


def _next_unit(cursor: VerifyCursor, units: list[VerifyCursor]) -> VerifyCursor:
    """The start of the list after the cursor's (after the last, the first)."""
    later = [unit for unit in units if _order(unit) > _order(cursor)]
    return later[0] if later else units[0]


async def _verify_step(
    uow: UnitOfWork,
    mirror: DncMirror,
    cursor: VerifyCursor,
    chunk: int,
    units: list[VerifyCursor],
) -> Step | None:
    """One chunk under the organization's mirror lock: the next cursor, how many numbers were
    compared, and the drift found. None if a sync was pending (the mirror may lag)."""
    organization_id = cursor.organization_id
    for _ in range(BUSY_TRIES):
        async with uow:
            await uow.organizations.lock_mirror(organization_id)
            if cursor.phase == "postgres":
                step = await _verify_listed(uow, mirror, cursor, chunk, units)
            else:
                step = await _verify_buckets(uow, mirror, cursor, chunk, units)
            # last: a change committed before the reads above shows as pending here
            pending = await uow.outbox.has_pending(organization_id, MIRROR_SYNC)
        if not pending:
            return step
        await sync_mirror(uow, mirror, organization_id)
    return None


async def _verify_listed(
    uow: UnitOfWork,
    mirror: DncMirror,
    cursor: VerifyCursor,
    chunk: int,
    units: list[VerifyCursor],
) -> Step:
    """Every blocking number of the next page of the list must be in Redis."""
    organization_id, list_id = cursor.organization_id, cursor.list_id
    page = await uow.entries.listed_page(organization_id, cursor.after, utcnow(), chunk, list_id)
    blocking = [number for number, blocks in page if blocks]
    probe = await mirror.probe(organization_id, blocking, list_id)
    if not probe.ready:  # nothing to compare; the cheap check asks for the rebuild
        return _next_unit(cursor, units), len(page), None
    missing = [n for n, held in zip(blocking, probe.members, strict=True) if not held]
    following = (
        replace(cursor, after=page[-1][0])
        if len(page) == chunk
        else VerifyCursor(organization_id, "redis", "", 0, list_id)
    )
    drift = (
        Drift(organization_id, True, len(blocking), None, len(missing), list_id=list_id)
        if missing
        else None
    )
    return following, len(page), drift


async def _verify_buckets(
    uow: UnitOfWork,
    mirror: DncMirror,
    cursor: VerifyCursor,
    chunk: int,
    units: list[VerifyCursor],
) -> Step:
    """Every member of the next buckets of the live generation must be listed in Postgres."""
    organization_id, list_id = cursor.organization_id, cursor.list_id
    stop = cursor.bucket + max(1, chunk // BUCKET_SIZE)
    read = await mirror.bucket_members(organization_id, cursor.bucket, stop, list_id)
    if read is None:
        return _next_unit(cursor, units), 0, None
    buckets, members = read
    numbers = [str(n) for n in members]
    extra = set(numbers) - await uow.entries.listed_among(organization_id, numbers, list_id)
    following = replace(cursor, bucket=stop) if stop < buckets else _next_unit(cursor, units)
    drift = (
        Drift(organization_id, True, 0, len(numbers), 0, len(extra), list_id=list_id)
        if extra
        else None
    )
    return following, len(numbers), drift


async def verify(
    uow: UnitOfWork, mirror: DncMirror, organization_id: UUID, list_id: str = DEFAULT_LIST
) -> Drift:
    """Compare every number of one list (for ``dnc cache verify``). An entry that has expired
    but is not retired yet may still be in Redis (it was written while it blocked): that is
    not drift."""
    truth: set[int] = set()
    async with uow:
        async for chunk in uow.entries.stream_blocked(
            organization_id, utcnow(), STREAM_CHUNK, list_id
        ):
            truth.update(int(n) for n in chunk)
    state = await mirror.state(organization_id, list_id)
    members = await mirror.members(organization_id, list_id) if state.ready else None
    if members is None:
        return Drift(organization_id, False, len(truth), None, len(truth), 0, list_id=list_id)
    extra = [str(n) for n in members - truth]
    async with uow:
        extra_listed = await uow.entries.listed_among(organization_id, extra, list_id)
    return Drift(
        organization_id,
        True,
        len(truth),
        len(members),
        len(truth - members),
        len(extra) - len(extra_listed),
        list_id=list_id,
    )


async def mirror_status(
    uow: UnitOfWork, mirror: DncMirror, organization_id: UUID
) -> list[ListMirrorStatus]:
    """Each list of the organization, the org-wide one first: ready, numbers in Postgres and
    in Redis, the last rebuild."""
    now = utcnow()
    async with uow:
        lists = await uow.lists.all(organization_id)
        if not any(found.id == DEFAULT_LIST for found in lists):  # an organization made by hand
            lists.insert(0, DncList(organization_id, DEFAULT_LIST, "", "org", None, now))
        expected = {
            found.id: await uow.entries.count_blocked(organization_id, now, found.id)
            for found in lists
        }
    statuses = []
    for found in lists:
        state = await mirror.state(organization_id, found.id)
        held = await mirror.count(organization_id, found.id) if state.ready else None
        statuses.append(ListMirrorStatus(found.id, found.name, state, expected[found.id], held))
    return statuses
