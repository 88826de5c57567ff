"""Bearer tokens: the middleware finds the principal, one guard checks scope and role.

Principals are cached in-process for ``DNC_TOKEN_CACHE_SECONDS`` (by token hash), so the hot
check path does not ask Postgres on every request. A revoked token is refused on every
process within a second (API.md, "Who am I"): ``dnc token revoke`` announces the revocation
on a Redis channel, and each process's listener (:mod:`infra.token_revocations`) drops the
entry from the cache (:class:`infra.token_cache.TokenCache`) at once. The listener also
tells the cache up to when it has heard everything published (its pings come back); past
that moment, as while Redis is away, a cached principal is trusted for at most
:data:`infra.token_cache.UNCONFIRMED_SECONDS` after it was loaded, on every
request, checks included: a check reveals the list, and one lookup per token per second is
cheap. When the listener (re)subscribes it empties the cache, since it may have missed an
announcement while it was away.
"""

from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler
from litestar.middleware import AbstractAuthenticationMiddleware, AuthenticationResult

from app.deps import resources_of
from app.layers.ratelimit import RateLimited
from domain.errors import Forbidden, Unauthenticated
from domain.model import Principal
from domain.usecases.identity import authenticate, hash_token

# The console (``/console``) signs its people in with a session cookie of its own
# (``app/console/session.py``), not a bearer header.
PUBLIC_PATHS = [
    "^/$",
    "^/health$",
    "^/ready$",
    "^/metrics$",
    "^/schema",
    "^/static/openapi/",
    "^/console(/|$)",
]
# Route options: ``opt={ALLOW_CHECK_SCOPE: True}`` opens a route to ``check`` tokens,
# ``opt={ADMIN_ONLY: True}`` closes it to users whose role is not ``admin``.
ALLOW_CHECK_SCOPE = "allow_check_scope"
ADMIN_ONLY = "admin_only"


def bearer_token(header: str) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header (the scheme in any case, as
    RFC 9110 has it), or None when the header is not one."""
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        return None
    return token


class BearerTokenMiddleware(AbstractAuthenticationMiddleware):
    async def authenticate_request(self, connection: ASGIConnection) -> AuthenticationResult:  # type: ignore[type-arg]
        header = connection.headers.get("authorization", "")
        if not header:
            raise Unauthenticated(
                "Missing Authorization header; send 'Authorization: Bearer <token>'"
            )
        token = bearer_token(header)
        if token is None:
            raise Unauthenticated("The Authorization header must be 'Bearer <token>'")
        resources = resources_of(connection.app.state)
        uow = resources.uow()
        principal = await resources.tokens.get_or_load(
            hash_token(token), lambda: authenticate(uow, token)
        )
        wait = resources.limiter.wait_for(principal.token_id)
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
