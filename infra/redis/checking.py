"""One check of an organization against Redis: its ``check.lua`` call and, when it subscribes
to shared lists, theirs, sent together. The API's mirror and ``DncClient`` both ask through
:class:`ScriptCheck`, so a dialer going straight to Redis gets the answer ``/check`` gives.

The shared lists to ask about are only known from the organization's own reply, so each
:class:`ScriptCheck` remembers what an organization's last reply said and asks about those
lists in the same round trip; when the reply names other lists (a subscription changed), it
asks about them in a second round trip. The answer always rests on the subscriptions the
reply names: a guess never decides which lists are consulted.
"""

import asyncio
from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast
from uuid import UUID

from redis.asyncio import Redis, RedisCluster
from redis.exceptions import NoScriptError

from domain.model import DEFAULT_LIST, Blocking
from infra.redis import layout

CHECK_SCRIPT = (Path(__file__).with_name("lua") / "check.lua").read_text()
Call = tuple[list[str], list[str]]  # one check.lua call: its keys and its arguments
Answer = tuple[bool, bool, tuple[Blocking | None, ...]]  # ready, enabled, what blocks each


class ScriptCheck:
    def __init__(self, redis: Redis | RedisCluster, prefix: str) -> None:
        self.redis = redis
        self.prefix = prefix
        self._script = cast(Redis, redis).register_script(CHECK_SCRIPT)
        self._subscribed: dict[str, tuple[str, ...]] = {}

    async def ask(
        self, organization_id: UUID | str, named: tuple[str, ...], numbers: Sequence[str]
    ) -> Answer:
        """What blocks each of ``numbers`` (E.164 digits): ``(ready, enabled, blocking)``,
        ``blocking`` empty unless ready and enabled. Raises what redis-py raises, and
        :class:`layout.UnexpectedReply` for a reply that is not an answer."""
        joined = ",".join(numbers)
        own: Call = (layout.check_keys(self.prefix, organization_id, named), ["o", joined])
        guess = self._subscribed.get(str(organization_id), ())
        replies = await self._run([own, *self._shared_calls(guess, joined)])
        reply = layout.read_check_reply(replies[0], len(numbers), len(named))
        if not reply.ready or not reply.enabled:
            return reply.ready, reply.enabled, ()
        subscribed = reply.subscribed
        theirs = replies[1:]
        if subscribed != guess:  # a subscription changed: ask about the lists the reply names
            self._subscribed[str(organization_id)] = subscribed
            theirs = await self._run(self._shared_calls(subscribed, joined)) if subscribed else []
        stale, shared_masks = 0, b""
        if subscribed:
            groups = self._groups(subscribed)
            parts = []
            for group, answer in zip(groups, theirs, strict=True):
                ready, group_stale, masks = layout.read_shared_reply(
                    answer, len(numbers), len(group)
                )
                if not ready:
                    return False, False, ()
                parts.append((len(group), group_stale, masks))
            stale, shared_masks = layout.merge_shared_replies(parts, len(numbers))
        answers = layout.blocking_of(
            reply.masks, (DEFAULT_LIST, *named), subscribed, shared_masks, stale
        )
        return True, True, answers

    def _groups(self, shared: Sequence[str]) -> list[tuple[str, ...]]:
        """The shared lists one call each: all of them on a single server, one a call on a
        cluster (each list's keys have a hash tag, so a slot, of their own)."""
        if not shared:
            return []
        if isinstance(self.redis, RedisCluster):
            return [(list_id,) for list_id in shared]
        return [tuple(shared)]

    def _shared_calls(self, shared: Sequence[str], joined: str) -> list[Call]:
        return [
            (layout.shared_check_keys(self.prefix, group), ["s", joined])
            for group in self._groups(shared)
        ]

    async def _run(self, calls: list[Call]) -> list[Any]:
        """The calls' replies. One call alone is one EVALSHA; on a single server several go
        in one pipeline (one round trip); on a cluster each goes to its own slot's node, in
        parallel (redis-py's cluster pipeline refuses EVALSHA)."""
        if len(calls) == 1 or isinstance(self.redis, RedisCluster):
            answered = await asyncio.gather(
                *(self._script(keys=keys, args=args) for keys, args in calls)
            )
            return list(answered)
        for attempt in (1, 2):
            async with self.redis.pipeline(transaction=False) as pipe:
                for keys, args in calls:
                    pipe.evalsha(self._script.sha, len(keys), *keys, *args)
                replies: list[Any] = await pipe.execute(raise_on_error=False)
            errors = [r for r in replies if isinstance(r, Exception)]
            if not errors:
                return replies
            if attempt == 1 and all(isinstance(e, NoScriptError) for e in errors):
                await self.redis.script_load(CHECK_SCRIPT)  # a restarted or new server
                continue
            raise errors[0]
        raise AssertionError("unreachable")
