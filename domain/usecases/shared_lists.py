"""Shared lists: the national registry's area codes, state lists, litigator lists. Operators
create, load and change them (the CLI); organizations subscribe to them, and their checks
consult every list they subscribe to.

A full load is swapped in whole: its numbers go into a new generation in Postgres and in
Redis, and each store switches to it in one step, so a check sees the old list or the new one,
never part of either. A change file adds and deletes numbers in place. Either one renews the
list's freshness from ``downloadedAt``: a list not refreshed within its ``max-age-days``
fails closed (checks block every number it cannot vouch for, reason ``registry_stale``).

Mirror writes err towards blocking, as for an organization's own lists: numbers added (and a
subscription) reach Redis before Postgres commits; numbers deleted (and an unsubscription)
after. A load whose Redis side cannot be written fails before anything changes; just before
its Postgres commit the list's mirror is marked not ready (checks ask Postgres), so one whose
Redis swap fails after Postgres committed leaves a mirror no check reads until the
reconciliation rebuilds it.
"""

import logging
import secrets
from collections.abc import AsyncIterator, Iterable
from contextlib import aclosing
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from uuid import UUID

from domain.errors import InvalidInput, NotFound, Unavailable
from domain.model import (
    DEFAULT_MAX_AGE_DAYS,
    SHARED_LIST_KINDS,
    AuditEvent,
    BadLine,
    ChangeChunk,
    MirrorBuild,
    NumberChunk,
    SharedList,
    SharedListKind,
)
from domain.ports import DncMirror, Progress, SharedMirror, SharedNumbers, UnitOfWork
from domain.streams import read_ahead
from domain.text import one_line
from domain.time import as_utc, utcnow
from domain.usecases.mirror_sync import (
    APPLY_CHUNK,
    record_subscriptions_changed,
    settle,
    write_subscriptions,
)

log = logging.getLogger(__name__)
MAX_NAME = 200
MAX_AGE_DAYS = 3650
BAD_LINES_KEPT = 100  # bad lines reported one by one; the rest are counted
CLOCK_SKEW = timedelta(minutes=5)


@dataclass
class BadLines:
    """The lines of a load that were not numbers: all counted, the first few kept."""

    count: int = 0
    first: list[BadLine] = field(default_factory=list)

    def add(self, bad: Iterable[BadLine]) -> None:
        for line in bad:
            self.count += 1
            if len(self.first) < BAD_LINES_KEPT:
                self.first.append(line)


@dataclass(frozen=True, slots=True)
class LoadReport:
    shared: SharedList
    read: int  # numbers read from the files (a number given twice counts twice)
    bad: BadLines
    mirrored: bool  # Redis has the new list (False: the reconciliation rebuilds it)
    added: int = 0  # a change file's numbers actually added and deleted
    deleted: int = 0


def new_list_id() -> str:
    return f"sl_{secrets.token_hex(6)}"


async def create_shared_list(
    uow: UnitOfWork, name: str, kind: str, max_age_days: int | None = None
) -> SharedList:
    name = (one_line("name", name) or "").strip()
    if not name or len(name) > MAX_NAME:
        raise InvalidInput(f"name must be 1 to {MAX_NAME} characters")
    if kind not in SHARED_LIST_KINDS:
        raise InvalidInput(f"kind must be one of {', '.join(SHARED_LIST_KINDS)}")
    days = DEFAULT_MAX_AGE_DAYS if max_age_days is None else max_age_days
    if not 1 <= days <= MAX_AGE_DAYS:
        raise InvalidInput(f"max-age-days must be 1 to {MAX_AGE_DAYS}")
    shared = SharedList(new_list_id(), name, _kind(kind), days, utcnow())
    async with uow:
        await uow.shared_lists.add(shared)
        await uow.commit()
    return shared


def _kind(kind: str) -> SharedListKind:
    for known in SHARED_LIST_KINDS:
        if kind == known:
            return known
    raise InvalidInput(f"kind must be one of {', '.join(SHARED_LIST_KINDS)}")


