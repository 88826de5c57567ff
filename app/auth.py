"""Bearer tokens: the middleware finds the principal, one guard checks scope and role.

Principals are cached in-process for ``DNC_TOKEN_CACHE_SECONDS`` (by token hash), so the hot
check path does not ask Postgres on every request. A revoked token is refused on every
process within a second (API.md, "Who am I"): ``dnc token revoke`` announces the revocation
on a Redis channel, and each process's listener (:mod:`infra.token_revocations`) drops the
entry at once. The listener also tells the cache up to when it has heard everything
published (its pings come back); past that moment, as while Redis is away, a cached
principal is trusted for at most :data:`UNCONFIRMED_SECONDS` after it was loaded, on every
request, checks included: a check reveals the list, and one lookup per token per second is
cheap. When the listener (re)subscribes it empties the cache, since it may have missed an
announcement while it was away.
"""

import asyncio
import time
from collections.abc import Awaitable, Callable

from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler
from litestar.middleware import AbstractAuthenticationMiddleware, AuthenticationResult

from app.deps import resources_of
from app.ratelimit import RateLimited, RateLimiter
from domain.errors import Forbidden, Unauthenticated
from domain.model import Principal
from domain.usecases.identity import authenticate, hash_token
from infra.db.uow import SqlUnitOfWork

PUBLIC_PATHS = ["^/health$", "^/ready$", "^/metrics$", "^/schema"]
# Route options: ``opt={ALLOW_CHECK_SCOPE: True}`` opens a route to ``check`` tokens,
# ``opt={ADMIN_ONLY: True}`` closes it to users whose role is not ``admin``.
ALLOW_CHECK_SCOPE = "allow_check_scope"
ADMIN_ONLY = "admin_only"
UNCONFIRMED_SECONDS = 1.0  # API.md: a revoked token is refused within one second
_MAX_CACHED = 10_000


class TokenCache:
    """Principals by token hash for ``seconds``. Concurrent misses of one token share one
    lookup, so an expiry under load costs one query, not one per waiting request.

    Every revocation heard bumps a generation; a lookup that started before the bump is
    not stored (it may have read the token just before its revocation)."""

    def __init__(self, seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.seconds = seconds
        self.clock = clock
        self._entries: dict[str, tuple[float, Principal]] = {}  # hash: (loaded at, principal)
        self._loading: dict[str, asyncio.Future[Principal]] = {}
        self._generation = 0
        self._confirmed_until = 0.0  # monotonic; see trust_until

    async def get_or_load(
        self, token_hash: str, load: Callable[[], Awaitable[Principal]]
    ) -> Principal:
        principal = self.get(token_hash)
        if principal is not None:
            return principal
        loading = self._loading.get(token_hash)
        if loading is None:
            started, generation = self.clock(), self._generation
            loading = asyncio.ensure_future(load())
            self._loading[token_hash] = loading
            loading.add_done_callback(
                lambda done: self._loaded(token_hash, done, started, generation)
            )
        return await asyncio.shield(loading)  # one waiter leaving does not cancel the rest

    def _loaded(
        self,
        token_hash: str,
        done: "asyncio.Future[Principal]",
        started: float,
        generation: int,
    ) -> None:
        if self._loading.get(token_hash) is done:
            del self._loading[token_hash]
        if generation != self._generation:  # a revocation arrived while this one was loading
            return
        if not done.cancelled() and done.exception() is None:
            self._put(token_hash, done.result(), started)

    def get(self, token_hash: str) -> Principal | None:
        hit = self._entries.get(token_hash)
        if hit is None:
            return None
        loaded_at, principal = hit
        now = self.clock()
        age = now - loaded_at
        if age >= self.seconds:
            return None
        if age >= UNCONFIRMED_SECONDS and now >= self._confirmed_until:
            return None  # a revocation may have been missed: ask Postgres again
        return principal

    def put(self, token_hash: str, principal: Principal) -> None:
        self._put(token_hash, principal, self.clock())

    def _put(self, token_hash: str, principal: Principal, loaded_at: float) -> None:
        if self.seconds <= 0:
            return
        if len(self._entries) >= _MAX_CACHED:
            self._entries.clear()
        self._entries[token_hash] = (loaded_at, principal)

    # What the revocation listener calls (infra.token_revocations.RevocationSink) ----------

    def forget(self, token_hash: str) -> None:
        """This token was revoked: drop it, and any lookup of it (or any other) under way."""
        self._generation += 1
        self._entries.pop(token_hash, None)
        self._loading.pop(token_hash, None)  # later requests look it up afresh

    def forget_all(self) -> None:
        """Revocations may have been missed: drop everything."""
        self._generation += 1
        self._entries.clear()
        self._loading.clear()

    def trust_until(self, deadline: float) -> None:
        """Every revocation announced up to ``deadline - UNCONFIRMED_SECONDS`` (monotonic)
        has been heard, so entries may be trusted past their first second until then.
        ``deadline`` is on :func:`time.monotonic`'s clock, as ``clock`` is."""
        self._confirmed_until = max(self._confirmed_until, deadline)


class BearerTokenMiddleware(AbstractAuthenticationMiddleware):
    async def authenticate_request(self, connection: ASGIConnection) -> AuthenticationResult:  # type: ignore[type-arg]
        header = connection.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if not header:
            raise Unauthenticated(
                "Missing Authorization header; send 'Authorization: Bearer <token>'"
            )
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthenticated("The Authorization header must be 'Bearer <token>'")
        cache: TokenCache = connection.app.state.tokens
        uow = SqlUnitOfWork(resources_of(connection.app.state).sessions)
        principal = await cache.get_or_load(
            hash_token(token.strip()), lambda: authenticate(uow, token.strip())
        )
        limiter: RateLimiter = connection.app.state.limiter
        wait = limiter.wait_for(principal.token_id)
        if wait:
            raise RateLimited(wait)
        return AuthenticationResult(user=principal, auth=principal.token_id)


async def authorize(connection: ASGIConnection, handler: BaseRouteHandler) -> None:  # type: ignore[type-arg]
    principal = connection.scope.get("user")
    if not isinstance(principal, Principal):  # methods the middleware skips (OPTIONS, HEAD)
        raise Unauthenticated("Missing Authorization header; send 'Authorization: Bearer <token>'")
    if principal.scope != "full" and not handler.opt.get(ALLOW_CHECK_SCOPE):
        raise Forbidden(
            f"This token's scope is '{principal.scope}'; it may only call the check endpoints"
        )
    if handler.opt.get(ADMIN_ONLY) and principal.role != "admin":
        raise Forbidden("Only an admin of the organization may do this")
