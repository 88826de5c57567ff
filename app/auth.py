"""Bearer tokens: the middleware finds the principal, one guard checks scope and role.

Principals are cached in-process for ``DNC_TOKEN_CACHE_SECONDS`` (by token hash), so the hot
check path does not ask Postgres on every request; a revoked token stops working within that
time.
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
from domain.services import authenticate, hash_token
from infra.db.uow import SqlUnitOfWork

PUBLIC_PATHS = ["^/health$", "^/ready$", "^/metrics$", "^/schema"]
# Route options: ``opt={ALLOW_CHECK_SCOPE: True}`` opens a route to ``check`` tokens,
# ``opt={ADMIN_ONLY: True}`` closes it to users whose role is not ``admin``.
ALLOW_CHECK_SCOPE = "allow_check_scope"
ADMIN_ONLY = "admin_only"
_MAX_CACHED = 10_000


class TokenCache:
    """Principals by token hash for ``seconds``. Concurrent misses of one token share one
    lookup, so an expiry under load costs one query, not one per waiting request."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._entries: dict[str, tuple[float, Principal]] = {}
        self._loading: dict[str, asyncio.Future[Principal]] = {}

    async def get_or_load(
        self, token_hash: str, load: Callable[[], Awaitable[Principal]]
    ) -> Principal:
        principal = self.get(token_hash)
        if principal is not None:
            return principal
        loading = self._loading.get(token_hash)
        if loading is None:
            loading = asyncio.ensure_future(load())
            self._loading[token_hash] = loading
            loading.add_done_callback(lambda done: self._loaded(token_hash, done))
        return await asyncio.shield(loading)  # one waiter leaving does not cancel the rest

    def _loaded(self, token_hash: str, done: "asyncio.Future[Principal]") -> None:
        self._loading.pop(token_hash, None)
        if not done.cancelled() and done.exception() is None:
            self.put(token_hash, done.result())

    def get(self, token_hash: str) -> Principal | None:
        hit = self._entries.get(token_hash)
        if hit is None or hit[0] < time.monotonic():
            return None
        return hit[1]

    def put(self, token_hash: str, principal: Principal) -> None:
        if self.seconds <= 0:
            return
        if len(self._entries) >= _MAX_CACHED:
            self._entries.clear()
        self._entries[token_hash] = (time.monotonic() + self.seconds, principal)


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
