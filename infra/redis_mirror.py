"""The Redis mirror of each organization's list and DNC flag, which dialers read.

Key layout (all keys of one organization share the Redis Cluster hash tag ``{orgId}``):

``<prefix>:{<orgId>}:meta`` (hash)
    ``ready``    "1" once a rebuild has loaded the whole list; absent means *unknown*
    ``enabled``  "1"/"0", the organization's DNC flag
    ``gen``, ``buckets``    the live generation of number sets and its bucket count
    ``bgen``, ``bbuckets``  a generation being built by a rebuild, if one is running
    ``rebuilt_at``, ``rebuilt_count``  when the last rebuild finished, and what it loaded
    ``count``, ``sum1``, ``sum2``, ``sum3``  the live generation's checksum (see
        ``domain/checksum.py``): its number count and three sums modulo primes below 2^26,
        kept by the scripts from what SADD and SREM actually changed
    ``bcount``, ``bsum1``, ``bsum2``, ``bsum3``  the same for the generation being built
``<prefix>:{<orgId>}:n:<gen>:<r>`` (set of integers)
    number ``n`` (E.164 digits as an integer) lives in bucket ``r = n mod buckets`` as the
    member ``(n - r) / buckets``. Buckets hold ~256 members, so Redis keeps them in its
    compact intset encoding, and a lookup is one SISMEMBER whatever the list's size.

``<prefix>:reconcile:cursor`` (hash: ``org``, ``phase``, ``after``, ``bucket``)
    where the reconciliation's slice-by-slice full verification goes on; losing it only
    restarts the rotation

The Lua scripts in ``infra/lua`` are the only code that writes this layout (the rebuild's bulk
load goes through ``load.lua``, so the checksum stays exact); ``check.lua`` is the
one-round-trip contract for dialers, ``probe.lua`` what the reconciliation reads.
"""

import asyncio
import secrets
from collections.abc import Awaitable, Sequence
from pathlib import Path
from typing import cast
from uuid import UUID

from redis.asyncio import Redis, RedisCluster
from redis.asyncio.cluster import ClusterNode
from redis.exceptions import RedisClusterException, RedisError

from domain.checksum import Checksum
from domain.errors import Unavailable
from domain.model import MirrorAnswer, MirrorBuild, MirrorProbe, MirrorState, VerifyCursor
from infra.settings import Settings

LUA = Path(__file__).with_name("lua")
_Waiter = tuple[Sequence[str], "asyncio.Future[MirrorAnswer]"]
TARGET_PER_BUCKET = 256
_ONE = ord("1")
MAX_NUMBERS_PER_CALL = 10_000
# a check of more numbers than this is asked in parts of this size, one after the other: a
# script blocks Redis while it runs (about 2 ms a 1,000 numbers), and other checks' scripts
# then run between the parts instead of after a 50,000-number one
PART = 1_000
LOAD_MEMBERS_PER_CALL = 5_000  # members per load.lua call: below Lua's unpack limit (8,000)
# what a Redis or Redis Cluster connection raises when it cannot answer
REDIS_FAILURES = (RedisError, RedisClusterException, OSError)
UNREACHABLE = "The DNC cache (Redis) could not be reached; nothing was saved, retry the request"