async def get_shared_list(uow: UnitOfWork, list_id: str) -> SharedList:
    async with uow:
        shared = await uow.shared_lists.get(list_id)
    if shared is None:
        raise NotFound(f"No shared list {list_id!r}")
    return shared


def downloaded_at_of(value: datetime | None, now: datetime) -> datetime:
    """When the data was fetched from its source (None: now); not in the future."""
    if value is None:
        return now
    moment = as_utc(value, "downloaded-at")
    if moment > now + CLOCK_SKEW:
        raise InvalidInput("downloaded-at is in the future")
    return moment


async def load_shared_list(
    uow: UnitOfWork,
    numbers: SharedNumbers,
    mirror: SharedMirror,
    list_id: str,
    chunks: AsyncIterator[NumberChunk],
    downloaded_at: datetime | None = None,
    progress: Progress | None = None,
) -> LoadReport:
    """Replace the list's numbers with those of ``chunks`` (the files, read), atomically in
    each store."""
    shared = await get_shared_list(uow, list_id)
    now = utcnow()
    downloaded = downloaded_at_of(downloaded_at, now)
    bad = BadLines()
    read = 0

    async def text() -> AsyncIterator[bytes]:
        nonlocal read
        async for chunk in chunks:
            bad.add(chunk.bad)
            read += chunk.count
            if progress:
                progress(read, 0)
            if chunk.text:
                yield chunk.text

    staged = await numbers.stage(text())
    count = staged.checksum.count
    try:
        if count == 0:
            raise InvalidInput(
                f"the files hold no number ({bad.count} lines were not numbers): nothing was "
                "loaded, the list is as it was"
            )
        async with uow:
            # its changes and rebuilds wait for the mirror phase and the swap
            if await uow.shared_lists.get(list_id, lock=True) is None:
                raise NotFound(f"No shared list {list_id!r}")
            staging = replace(shared, generation=staged.generation, count=count)
            build = await _mirror_staged(uow, mirror, staging)
            await uow.shared_lists.swap(list_id, staged, downloaded, now)
            # the old generation stops answering before Postgres holds the new one: checks
            # ask Postgres until the swap below (if it never comes, until the reconciliation
            # rebuilds the list), never a Redis copy missing the new numbers
            await mirror.suspend(list_id)
            await uow.commit()
    except BaseException:
        await numbers.discard(staged.generation)
        raise
    live = replace(
        shared, generation=staged.generation, downloaded_at=downloaded, loaded_at=now, count=count
    )
    try:
        mirrored = await mirror.swap(list_id, build, live.fresh_until, now.isoformat(), count)
    except Unavailable:
        mirrored = False
    if not mirrored:
        log.warning("shared list %s loaded; its mirror is left to the reconciliation", list_id)
    log.info("shared list %s loaded: %d numbers", list_id, count)
    return LoadReport(live, read, bad, mirrored)


async def _mirror_staged(uow: UnitOfWork, mirror: SharedMirror, staged: SharedList) -> MirrorBuild:
    """A new Redis generation holding a staged load's numbers, not swapped in yet (in the
    caller's transaction)."""
    build = await mirror.begin_rebuild(staged.id, staged.count)
    stream = uow.shared_lists.stream_buckets(staged, build.buckets)
    async with aclosing(read_ahead(stream)) as read:  # Postgres reads while Redis loads
        async for groups in read:
            if not await mirror.load_buckets(staged.id, build, groups):
                raise Unavailable(
                    f"another load of {staged.id} took over; this one changed nothing"
                )
    return build


