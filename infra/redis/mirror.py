"""The Redis mirror of each organization's list and DNC flag, which dialers read.

What it stores, and where, is ``infra/redis/layout.py``. The Lua scripts in ``lua/`` are the
only code that writes it (the rebuild's bulk load goes through ``load.lua``, so the checksum
stays exact); ``check.lua`` is the one-round-trip contract for dialers, ``probe.lua`` what the
reconciliation reads. Concurrent checks share round trips (``coalescer.py``).
"""

import secrets
from collections.abc import Awaitable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import cast
from uuid import UUID

from msgspec import msgpack
from redis.asyncio import Redis, RedisCluster
from redis.asyncio.cluster import ClusterNode

from domain.checksum import Checksum
from domain.errors import Unavailable
from domain.model import (
    DEFAULT_LIST,
    MirrorAnswer,
    MirrorBuild,
    MirrorProbe,
    MirrorState,
    VerifyCursor,
)
from infra.redis import REDIS_FAILURES, layout
from infra.redis.checking import Answer, ScriptCheck
from infra.redis.coalescer import CheckCoalescer
from infra.settings import Settings

LUA = Path(__file__).with_name("lua")
LOAD_MEMBERS_PER_CALL = 5_000  # members per load.lua call: below Lua's unpack limit (8,000)
UNREACHABLE = "The DNC cache (Redis) could not be reached; nothing was saved, retry the request"
UNAVAILABLE = "The DNC cache (Redis) could not be reached"


MirrorRedis = Redis | RedisCluster
# whose keys: an organization's (its id in the hash tag), or a shared list's (``shared:<id>``,
# see ``layout.shared_owner``; infra/redis/shared.py)
Owner = UUID | str
EXEMPTIONS_PER_CALL = 10_000


def create_mirror_redis(settings: Settings, default: Redis) -> MirrorRedis:
    """The mirror's Redis: a Redis Cluster when ``DNC_MIRROR_REDIS_CLUSTER`` names one
    (every key of an organization shares its hash tag, so it lives on one node), otherwise
    ``default``, the connection the job queue uses too."""
    nodes = settings.mirror_cluster_nodes
    if not nodes:
        return default
    startup = [ClusterNode(host, int(port)) for host, _, port in (n.rpartition(":") for n in nodes)]
    cluster: RedisCluster = RedisCluster(
        startup_nodes=startup,
        socket_timeout=settings.redis_timeout_seconds,
        socket_connect_timeout=settings.redis_timeout_seconds,
        max_connections=settings.redis_pool_size,
    )
    return cluster


async def close_mirror_redis(client: MirrorRedis, default: Redis) -> None:
    if client is not default:
        await client.aclose()