def bucket_count_for(numbers: int) -> int:
    """Buckets for a list of this size: ~256 numbers each, coprime with 10 so that numbers
    sharing their last digits still spread evenly."""
    buckets = max(1, -(-numbers // TARGET_PER_BUCKET))
    while buckets > 1 and (buckets % 2 == 0 or buckets % 5 == 0):
        buckets += 1
    return buckets


def locate(number: int, buckets: int) -> tuple[int, int]:
    """The bucket and the member that stand for ``number``."""
    bucket = number % buckets
    return bucket, (number - bucket) // buckets


MirrorRedis = Redis | RedisCluster


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
        self.checks_in_flight = checks_in_flight
        scripts = cast(Redis, redis)  # redis-py types register_script for Redis only
        self._check = scripts.register_script((LUA / "check.lua").read_text())
        self._apply = scripts.register_script((LUA / "apply.lua").read_text())
        self._begin = scripts.register_script((LUA / "begin_rebuild.lua").read_text())
        self._swap = scripts.register_script((LUA / "swap.lua").read_text())
        self._load = scripts.register_script((LUA / "load.lua").read_text())
        self._probe = scripts.register_script((LUA / "probe.lua").read_text())
        self._waiting: dict[UUID, list[_Waiter]] = {}
        self._drainers = 0
        self._drain_tasks: set[asyncio.Future[None]] = set()

    def meta_key(self, organization_id: UUID) -> str:
        return f"{self.prefix}:{{{organization_id}}}:meta"

    def bucket_key(self, organization_id: UUID, generation: str, bucket: int) -> str:
        return f"{self.prefix}:{{{organization_id}}}:n:{generation}:{bucket}"

    async def check(self, organization_id: UUID, numbers: Sequence[str]) -> MirrorAnswer:
        """Raises :class:`Unavailable` when Redis cannot answer.

        Checks share round trips: at most ``checks_in_flight`` are in flight at a time per
        process, and every check that arrives meanwhile waits for the next, which asks for
        all of them at once (``check.lua`` calls side by side, see ``_answer``). Under load
        the batches grow instead of the queue for connections."""
        if len(numbers) > PART:
            return await self._check_in_parts(organization_id, numbers)
        future: asyncio.Future[MirrorAnswer] = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(organization_id, []).append((numbers, future))
        if self._drainers < self.checks_in_flight:
            self._drainers += 1
            self._drain_tasks.add(task := asyncio.ensure_future(self._drain()))
            task.add_done_callback(self._drain_tasks.discard)
        return await future

    async def _check_in_parts(self, organization_id: UUID, numbers: Sequence[str]) -> MirrorAnswer:
        """One answer from parts asked in turn. Each part is true of its own moment; parts
        that disagree on readiness or the flag (a rebuild or a toggle in between) give "not
        ready", which sends the whole check to Postgres."""
        parts = []
        for start in range(0, len(numbers), PART):
            part = await self.check(organization_id, numbers[start : start + PART])
            if not part.ready:
                return part
            parts.append(part)
        if len({part.enabled for part in parts}) != 1:
            return MirrorAnswer(ready=False, enabled=False)
        if not parts[0].enabled:
            return parts[0]
        return MirrorAnswer(
            ready=True, enabled=True, listed=tuple(hit for p in parts for hit in p.listed)
        )

    async def _drain(self) -> None:
        try:
            while self._waiting:
                waiting, self._waiting = self._waiting, {}
                await self._answer(waiting)
        finally:
            self._drainers -= 1

    async def _answer(self, waiting: dict[UUID, list[_Waiter]]) -> None:
        """``check.lua`` calls side by side, one per organization and at most
        ``MAX_NUMBERS_PER_CALL`` numbers each (a script blocks Redis while it runs); each
        call answers its own waiters as soon as it returns. On a Redis Cluster each call goes
        to the node of its organization's slot."""
        calls = [
            self._answer_call(organization_id, group)
            for organization_id, waiters in waiting.items()
            for group in _groups(waiters)
        ]
        await asyncio.gather(*calls)

    async def _answer_call(self, organization_id: UUID, waiters: list[_Waiter]) -> None:
        try:  # every waiter must hear back, whatever happens
            numbers = [n for batch, _ in waiters for n in batch]
            reply = await self._check(
                keys=[self.meta_key(organization_id)], args=["@", ",".join(numbers)]
            )
            enabled, ready = int(reply[0]), int(reply[1])
            listed: bytes = reply[2] if len(reply) > 2 else b""
            if ready and enabled == 1 and len(listed) != len(numbers):
                raise UnexpectedReply(f"{len(listed)} answers for {len(numbers)} numbers")
        except Exception as exc:  # Redis, the cluster client, or a reply we cannot read
            error = Unavailable("The DNC cache (Redis) could not be reached")
            error.__cause__ = exc
            for _, future in waiters:
                if not future.done():
                    future.set_exception(error)
            return
        _deliver(waiters, enabled, ready, listed)

    async def apply(
        self,
        organization_id: UUID,
        add: Sequence[str] = (),
        remove: Sequence[str] = (),
        enabled: bool | None = None,
    ) -> bool:
        """Add and remove numbers (and store the flag) atomically; True if the mirror has a
        live generation. Raises :class:`Unavailable` when Redis cannot take the write."""
        flag = "" if enabled is None else ("1" if enabled else "0")
        try:
            live = await self._apply(
                keys=[self.meta_key(organization_id)], args=[flag, len(add), *add, *remove]
            )
        except REDIS_FAILURES as exc:
            raise Unavailable(UNREACHABLE) from exc
        return bool(live)

    async def state(self, organization_id: UUID) -> MirrorState:
        fields = ["ready", "enabled", "gen", "buckets", "bgen", "rebuilt_at", "rebuilt_count"]
        try:
            values = await cast(
                Awaitable[list[bytes | None]],
                self.redis.hmget(self.meta_key(organization_id), [*fields, "run_id"]),
            )
            server = await self._server_info(self.meta_key(organization_id))
        except REDIS_FAILURES as exc:
            raise Unavailable("The DNC cache (Redis) could not be reached") from exc
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

    async def count(self, organization_id: UUID) -> int | None:
        """How many numbers the live generation holds (None when there is none)."""
        state = await self.state(organization_id)
        if state.generation is None or state.buckets is None:
            return None
        total = 0
        for start in range(0, state.buckets, 1000):
            async with self.redis.pipeline(transaction=False) as pipe:
                for bucket in range(start, min(start + 1000, state.buckets)):
                    pipe.scard(self.bucket_key(organization_id, state.generation, bucket))
                total += sum(await pipe.execute())
        return total

    async def members(self, organization_id: UUID) -> set[int] | None:
        """Every number in the live generation (for verification; None when there is none)."""
        state = await self.state(organization_id)
        if state.generation is None or state.buckets is None:
            return None
        numbers: set[int] = set()
        for start in range(0, state.buckets, 500):
            end = min(start + 500, state.buckets)
            async with self.redis.pipeline(transaction=False) as pipe:
                for bucket in range(start, end):
                    pipe.smembers(self.bucket_key(organization_id, state.generation, bucket))
                replies = await pipe.execute()
            for bucket, members in zip(range(start, end), replies, strict=True):
                numbers.update(int(m) * state.buckets + bucket for m in members)
        return numbers

    # The reconciliation -----------------------------------------------------------------

    async def probe(self, organization_id: UUID, numbers: Sequence[str] = ()) -> MirrorProbe:
        try:
            reply = await self._probe(
                keys=[self.meta_key(organization_id)], args=[",".join(numbers)]
            )
        except REDIS_FAILURES as exc:
            raise Unavailable("The DNC cache (Redis) could not be reached") from exc
        ready = int(reply[0]) == 1
        enabled, buckets, *sums, members = (
            x.decode() if isinstance(x, bytes) else str(x) for x in reply[1:]
        )
        checksum = Checksum(*(int(value) for value in sums)) if all(v != "" for v in sums) else None
        return MirrorProbe(
            ready=ready,
            enabled=None if enabled == "" else enabled == "1",
            buckets=int(buckets) if buckets else None,
            checksum=checksum if buckets else None,
            members=tuple(c == "1" for c in members),
        )

    async def bucket_members(
        self, organization_id: UUID, start: int, stop: int
    ) -> tuple[int, set[int]] | None:
        state = await self.state(organization_id)
        if state.generation is None or state.buckets is None:
            return None
        stop = min(stop, state.buckets)
        numbers: set[int] = set()
        try:
            async with self.redis.pipeline(transaction=False) as pipe:
                for bucket in range(start, stop):
                    pipe.smembers(self.bucket_key(organization_id, state.generation, bucket))
                replies = await pipe.execute()
        except REDIS_FAILURES as exc:
            raise Unavailable("The DNC cache (Redis) could not be reached") from exc
        for bucket, members in zip(range(start, stop), replies, strict=True):
            numbers.update(int(m) * state.buckets + bucket for m in members)
        return state.buckets, numbers

    @property
    def cursor_key(self) -> str:
        return f"{self.prefix}:reconcile:cursor"

    async def verify_cursor(self) -> VerifyCursor | None:
        try:
            fields = await cast(Awaitable[dict[bytes, bytes]], self.redis.hgetall(self.cursor_key))
        except REDIS_FAILURES as exc:
            raise Unavailable("The DNC cache (Redis) could not be reached") from exc
        values = {k.decode(): v.decode() for k, v in fields.items()}
        try:
            return VerifyCursor(
                UUID(values["org"]), values["phase"], values["after"], int(values["bucket"])
            )
        except (KeyError, ValueError):
            return None

    async def save_verify_cursor(self, cursor: VerifyCursor) -> None:
        mapping = {
            "org": str(cursor.organization_id),
            "phase": cursor.phase,
            "after": cursor.after,
            "bucket": str(cursor.bucket),
        }
        try:
            await cast(Awaitable[int], self.redis.hset(self.cursor_key, mapping=mapping))
        except REDIS_FAILURES as exc:
            raise Unavailable("The DNC cache (Redis) could not be reached") from exc

    # The rebuild -------------------------------------------------------------------------

    async def begin_rebuild(self, organization_id: UUID, expected: int) -> MirrorBuild:
        """Announce a new generation sized for ``expected`` numbers; live writes reach it
        from now on."""
        build = MirrorBuild(secrets.token_hex(4), bucket_count_for(expected))
        try:
            stale_gen, stale_buckets = await self._begin(
                keys=[self.meta_key(organization_id)], args=[build.generation, build.buckets]
            )
        except REDIS_FAILURES as exc:
            raise Unavailable("The DNC cache (Redis) could not be reached") from exc
        if stale_gen and stale_buckets:  # an earlier rebuild died half-way
            await self.delete_generation(organization_id, stale_gen.decode(), int(stale_buckets))
        return build

    async def load_buckets(
        self, organization_id: UUID, build: MirrorBuild, groups: Sequence[tuple[int, list[int]]]
    ) -> bool:
        """Bulk-load a generation being built, with the members already computed (see
        ``locate``) by whoever grouped them, in ``load.lua`` calls of a few thousand members.
        False (and nothing written) if another rebuild took over."""
        calls: list[list[int | str]] = [[]]
        for bucket, members in groups:
            for start in range(0, len(members), LOAD_MEMBERS_PER_CALL):
                part = members[start : start + LOAD_MEMBERS_PER_CALL]
                if len(calls[-1]) + len(part) > LOAD_MEMBERS_PER_CALL:
                    calls.append([])
                calls[-1] += [bucket, len(part), *part]
        keys = [self.meta_key(organization_id)]
        try:
            for args in calls:  # one after the other: each blocks Redis for a few ms only
                if (
                    args
                    and int(
                        await self._load(keys=keys, args=[build.generation, build.buckets, *args])
                    )
                    != 1
                ):
                    return False
        except REDIS_FAILURES as exc:
            raise Unavailable("The DNC cache (Redis) could not be reached") from exc
        return True

    async def swap(
        self, organization_id: UUID, build: MirrorBuild, enabled: bool, rebuilt_at: str, count: int
    ) -> bool:
        """Make the build live and the mirror ready; False if another rebuild took over."""
        try:
            reply = await self._swap(
                keys=[self.meta_key(organization_id)],
                args=[build.generation, build.buckets, "1" if enabled else "0", rebuilt_at, count],
            )
        except REDIS_FAILURES as exc:
            raise Unavailable("The DNC cache (Redis) could not be reached") from exc
        if int(reply[0]) != 1:
            return False
        old_gen, old_buckets = (x.decode() if isinstance(x, bytes) else str(x) for x in reply[1:])
        if old_gen and old_buckets:
            await self.delete_generation(organization_id, old_gen, int(old_buckets))
        return True

    async def delete_generation(self, organization_id: UUID, generation: str, buckets: int) -> None:
        for start in range(0, buckets, 1000):
            keys = [
                self.bucket_key(organization_id, generation, bucket)
                for bucket in range(start, min(start + 1000, buckets))
            ]
            await cast(Awaitable[int], self.redis.unlink(*keys))

    async def forget(self, organization_id: UUID) -> None:
        """Drop the organization's mirror entirely (it reads as not ready afterwards)."""
        state = await self.state(organization_id)
        await cast(Awaitable[int], self.redis.unlink(self.meta_key(organization_id)))
        if state.generation and state.buckets:
            await self.delete_generation(organization_id, state.generation, state.buckets)


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


class UnexpectedReply(Exception):
    """``check.lua`` answered for a different count of numbers than it was asked about."""


def _deliver(waiters: list[_Waiter], enabled: int, ready: int, listed: bytes) -> None:
    """Hand each waiter its slice of one packed ``check.lua`` reply."""
    start = 0
    for numbers, future in waiters:
        end = start + len(numbers)
        if future.done():  # the caller went away
            pass
        elif not ready:
            future.set_result(MirrorAnswer(ready=False, enabled=False))
        else:
            hits = tuple(map(_ONE.__eq__, listed[start:end]))
            future.set_result(MirrorAnswer(ready=True, enabled=enabled == 1, listed=hits))
        start = end
