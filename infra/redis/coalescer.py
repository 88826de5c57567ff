"""Checks that share round trips: the concurrent checks of one process, asked together."""

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from uuid import UUID

from domain.errors import Unavailable
from domain.model import Blocking, MirrorAnswer
from infra.redis.checking import Answer

_Waiter = tuple[Sequence[str], "asyncio.Future[MirrorAnswer]"]
# who is asked about: an organization and the named lists (beside its org-wide one)
_Asking = tuple[UUID, tuple[str, ...]]
# one check (infra/redis/checking.py): the organization, the named lists and the numbers
AskCheck = Callable[[UUID, tuple[str, ...], list[str]], Awaitable[Answer]]
MAX_NUMBERS_PER_CALL = 10_000
# a check of more numbers than this is asked in parts of this size, one after the other: a
# script blocks Redis while it runs (about 2 ms a 1,000 numbers), and other checks' scripts
# then run between the parts instead of after a 50,000-number one
PART = 1_000


class CheckCoalescer:
    def __init__(self, ask: AskCheck, checks_in_flight: int = 2) -> None:
        self.ask = ask
        self.checks_in_flight = checks_in_flight
        self._waiting: dict[_Asking, list[_Waiter]] = {}
        self._drainers = 0
        self._drain_tasks: set[asyncio.Future[None]] = set()

    async def check(
        self, organization_id: UUID, numbers: Sequence[str], lists: tuple[str, ...] = ()
    ) -> MirrorAnswer:
        """What blocks each number, on the org-wide list, the named ``lists`` and the prefix
        rules. Raises :class:`Unavailable` when Redis cannot answer.

        Checks share round trips: at most ``checks_in_flight`` are in flight at a time per
        process, and every check that arrives meanwhile waits for the next, which asks for
        all of them at once (``check.lua`` calls side by side, see ``_answer``). Under load
        the batches grow instead of the queue for connections."""
        if len(numbers) > PART:
            return await self._check_in_parts(organization_id, numbers, lists)
        future: asyncio.Future[MirrorAnswer] = asyncio.get_running_loop().create_future()
        self._waiting.setdefault((organization_id, lists), []).append((numbers, future))
        if self._drainers < self.checks_in_flight:
            self._drainers += 1
            self._drain_tasks.add(task := asyncio.ensure_future(self._drain()))
            task.add_done_callback(self._drain_tasks.discard)
        return await future

    async def _check_in_parts(
        self, organization_id: UUID, numbers: Sequence[str], lists: tuple[str, ...]
    ) -> MirrorAnswer:
        """One answer from parts asked in turn. Each part is true of its own moment; parts
        that disagree on readiness or the flag (a rebuild or a toggle in between) give "not
        ready", which sends the whole check to Postgres."""
        parts = []
        for start in range(0, len(numbers), PART):
            part = await self.check(organization_id, numbers[start : start + PART], lists)
            if not part.ready:
                return part
            parts.append(part)
        if len({part.enabled for part in parts}) != 1:
            return MirrorAnswer(ready=False, enabled=False)
        if not parts[0].enabled:
            return parts[0]
        return MirrorAnswer(
            ready=True, enabled=True, blocking=tuple(b for p in parts for b in p.blocking)
        )

    async def _drain(self) -> None:
        try:
            while self._waiting:
                waiting, self._waiting = self._waiting, {}
                await self._answer(waiting)
        finally:
            self._drainers -= 1

    async def _answer(self, waiting: dict[_Asking, list[_Waiter]]) -> None:
        """``check.lua`` calls side by side, one per organization and at most
        ``MAX_NUMBERS_PER_CALL`` numbers each (a script blocks Redis while it runs); each
        call answers its own waiters as soon as it returns. On a Redis Cluster each call goes
        to the node of its organization's slot."""
        calls = [
            self._answer_call(asking, group)
            for asking, waiters in waiting.items()
            for group in _groups(waiters)
        ]
        await asyncio.gather(*calls)

    async def _answer_call(self, asking: _Asking, waiters: list[_Waiter]) -> None:
        organization_id, lists = asking
        try:  # every waiter must hear back, whatever happens
            numbers = [n for batch, _ in waiters for n in batch]
            ready, enabled, blocking = await self.ask(organization_id, lists, numbers)
        except Exception as exc:  # Redis, the cluster client, or a reply we cannot read
            error = Unavailable("The DNC cache (Redis) could not be reached")
            error.__cause__ = exc
            for _, future in waiters:
                if not future.done():
                    future.set_exception(error)
            return
        _deliver(waiters, ready, enabled, blocking)


def _groups(waiters: list[_Waiter]) -> list[list[_Waiter]]:
    """Waiters in groups of at most ``MAX_NUMBERS_PER_CALL`` numbers (a bigger check alone)."""
    groups: list[list[_Waiter]] = [[]]
    size = 0
    for waiter in waiters:
        if groups[-1] and size + len(waiter[0]) > MAX_NUMBERS_PER_CALL:
            groups.append([])
            size = 0
        groups[-1].append(waiter)
        size += len(waiter[0])
    return groups


def _deliver(
    waiters: list[_Waiter], ready: bool, enabled: bool, blocking: tuple[Blocking | None, ...]
) -> None:
    """Hand each waiter its slice of one answer."""
    start = 0
    for numbers, future in waiters:
        end = start + len(numbers)
        if future.done():  # the caller went away
            pass
        elif not ready:
            future.set_result(MirrorAnswer(ready=False, enabled=False))
        else:
            future.set_result(
                MirrorAnswer(ready=True, enabled=enabled, blocking=blocking[start:end])
            )
        start = end