async def apply_shared_changes(
    uow: UnitOfWork,
    mirror: SharedMirror,
    list_id: str,
    chunks: Iterable[ChangeChunk],
    downloaded_at: datetime | None = None,
) -> LoadReport:
    """Add and delete the numbers of a change file (a number both added and deleted in one
    file is added: that errs towards blocking)."""
    now = utcnow()
    downloaded = downloaded_at_of(downloaded_at, now)
    added: dict[str, None] = {}
    deleted: dict[str, None] = {}
    bad = BadLines()
    read = 0
    for chunk in chunks:
        bad.add(chunk.bad)
        read += len(chunk.added) + len(chunk.deleted)
        added.update(dict.fromkeys(chunk.added))
        deleted.update(dict.fromkeys(chunk.deleted))
    remove = [number for number in deleted if number not in added]
    add = list(added)
    async with uow:
        shared = await uow.shared_lists.get(list_id, lock=True)
        if shared is None:
            raise NotFound(f"No shared list {list_id!r}")
        _may_change(shared, bool(add or remove), bad, downloaded)
        counts = await uow.shared_lists.change(shared, add, remove, downloaded)
        live = True
        for start in range(0, len(add), APPLY_CHUNK):  # blocking first, before the commit
            part = add[start : start + APPLY_CHUNK]
            live = await mirror.apply(list_id, part, (), shared.fresh_until) and live
        await uow.commit()
    mirrored = live
    try:
        async with uow:  # the deletions and the new freshness, in turn with loads again
            changed = await uow.shared_lists.get(list_id, lock=True)
            if changed is not None and changed.generation == shared.generation:
                for start in range(0, max(len(remove), 1), APPLY_CHUNK):
                    part = remove[start : start + APPLY_CHUNK]
                    live = await mirror.apply(list_id, (), part, changed.fresh_until) and live
            # (else a load swapped in since: its numbers and its freshness replace these)
        if not live:  # not in Redis (a mirror lost): build it from Postgres now
            mirrored = await rebuild_shared_mirror(uow, mirror, list_id)
    except Unavailable:
        mirrored = False
    if not mirrored:
        log.warning("shared list %s changed; its mirror is left to the reconciliation", list_id)
    return LoadReport(await get_shared_list(uow, list_id), read, bad, mirrored, *counts)


def _may_change(shared: SharedList, changes: bool, bad: BadLines, downloaded: datetime) -> None:
    """Refuse a change file that would make the list vouch for what its data does not say."""
    if not changes and bad.count:  # the wrong file: it must not renew the list's freshness
        raise InvalidInput(
            f"the file holds no change ({bad.count} lines were not changes): nothing was "
            "changed, the list is as it was"
        )
    if shared.generation is None:  # it fails closed now; a few additions would not
        raise InvalidInput(
            f"shared list {shared.id} was never loaded: load a full list first (a change "
            "file only changes one)"
        )
    if shared.downloaded_at is not None and downloaded < shared.downloaded_at:
        # its deletions would undo numbers the newer data holds
        raise InvalidInput(
            f"the change file's downloaded-at {downloaded.isoformat()} is older than the "
            f"list's data ({shared.downloaded_at.isoformat()}): nothing was changed"
        )


async def rebuild_shared_mirror(
    uow: UnitOfWork,
    mirror: SharedMirror,
    list_id: str,
    progress: Progress | None = None,
    unless_busy: bool = False,
) -> bool:
    """Load the list's live generation from Postgres into a new Redis generation and swap it
    in; the list's row stays locked meanwhile (its loads and changes wait). False if another
    rebuild took over, or, ``unless_busy``, if a load, a change or a rebuild holds the list
    (the reconciliation's next round looks again)."""
    async with uow:
        shared = await uow.shared_lists.get(list_id, lock=True, skip_locked=unless_busy)
        if shared is None and unless_busy:
            return False
        if shared is None:
            raise NotFound(f"No shared list {list_id!r}")
        build = await mirror.begin_rebuild(list_id, shared.count)
        loaded = 0
        stream = uow.shared_lists.stream_buckets(shared, build.buckets)
        async with aclosing(read_ahead(stream)) as read:  # Postgres reads while Redis loads
            async for groups in read:
                if not await mirror.load_buckets(list_id, build, groups):
                    return False
                loaded += sum(len(members) for _, members in groups)
                if progress:
                    progress(loaded, shared.count)
        swapped = await mirror.swap(
            list_id, build, shared.fresh_until, utcnow().isoformat(), loaded
        )
        await uow.commit()
    log.info("mirror of shared list %s rebuilt: %d numbers (swapped=%s)", list_id, loaded, swapped)
    return swapped


