"""Signing in to the web console and out again.

A session is opened with a full-scope API token (a ``check`` token is what a dialer gets: it
may not sign in) and lives for ``lifetime`` or until signed out. The cookie carries a random
secret; only its hash is stored. Every request reads the session together with its token and
user, so revoking the token, or changing the user's role, takes effect on the next page.
"""

import secrets
from datetime import datetime, timedelta

from domain.errors import Forbidden, Unauthenticated
from domain.model import ConsoleSession, Principal
from domain.ports import UnitOfWork
from domain.usecases.identity import authenticate, hash_token

SIGNED_OUT = "Your console session has ended; sign in again with your API token"


async def sign_in(
    uow: UnitOfWork, raw_token: str, now: datetime, lifetime: timedelta
) -> tuple[str, ConsoleSession]:
    """A new session for a full-scope token: the cookie's secret and the session."""
    token = raw_token.strip()
    scheme, _, rest = token.partition(" ")
    if scheme.lower() == "bearer":  # pasted from a curl command's Authorization header
        token = rest.strip()
    if not token:
        raise Unauthenticated("Enter your API token to sign in")
    principal = await authenticate(uow, token)
    if principal.scope != "full":
        raise Forbidden(
            "This token's scope is 'check' (for dialers); sign in with a full-scope token"
        )
    secret = secrets.token_urlsafe(32)
    session = ConsoleSession(
        session_hash=hash_token(secret),
        token_id=principal.token_id,
        csrf_token=secrets.token_urlsafe(32),
        created_at=now,
        expires_at=now + lifetime,
    )
    async with uow:
        await uow.console_sessions.open(session)
        await uow.commit()
    return secret, session


async def session_of(
    uow: UnitOfWork, secret: str, now: datetime
) -> tuple[Principal, ConsoleSession]:
    """Who the session with this cookie acts as, or :class:`Unauthenticated` when it has
    expired, was ended, or its token was revoked."""
    if not secret:
        raise Unauthenticated(SIGNED_OUT)
    async with uow:
        found = await uow.console_sessions.principal_for(hash_token(secret), now)
    if found is None:
        raise Unauthenticated(SIGNED_OUT)
    return found


async def sign_out(uow: UnitOfWork, secret: str) -> None:
    async with uow:
        await uow.console_sessions.end(hash_token(secret))
        await uow.commit()
