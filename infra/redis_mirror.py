"""The Redis mirror of each organization's list and DNC flag.

Key layout (every key of one organization shares the Redis Cluster hash tag ``{orgId}``):
- ``<prefix>:{<orgId>}:numbers``: a set of the listed numbers, E.164 digits without ``+``;
- ``<prefix>:{<orgId>}:settings``: a hash, ``enabled`` ("1"/"0") and the ``version`` of that
  setting in Postgres; a write carrying an older version than the stored one is ignored.
"""

from collections.abc import Awaitable, Sequence
from typing import cast
from uuid import UUID

from redis.asyncio import Redis
from redis.exceptions import RedisError

from domain.errors import Unavailable

UNREACHABLE = "The DNC cache (Redis) could not be reached; nothing was saved, retry the request"

# Set the flag unless Redis already holds a newer version of it.
_SET_ENABLED = """
local stored = tonumber(redis.call('HGET', KEYS[1], 'version') or '-1')
if tonumber(ARGV[2]) >= stored then
  redis.call('HSET', KEYS[1], 'enabled', ARGV[1], 'version', ARGV[2])
  return 1
end
return 0
"""


class RedisMirror:
    def __init__(self, redis: Redis, prefix: str) -> None:
        self.redis = redis
        self.prefix = prefix
        self._set_enabled = redis.register_script(_SET_ENABLED)

    def numbers_key(self, organization_id: UUID) -> str:
        return f"{self.prefix}:{{{organization_id}}}:numbers"

    def settings_key(self, organization_id: UUID) -> str:
        return f"{self.prefix}:{{{organization_id}}}:settings"

    async def add_numbers(self, organization_id: UUID, numbers: Sequence[str]) -> None:
        try:
            await cast(Awaitable[int], self.redis.sadd(self.numbers_key(organization_id), *numbers))
        except (RedisError, OSError) as exc:
            raise Unavailable(UNREACHABLE) from exc

    async def set_enabled(self, organization_id: UUID, enabled: bool, version: int) -> None:
        try:
            await self._set_enabled(
                keys=[self.settings_key(organization_id)], args=["1" if enabled else "0", version]
            )
        except (RedisError, OSError) as exc:
            raise Unavailable(UNREACHABLE) from exc