async def subscribe(
    uow: UnitOfWork, mirror: DncMirror, organization_id: UUID, list_id: str
) -> SharedList:
    """The organization's checks consult the list from now on: Redis learns it before the
    commit (a subscription blocks numbers)."""
    org_id = await _organization(uow, organization_id)
    async with uow:
        shared = await uow.shared_lists.get(list_id)
        if shared is None:
            raise NotFound(f"No shared list {list_id!r}")
        if await uow.shared_lists.subscribe(org_id, list_id):
            await uow.audit.record(
                AuditEvent(
                    org_id, None, "shared.subscribe", entity_id=list_id, after=_named(shared)
                )
            )
            await record_subscriptions_changed(uow, org_id)
            await uow.organizations.lock_mirror(org_id)
            await write_subscriptions(uow, mirror, org_id)
        await uow.commit()
    await settle(uow, mirror, org_id)
    return shared


async def unsubscribe(
    uow: UnitOfWork, mirror: DncMirror, organization_id: UUID, list_id: str
) -> SharedList:
    """The organization's checks stop consulting the list (Redis learns it after the
    commit)."""
    org_id = await _organization(uow, organization_id)
    async with uow:
        shared = await uow.shared_lists.get(list_id)
        if shared is None:
            raise NotFound(f"No shared list {list_id!r}")
        if not await uow.shared_lists.unsubscribe(org_id, list_id):
            raise NotFound(f"The organization does not subscribe to {list_id!r}")
        await uow.audit.record(
            AuditEvent(org_id, None, "shared.unsubscribe", entity_id=list_id, before=_named(shared))
        )
        await record_subscriptions_changed(uow, org_id)
        await uow.commit()
    await settle(uow, mirror, org_id)
    return shared


def _named(shared: SharedList) -> dict[str, object]:
    """A subscription as the organization's audit log shows it (an event of the
    organization, not of one of its lists)."""
    return {"listId": shared.id, "name": shared.name, "kind": shared.kind}


async def _organization(uow: UnitOfWork, organization_id: UUID) -> UUID:
    async with uow:
        if await uow.organizations.get(organization_id) is None:
            raise NotFound(f"No organization {organization_id}")
    return organization_id


async def subscriptions_of(uow: UnitOfWork, organization_id: UUID) -> list[SharedList]:
    async with uow:
        return await uow.shared_lists.subscribed(organization_id)


async def shared_lists_status(
    uow: UnitOfWork, mirror: SharedMirror
) -> list[tuple[SharedList, int, bool | None]]:
    """Every shared list, with its subscribers and whether its mirror is ready (None: Redis
    could not say)."""
    async with uow:
        lists = await uow.shared_lists.all()
        counts = await uow.shared_lists.subscriber_counts()
    status = []
    for shared in lists:
        try:
            ready: bool | None = (await mirror.state(shared.id)).ready
        except Unavailable:
            ready = None
        status.append((shared, counts.get(shared.id, 0), ready))
    return status


async def stale_shared_lists(uow: UnitOfWork) -> list[tuple[SharedList, int, bool]]:
    """Every shared list, with how many organizations subscribe to it and whether it is
    stale now."""
    now = utcnow()
    async with uow:
        lists = await uow.shared_lists.all()
        counts = await uow.shared_lists.subscriber_counts()
    return [(shared, counts.get(shared.id, 0), shared.stale(now)) for shared in lists]
