"""A small client for dialers: ask Redis directly, fall back to the API, never guess.

    client = DncClient.connect(
        redis_url="redis://127.0.0.1:6379/0",
        organization_id="5b0c…",
        api_url="http://127.0.0.1:8000",
        token="dnc_…",  # a check-scope token is enough
    )
    result = await client.check(["+1 212-555-1234", "2125550100"], lists=["a1b2c3d4e5f6"])
    for verdict in result.verdicts:
        if not verdict.blocked:
            ...  # dial verdict.normalized

One Redis round trip answers the whole list of numbers, against the org-wide list, the named
lists asked about, the prefix rules and the shared lists the organization subscribes to, with
its exemptions (``infra/redis/lua/check.lua``, asked through ``infra/redis/checking.py``: on a
Redis Cluster, one call per slot, in parallel). When the mirror is
not ready ("unknown"), or Redis cannot be reached, the same numbers go to
``POST /api/dnc/check``, which answers from Postgres. If that fails too, :meth:`check`
raises :class:`DncUnavailable`: the caller must not dial.
"""

from collections.abc import Sequence
from typing import Any, Self
from uuid import UUID

import httpx
from redis.asyncio import Redis, RedisCluster

from domain.model import DEFAULT_LIST, CheckResult, Verdict
from domain.usecases.checks import normalize_all, verdicts_for
from infra.redis import REDIS_FAILURES, layout
from infra.redis.checking import ScriptCheck


class DncUnavailable(Exception):
    """Neither Redis nor the API could answer: do not dial."""


class DncClient:
    def __init__(
        self,
        *,
        redis: Redis | RedisCluster,
        organization_id: UUID | str,
        http: httpx.AsyncClient,
        prefix: str = layout.DEFAULT_PREFIX,
    ) -> None:
        """``redis`` is the mirror's Redis: a single server, or a ``RedisCluster`` (all keys
        of the organization share the hash tag ``{orgId}``, so the script runs on one node)."""
        self.redis = redis
        self.http = http
        self.prefix = prefix
        self.organization_id = organization_id
        self._checking = ScriptCheck(redis, prefix)

    @classmethod
    def connect(
        cls,
        *,
        redis_url: str,
        organization_id: UUID | str,
        api_url: str,
        token: str,
        prefix: str = layout.DEFAULT_PREFIX,
        timeout_seconds: float = 2.0,
    ) -> Self:
        redis = Redis.from_url(
            redis_url,
            socket_timeout=timeout_seconds,
            socket_connect_timeout=timeout_seconds,
            client_name="dnc-client",
        )
        http = httpx.AsyncClient(
            base_url=api_url,
            headers={"Authorization": f"Bearer {token}"},
            timeout=timeout_seconds * 5,
        )
        return cls(redis=redis, organization_id=organization_id, http=http, prefix=prefix)

    async def aclose(self) -> None:
        await self.redis.aclose()
        await self.http.aclose()

    async def check(self, phone_numbers: Sequence[str], lists: Sequence[str] = ()) -> CheckResult:
        """Verdicts in the order given, against the org-wide list, the named ``lists`` and
        the prefix rules. Raises :class:`DncUnavailable` rather than guess."""
        named = tuple(dict.fromkeys(list_id for list_id in lists if list_id != DEFAULT_LIST))
        normalized, unique = normalize_all(phone_numbers)
        try:
            ready, enabled, answers = await self._checking.ask(self.organization_id, named, unique)
        except (*REDIS_FAILURES, layout.UnexpectedReply):
            ready = False  # unreachable, or not an answer for these numbers: ask the API
        if ready:
            blocking = {}
            if enabled:
                pairs = zip(unique, answers, strict=True)
                blocking = {number: found for number, found in pairs if found is not None}
            verdicts = verdicts_for(phone_numbers, normalized, enabled, blocking)
            return CheckResult.of(enabled, verdicts, "redis")
        return await self._ask_api(phone_numbers, named)

    async def _ask_api(self, phone_numbers: Sequence[str], named: Sequence[str]) -> CheckResult:
        body: dict[str, object] = {"phoneNumbers": list(phone_numbers)}
        if named:
            body["lists"] = list(named)
        try:
            response = await self.http.post("/api/dnc/check", json=body)
            payload: dict[str, Any] = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise DncUnavailable(f"the DNC API could not answer: {exc}") from exc
        if response.status_code != httpx.codes.OK:
            raise DncUnavailable(
                f"the DNC API answered {response.status_code}: {payload.get('errorMessage')}"
            )
        data = payload["data"]
        verdicts = [
            Verdict(r["phoneNumber"], r["normalized"], r["blocked"], r["reason"], tuple(r["lists"]))
            for r in data["results"]
        ]
        return CheckResult.of(data["dncEnabled"], verdicts, "api")
