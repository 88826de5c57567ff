"""Revoked tokens, announced to every API process through Redis pub/sub.

``dnc token revoke`` publishes the token's hash on ``{prefix}:tokens:revoked`` (after the
Postgres commit). Each API process runs :func:`follow_revocations` for its lifetime: it
subscribes on a connection of its own, hands each hash to the token cache, and pings the
server every :data:`PING_SECONDS` with the moment the ping left. A pong proves that every
announcement published before that moment has been delivered (Redis answers one connection
in order), so the cache may trust its entries until a second after it. While Redis is away
no pong comes back and that second runs out: the cache then trusts nothing older than a
second (``app.auth``). Each (re)subscription empties the cache, since announcements made
while the listener was away are lost; the listener reconnects with backoff and logs each
change of state once.
"""

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from typing import Protocol

from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError

from infra.settings import Settings

log = logging.getLogger(__name__)

PING_SECONDS = 0.25
SILENT_SECONDS = 3.0  # no answer to pings for this long: the connection is dead, reconnect
TRUST_SECONDS = 1.0  # API.md: a revoked token is refused within one second
_BACKOFF = (0.1, 2.0)  # first and longest wait between reconnections


def channel(settings: Settings) -> str:
    return f"{settings.redis_prefix}:tokens:revoked"


ANNOUNCE_RETRIES = (0.1, 0.4, 1.0)  # seconds between tries of an announcement


class RedisTokenRevocations:
    """The :class:`domain.ports.TokenRevocations` that publishes on Redis."""

    def __init__(self, redis: Redis, settings: Settings) -> None:
        self.redis = redis
        self.channel = channel(settings)

    async def announce(self, token_hash: str) -> bool:
        """Tried a few times over about a second and a half: an API process whose own
        listener is healthy trusts its cache for ``DNC_TOKEN_CACHE_SECONDS``, so a blip on
        the announcer's side alone must not lose the announcement."""
        for pause in (*ANNOUNCE_RETRIES, None):
            try:
                await self.redis.publish(self.channel, token_hash)
                return True
            except (RedisError, OSError) as exc:
                if pause is None:
                    log.warning("token revocation not announced (%s)", exc)
                    return False
                await asyncio.sleep(pause)
        return False


class RevocationSink(Protocol):
    """What the listener feeds (``app.auth.TokenCache``)."""

    def forget(self, token_hash: str) -> None: ...
    def forget_all(self) -> None: ...
    def trust_until(self, deadline: float) -> None:
        """``deadline`` is on :func:`time.monotonic`'s clock."""
        ...


async def follow_revocations(settings: Settings, sink: RevocationSink, client_name: str) -> None:
    """Listen until cancelled, whatever Redis does."""
    backoff = _BACKOFF[0]
    connected = False
    while True:
        redis = Redis.from_url(
            settings.redis_url,
            socket_connect_timeout=settings.redis_timeout_seconds,
            client_name=client_name,
        )
        try:
            async with redis.pubsub() as pubsub:
                await pubsub.subscribe(channel(settings))
                async for _ in _listen(pubsub, sink):
                    if not connected:
                        log.info("token revocations: listening")
                    connected, backoff = True, _BACKOFF[0]
        except (RedisError, OSError) as exc:
            if connected:
                log.warning(
                    "token revocations: not listening (%s); cached tokens are trusted for "
                    "at most %s s until Redis is back",
                    exc,
                    TRUST_SECONDS,
                )
            connected = False
        except Exception:  # a bug: keep listening (until then the one-second rule holds)
            log.exception("token revocations: listener failed; starting again")
            connected = False
        finally:
            await redis.aclose()
        await asyncio.sleep(backoff)
        backoff = min(backoff * 2, _BACKOFF[1])


async def _listen(pubsub: PubSub, sink: RevocationSink) -> AsyncIterator[None]:
    """Feed the sink; yield after each (re)subscription. Raises when the connection fails."""
    heard = next_ping = time.monotonic()
    while True:
        now = time.monotonic()
        if now >= next_ping:
            await pubsub.ping(f"{now!r}")
            next_ping = now + PING_SECONDS
        message = await pubsub.get_message(timeout=max(next_ping - now, 0.01))
        if message is None:
            if time.monotonic() - heard > SILENT_SECONDS:
                raise RedisConnectionError(f"no answer from Redis for {SILENT_SECONDS} s")
            continue
        heard = time.monotonic()
        kind, data = message["type"], message["data"]
        if kind == "message":
            sink.forget(data.decode())
        elif kind == "pong":
            sink.trust_until(float(data) + TRUST_SECONDS)
        elif kind == "subscribe":  # also after redis-py reconnected by itself
            sink.forget_all()
            yield
