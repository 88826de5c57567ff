"""Bearer tokens: the middleware finds the principal, one guard checks scope and role."""

from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler
from litestar.middleware import AbstractAuthenticationMiddleware, AuthenticationResult

from app.deps import resources_of
from domain.errors import Forbidden, Unauthenticated
from domain.model import Principal
from domain.services import authenticate
from infra.db.uow import SqlUnitOfWork

PUBLIC_PATHS = ["^/health$", "^/ready$", "^/schema"]
# Route options: ``opt={ALLOW_CHECK_SCOPE: True}`` opens a route to ``check`` tokens,
# ``opt={ADMIN_ONLY: True}`` closes it to users whose role is not ``admin``.
ALLOW_CHECK_SCOPE = "allow_check_scope"
ADMIN_ONLY = "admin_only"


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
        uow = SqlUnitOfWork(resources_of(connection.app.state).sessions)
        principal = await authenticate(uow, token.strip())
        return AuthenticationResult(user=principal, auth=principal.token_id)


def authorize(connection: ASGIConnection, handler: BaseRouteHandler) -> None:  # type: ignore[type-arg]
    principal: Principal = connection.user
    if principal.scope != "full" and not handler.opt.get(ALLOW_CHECK_SCOPE):
        raise Forbidden(
            f"This token's scope is '{principal.scope}'; it may only call the check endpoints"
        )
    if handler.opt.get(ADMIN_ONLY) and principal.role != "admin":
        raise Forbidden("Only an admin of the organization may do this")
