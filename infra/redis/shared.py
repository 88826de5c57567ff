"""The Redis copy of each shared list: the organizations' bucketed layout (see ``layout.py``)
under a hash tag of its own, ``{shared:<listId>}``, kept by the same scripts. Its meta hash
also holds ``fresh_until``: until when (seconds since the epoch) its data vouches for the
numbers it does not hold; ``check.lua`` reads a list past it as stale."""

from collections.abc import Awaitable, Sequence
from datetime import datetime
from typing import cast

from domain.errors import Unavailable
from domain.model import DEFAULT_LIST, MirrorBuild, MirrorProbe, MirrorState, SharedCursor
from infra.redis import REDIS_FAILURES
from infra.redis.layout import shared_cursor_key, shared_owner
from infra.redis.mirror import UNREACHABLE, RedisMirror


def epoch_seconds(moment: datetime | None) -> str:
    """``fresh_until`` as stored: "0" (stale from the start) for a list never loaded."""
    return "0" if moment is None else str(int(moment.timestamp()))


class RedisSharedMirror:
    def __init__(self, mirror: RedisMirror) -> None:
        self.mirror = mirror

    def meta_key(self, list_id: str) -> str:
        return self.mirror.meta_key(shared_owner(list_id))

    async def state(self, list_id: str) -> MirrorState:
        return await self.mirror.state(shared_owner(list_id))

    async def begin_rebuild(self, list_id: str, expected: int) -> MirrorBuild:
        return await self.mirror.begin_rebuild(shared_owner(list_id), expected)

    async def load_buckets(
        self, list_id: str, build: MirrorBuild, groups: Sequence[tuple[int, list[int]]]
    ) -> bool:
        return await self.mirror.load_buckets(shared_owner(list_id), build, groups)

    async def swap(
        self,
        list_id: str,
        build: MirrorBuild,
        fresh_until: datetime | None,
        rebuilt_at: str,
        count: int,
    ) -> bool:
        """The new generation goes live with its freshness, in one step."""
        return await self.mirror.swap(
            shared_owner(list_id),
            build,
            None,
            rebuilt_at,
            count,
            fresh_until=epoch_seconds(fresh_until),
        )

    async def suspend(self, list_id: str) -> None:
        try:
            await cast(Awaitable[int], self.mirror.redis.hdel(self.meta_key(list_id), "ready3"))
        except REDIS_FAILURES as exc:
            raise Unavailable(UNREACHABLE) from exc

    async def apply(
        self,
        list_id: str,
        add: Sequence[str],
        remove: Sequence[str],
        fresh_until: datetime | None,
    ) -> bool:
        live = await self.mirror.apply(shared_owner(list_id), add, remove, None, DEFAULT_LIST)
        await self._set_fresh_until(list_id, fresh_until)
        return live

    async def _set_fresh_until(self, list_id: str, fresh_until: datetime | None) -> None:
        try:
            await cast(
                Awaitable[int],
                self.mirror.redis.hset(
                    self.meta_key(list_id), "fresh_until", epoch_seconds(fresh_until)
                ),
            )
        except REDIS_FAILURES as exc:
            raise Unavailable(UNREACHABLE) from exc

    async def probe(self, list_id: str, numbers: Sequence[str] = ()) -> MirrorProbe:
        return await self.mirror.probe(shared_owner(list_id), numbers)

    async def bucket_members(
        self, list_id: str, start: int, stop: int
    ) -> tuple[int, set[int]] | None:
        return await self.mirror.bucket_members(shared_owner(list_id), start, stop)

    async def verify_cursor(self) -> SharedCursor | None:
        key = shared_cursor_key(self.mirror.prefix)
        try:
            fields = await cast(Awaitable[dict[bytes, bytes]], self.mirror.redis.hgetall(key))
        except REDIS_FAILURES as exc:
            raise Unavailable(UNREACHABLE) from exc
        values = {k.decode(): v.decode() for k, v in fields.items()}
        try:
            return SharedCursor(
                values["list"], values["phase"], int(values["after"]), int(values["bucket"])
            )
        except (KeyError, ValueError):  # none saved yet, or not one of ours: start over
            return None

    async def save_verify_cursor(self, cursor: SharedCursor) -> None:
        mapping = {
            "list": cursor.list_id,
            "phase": cursor.phase,
            "after": str(cursor.after),
            "bucket": str(cursor.bucket),
        }
        key = shared_cursor_key(self.mirror.prefix)
        try:
            await cast(Awaitable[int], self.mirror.redis.hset(key, mapping=mapping))
        except REDIS_FAILURES as exc:
            raise Unavailable(UNREACHABLE) from exc

    async def count(self, list_id: str) -> int | None:
        return await self.mirror.count(shared_owner(list_id))