class RedisMirror:
    def __init__(self, redis: MirrorRedis, prefix: str, checks_in_flight: int = 2) -> None:
        self.redis = redis
        self.prefix = prefix
        scripts = cast(Redis, redis)  # redis-py types register_script for Redis only
        self._checking = ScriptCheck(redis, prefix)
        self._apply = scripts.register_script((LUA / "apply.lua").read_text())
        self._begin = scripts.register_script((LUA / "begin_rebuild.lua").read_text())
        self._swap = scripts.register_script((LUA / "swap.lua").read_text())
        self._load = scripts.register_script((LUA / "load.lua").read_text())
        self._probe = scripts.register_script((LUA / "probe.lua").read_text())
        self._checks = CheckCoalescer(self._ask_check, checks_in_flight)

    def meta_key(self, organization_id: Owner, list_id: str = DEFAULT_LIST) -> str:
        return layout.list_meta_key(self.prefix, organization_id, list_id)

    def bucket_key(
        self, organization_id: Owner, generation: str, bucket: int, list_id: str = DEFAULT_LIST
    ) -> str:
        return layout.list_bucket_key(self.prefix, organization_id, list_id, generation, bucket)

    def _keys(self, organization_id: Owner, list_id: str) -> list[str]:
        return layout.script_keys(self.prefix, organization_id, list_id)

    async def check(
        self, organization_id: UUID, numbers: Sequence[str], lists: Sequence[str] = ()
    ) -> MirrorAnswer:
        """Through the ``CheckCoalescer``: checks that arrive together share round trips."""
        return await self._checks.check(organization_id, numbers, tuple(lists))

    async def _ask_check(
        self, organization_id: UUID, lists: tuple[str, ...], numbers: list[str]
    ) -> Answer:
        return await self._checking.ask(organization_id, lists, numbers)

    async def apply(
        self,
        organization_id: Owner,
        add: Sequence[str] = (),
        remove: Sequence[str] = (),
        enabled: bool | None = None,
        list_id: str = DEFAULT_LIST,
    ) -> bool:
        """One ``apply.lua`` call: the flag as "1", "0" or "" (unchanged), then the count of
        numbers to add, the added and the removed ones."""
        flag = "" if enabled is None else ("1" if enabled else "0")
        try:
            live = await self._apply(
                keys=self._keys(organization_id, list_id), args=[flag, len(add), *add, *remove]
            )
        except REDIS_FAILURES as exc:
            raise Unavailable(UNREACHABLE) from exc
        return bool(live)

    async def set_prefixes(self, organization_id: UUID, prefixes: Sequence[str]) -> None:
        try:
            await cast(
                Awaitable[int],
                self.redis.hset(self.meta_key(organization_id), "prefixes", ",".join(prefixes)),
            )
        except REDIS_FAILURES as exc:
            raise Unavailable(UNREACHABLE) from exc

    async def set_subscriptions(self, organization_id: UUID, list_ids: Sequence[str]) -> None:
        try:
            await cast(
                Awaitable[int],
                self.redis.hset(self.meta_key(organization_id), "shared", ",".join(list_ids)),
            )
        except REDIS_FAILURES as exc:
            raise Unavailable(UNREACHABLE) from exc

    async def set_exemptions(
        self,
        organization_id: UUID,
        lapses: Mapping[str, datetime | None],
        clear: Sequence[str] = (),
        replace: bool = False,
    ) -> None:
        """A hash of number to when its exemption lapses, in seconds since the epoch ("0":
        never); a replacement is written beside it and renamed over it (one slot, atomic)."""
        key = layout.exemptions_key(self.prefix, organization_id)
        target = f"{key}:new" if replace else key
        values = {
            number: "0" if lapse is None else str(int(lapse.timestamp()))
            for number, lapse in lapses.items()
        }
        items = list(values.items())
        try:
            if replace:
                await cast(Awaitable[int], self.redis.delete(target))
            for start in range(0, len(items), EXEMPTIONS_PER_CALL):
                part = dict(items[start : start + EXEMPTIONS_PER_CALL])
                await cast(Awaitable[int], self.redis.hset(target, mapping=part))
            if replace and items:
                await cast(Awaitable[bool], self.redis.rename(target, key))
            elif replace:
                await cast(Awaitable[int], self.redis.delete(key))
            for start in range(0, len(clear), EXEMPTIONS_PER_CALL):
                part_cleared = clear[start : start + EXEMPTIONS_PER_CALL]
                await cast(Awaitable[int], self.redis.hdel(key, *part_cleared))
        except REDIS_FAILURES as exc:
            raise Unavailable(UNREACHABLE) from exc

    async def exemption_count(self, organization_id: UUID) -> int | None:
        key = layout.exemptions_key(self.prefix, organization_id)
        try:
            return await cast(Awaitable[int], self.redis.hlen(key))
        except REDIS_FAILURES as exc:
            raise Unavailable(UNAVAILABLE) from exc

    async def state(self, organization_id: Owner, list_id: str = DEFAULT_LIST) -> MirrorState:
        fields = ["ready3", "enabled", "gen", "buckets", "bgen", "rebuilt_at", "rebuilt_count"]
        meta = self.meta_key(organization_id, list_id)
        try:
            values = await cast(
                Awaitable[list[bytes | None]], self.redis.hmget(meta, [*fields, "run_id"])
            )
            server = await self._server_info(meta)
        except REDIS_FAILURES as exc:
            raise Unavailable(UNAVAILABLE) from exc
        ready, enabled, gen, buckets, bgen, rebuilt_at, rebuilt_count, run_id = (
            v.decode() if v is not None else None for v in values
        )
        return MirrorState(
            ready=ready == "1" and gen is not None and run_id == server.get("run_id"),
            enabled=None if enabled is None else enabled == "1",
            generation=gen,
            buckets=int(buckets) if buckets else None,
            building=bgen is not None,
            rebuilt_at=rebuilt_at,
            rebuilt_count=int(rebuilt_count) if rebuilt_count else None,
        )

    async def _server_info(self, key: str) -> dict[str, object]:
        """``INFO server`` of the server that holds ``key`` (on a cluster: its slot's node)."""
        if isinstance(self.redis, RedisCluster):
            node = self.redis.get_node_from_key(key)
            reply = await self.redis.info("server", target_nodes=node)
        else:
            reply = await self.redis.info("server")
        return cast(dict[str, object], reply)

    async def count(self, organization_id: Owner, list_id: str = DEFAULT_LIST) -> int | None:
        """SCARD of every bucket, pipelined a thousand at a time."""
        state = await self.state(organization_id, list_id)
        if state.generation is None or state.buckets is None:
            return None
        total = 0
        try:
            for start in range(0, state.buckets, 1000):
                async with self.redis.pipeline(transaction=False) as pipe:
                    for bucket in range(start, min(start + 1000, state.buckets)):
                        pipe.scard(
                            self.bucket_key(organization_id, state.generation, bucket, list_id)
                        )
                    total += sum(await pipe.execute())
        except REDIS_FAILURES as exc:
            raise Unavailable(UNAVAILABLE) from exc
        return total

    async def members(self, organization_id: Owner, list_id: str = DEFAULT_LIST) -> set[int] | None:
        """Read 500 buckets a pipeline (for ``dnc cache verify``)."""
        state = await self.state(organization_id, list_id)
        if state.generation is None or state.buckets is None:
            return None
        numbers: set[int] = set()
        for start in range(0, state.buckets, 500):
            numbers |= await self._read_buckets(
                organization_id, list_id, state.generation, state.buckets, start, start + 500
            )
        return numbers

    # The reconciliation -----------------------------------------------------------------

    async def probe(
        self, organization_id: Owner, numbers: Sequence[str] = (), list_id: str = DEFAULT_LIST
    ) -> MirrorProbe:
        try:
            reply = await self._probe(
                keys=self._keys(organization_id, list_id), args=[",".join(numbers)]
            )
        except REDIS_FAILURES as exc:
            raise Unavailable(UNAVAILABLE) from exc
        ready = int(reply[0]) == 1
        enabled, buckets, *sums, members, rules, shared, fresh_until = (
            x.decode() if isinstance(x, bytes) else str(x) for x in reply[1:]
        )
        checksum = Checksum(*(int(value) for value in sums)) if all(v != "" for v in sums) else None
        return MirrorProbe(
            ready=ready,
            enabled=None if enabled == "" else enabled == "1",
            buckets=int(buckets) if buckets else None,
            checksum=checksum if buckets else None,
            members=tuple(c == "1" for c in members),
            prefixes=None if rules == "-" else tuple(r for r in rules.split(",") if r),
            subscriptions=None if shared == "-" else tuple(s for s in shared.split(",") if s),
            fresh_until=int(fresh_until) if fresh_until else None,
        )

    async def bucket_members(
        self, organization_id: Owner, start: int, stop: int, list_id: str = DEFAULT_LIST
    ) -> tuple[int, set[int]] | None:
        state = await self.state(organization_id, list_id)
        if state.generation is None or state.buckets is None:
            return None
        members = await self._read_buckets(
            organization_id, list_id, state.generation, state.buckets, start, stop
        )
        return state.buckets, members

    async def _read_buckets(
        self,
        organization_id: Owner,
        list_id: str,
        generation: str,
        count: int,
        start: int,
        stop: int,
    ) -> set[int]:
        """The numbers in buckets [start, stop) of a generation of ``count`` buckets, read in
        one pipeline."""
        buckets = range(start, min(stop, count))
        try:
            async with self.redis.pipeline(transaction=False) as pipe:
                for bucket in buckets:
                    pipe.smembers(self.bucket_key(organization_id, generation, bucket, list_id))
                replies = await pipe.execute()
        except REDIS_FAILURES as exc:
            raise Unavailable(UNAVAILABLE) from exc
        return {
            layout.number_at(bucket, int(m), count)
            for bucket, members in zip(buckets, replies, strict=True)
            for m in members
        }

    @property
    def cursor_key(self) -> str:
        return layout.cursor_key(self.prefix)

    async def verify_cursor(self) -> VerifyCursor | None:
        try:
            fields = await cast(Awaitable[dict[bytes, bytes]], self.redis.hgetall(self.cursor_key))
        except REDIS_FAILURES as exc:
            raise Unavailable(UNAVAILABLE) from exc
        values = {k.decode(): v.decode() for k, v in fields.items()}
        try:
            return VerifyCursor(
                UUID(values["org"]),
                values["phase"],
                values["after"],
                int(values["bucket"]),
                values.get("list", DEFAULT_LIST),  # a cursor saved before lists: the org-wide
            )
        except (KeyError, ValueError):
            return None

    async def save_verify_cursor(self, cursor: VerifyCursor) -> None:
        mapping = {
            "org": str(cursor.organization_id),
            "phase": cursor.phase,
            "after": cursor.after,
            "bucket": str(cursor.bucket),
            "list": cursor.list_id,
        }
        try:
            await cast(Awaitable[int], self.redis.hset(self.cursor_key, mapping=mapping))
        except REDIS_FAILURES as exc:
            raise Unavailable(UNAVAILABLE) from exc

    # The rebuild -------------------------------------------------------------------------

    async def begin_rebuild(
        self, organization_id: Owner, expected: int, list_id: str = DEFAULT_LIST
    ) -> MirrorBuild:
        """A random generation id; the buckets of a rebuild that died half-way are deleted."""
        build = MirrorBuild(secrets.token_hex(4), layout.bucket_count_for(expected), list_id)
        try:
            stale_gen, stale_buckets = await self._begin(
                keys=self._keys(organization_id, list_id), args=[build.generation, build.buckets]
            )
        except REDIS_FAILURES as exc:
            raise Unavailable(UNAVAILABLE) from exc
        if stale_gen and stale_buckets:  # an earlier rebuild died half-way
            await self.delete_generation(
                organization_id, stale_gen.decode(), int(stale_buckets), list_id
            )
        return build

    async def load_buckets(
        self, organization_id: Owner, build: MirrorBuild, groups: Sequence[tuple[int, list[int]]]
    ) -> bool:
        """The members already computed (see ``layout.locate``) by whoever grouped them, in
        ``load.lua`` calls of a few thousand members, one after the other."""
        calls: list[list[tuple[int, list[str]]]] = [[]]
        size = 0
        for bucket, members in groups:
            for start in range(0, len(members), LOAD_MEMBERS_PER_CALL):
                part = members[start : start + LOAD_MEMBERS_PER_CALL]
                if size + len(part) > LOAD_MEMBERS_PER_CALL:
                    calls.append([])
                    size = 0
                calls[-1].append((bucket, list(map(str, part))))
                size += len(part)
        keys = self._keys(organization_id, build.list_id)
        try:
            for call in calls:  # one after the other: each blocks Redis for a few ms only
                if not call:
                    continue
                args: list[str | int | bytes] = [
                    build.generation,
                    build.buckets,
                    msgpack.encode(call),
                ]
                if int(await self._load(keys=keys, args=args)) != 1:
                    return False
        except REDIS_FAILURES as exc:
            raise Unavailable(UNAVAILABLE) from exc
        return True

    async def swap(
        self,
        organization_id: Owner,
        build: MirrorBuild,
        enabled: bool | None,
        rebuilt_at: str,
        count: int,
        prefixes: Sequence[str] | None = None,
        fresh_until: str | None = None,
    ) -> bool:
        """``swap.lua``, then the generation it replaced is deleted. ``fresh_until``: a shared
        list's freshness, made live with its numbers in the same step."""
        flag = "" if enabled is None else ("1" if enabled else "0")
        args: list[str | int] = [build.generation, build.buckets, flag, rebuilt_at, count]
        if prefixes is not None or fresh_until is not None:
            args.append("-" if prefixes is None else ",".join(prefixes))
        if fresh_until is not None:
            args.append(fresh_until)
        try:
            reply = await self._swap(keys=self._keys(organization_id, build.list_id), args=args)
        except REDIS_FAILURES as exc:
            raise Unavailable(UNAVAILABLE) from exc
        if int(reply[0]) != 1:
            return False
        old_gen, old_buckets = (x.decode() if isinstance(x, bytes) else str(x) for x in reply[1:])
        if old_gen and old_buckets:
            await self.delete_generation(organization_id, old_gen, int(old_buckets), build.list_id)
        return True

    async def drop_list(self, organization_id: Owner, list_id: str) -> None:
        """A deleted named list's keys: its meta key first (checks naming the list read it as
        unknown from then on), then its generations' buckets."""
        meta = self.meta_key(organization_id, list_id)
        try:
            values = await cast(
                Awaitable[list[bytes | None]],
                self.redis.hmget(meta, ["gen", "buckets", "bgen", "bbuckets"]),
            )
            await cast(Awaitable[int], self.redis.unlink(meta))
        except REDIS_FAILURES as exc:
            raise Unavailable(UNAVAILABLE) from exc
        gen, buckets, bgen, bbuckets = (v.decode() if v is not None else None for v in values)
        for generation, count in ((gen, buckets), (bgen, bbuckets)):
            if generation and count:
                await self.delete_generation(organization_id, generation, int(count), list_id)

    async def delete_generation(
        self, organization_id: Owner, generation: str, buckets: int, list_id: str = DEFAULT_LIST
    ) -> None:
        for start in range(0, buckets, 1000):
            keys = [
                self.bucket_key(organization_id, generation, bucket, list_id)
                for bucket in range(start, min(start + 1000, buckets))
            ]
            try:
                await cast(Awaitable[int], self.redis.unlink(*keys))
            except REDIS_FAILURES as exc:
                raise Unavailable(UNAVAILABLE) from exc
