"""Organizations, users and tokens (provisioned by the CLI), and authenticating a token."""

import hashlib
import re
import secrets
from typing import NamedTuple
from uuid import UUID, uuid4

from domain.errors import InvalidInput, NotFound, Unauthenticated
from domain.model import (
    ApiToken,
    Organization,
    OrganizationRecord,
    Principal,
    Role,
    Scope,
    TokenRecord,
    User,
    UserRecord,
)
from domain.ports import TokenRevocations, UnitOfWork
from domain.text import one_line
from domain.usecases.lists import org_wide_list

TOKEN_PREFIX = "dnc_"  # noqa: S105 - a prefix, not a secret
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


def hash_token(raw: str) -> str:
    """Tokens are random and long, so a plain SHA-256 is enough; only the hash is stored."""
    return hashlib.sha256(raw.encode()).hexdigest()


async def create_organization(
    uow: UnitOfWork, name: str, admin_email: str
) -> tuple[Organization, User]:
    if not name.strip():
        raise InvalidInput("the organization name must not be empty")
    one_line("the organization name", name)
    org = Organization(id=uuid4(), name=name.strip(), dnc_enabled=True)
    admin = User(id=uuid4(), organization_id=org.id, email=_email(admin_email), role="admin")
    async with uow:
        await uow.organizations.add(org)
        await uow.lists.add(org_wide_list(org.id), None)
        await uow.users.add(admin)
        await uow.commit()
    return org, admin


async def create_user(uow: UnitOfWork, organization_id: UUID, email: str, role: Role) -> User:
    user = User(id=uuid4(), organization_id=organization_id, email=_email(email), role=role)
    async with uow:
        if await uow.organizations.get(organization_id) is None:
            raise NotFound(f"Organization {organization_id} not found")
        await uow.users.add(user)
        await uow.commit()
    return user


async def create_token(uow: UnitOfWork, email: str, scope: Scope) -> str:
    async with uow:
        raw, _ = await _issue(uow, await _user_by_email(uow, email), scope)
        await uow.commit()
    return raw


async def _user_by_email(uow: UnitOfWork, email: str) -> User:
    user = await uow.users.get_by_email(_email(email))
    if user is None:
        raise NotFound(f"No user with email {email!r}")
    return user


async def _issue(uow: UnitOfWork, user: User, scope: Scope) -> tuple[str, ApiToken]:
    """A new token for the user, inside the caller's transaction: the secret (shown once)
    and what is stored of it."""
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(id=uuid4(), user_id=user.id, token_hash=hash_token(raw), scope=scope)
    await uow.tokens.add(token)
    return raw, token


async def revoke_token(uow: UnitOfWork, revocations: TokenRevocations, raw_token: str) -> bool:
    """Revoke the token, then announce it to the API processes (after the commit, so none
    reloads it as live). True if the announcement went out; if not, the processes' caches
    still stop trusting it within a second."""
    token_hash = hash_token(raw_token.strip())
    async with uow:
        if not await uow.tokens.revoke(token_hash):
            raise NotFound("No live token matches; it may be revoked already")
        await uow.commit()
    return await revocations.announce(token_hash)


class Rotated(NamedTuple):
    token: str  # the new token's secret, shown once
    token_id: UUID
    user: User
    scope: Scope
    revoked_token_id: UUID
    announced: bool  # as :func:`revoke_token`'s result


async def rotate_token(uow: UnitOfWork, revocations: TokenRevocations, raw_token: str) -> Rotated:
    """A new token for the live token's user, with its scope, and the old one revoked in the
    same transaction (a failure leaves the old one live and no new one), then announced as
    :func:`revoke_token` does."""
    token_hash = hash_token(raw_token.strip())
    async with uow:
        principal = await uow.tokens.principal_for(token_hash)
        user = (
            None
            if principal is None
            else await uow.users.get(principal.organization_id, principal.user_id)
        )
        # revoke() is the one that counts: of two rotations at once, one finds it live
        if principal is None or user is None or not await uow.tokens.revoke(token_hash):
            raise NotFound("No live token matches; it may be revoked already")
        raw, token = await _issue(uow, user, principal.scope)
        await uow.commit()
    announced = await revocations.announce(token_hash)
    return Rotated(raw, token.id, user, token.scope, principal.token_id, announced)


async def all_organizations(uow: UnitOfWork) -> list[OrganizationRecord]:
    async with uow:
        return await uow.organizations.all()


async def users_of(uow: UnitOfWork, organization_id: UUID) -> list[UserRecord]:
    """The organization's users, or :class:`NotFound` naming the id."""
    async with uow:
        if await uow.organizations.get(organization_id) is None:
            raise NotFound(f"No organization {organization_id}")
        return await uow.users.all(organization_id)


async def tokens_of(uow: UnitOfWork, email: str) -> tuple[User, list[TokenRecord]]:
    """The user with this email and their tokens, live and revoked (never a secret or a
    hash), or :class:`NotFound` naming the email."""
    async with uow:
        user = await _user_by_email(uow, email)
        return user, await uow.tokens.of_user(user.organization_id, user.id)


async def authenticate(uow: UnitOfWork, raw_token: str) -> Principal:
    async with uow:
        principal = await uow.tokens.principal_for(hash_token(raw_token))
    if principal is None:
        raise Unauthenticated("The bearer token is not valid or has been revoked")
    return principal


def _email(value: str) -> str:
    one_line("the email address", value)
    email = value.strip().lower()
    if not _EMAIL.fullmatch(email):
        raise InvalidInput(f"{value!r} is not an email address")
    return email


async def who_am_i(uow: UnitOfWork, principal: Principal) -> tuple[Organization, User]:
    """The token's organization and user (``GET /api/me``)."""
    async with uow:
        organization = await uow.organizations.get(principal.organization_id)
        user = await uow.users.get(principal.organization_id, principal.user_id)
    if organization is None or user is None:  # deleted since the token was cached
        raise Unauthenticated("The bearer token is not valid or has been revoked")
    return organization, user


async def require_organization(uow: UnitOfWork, organization_id: UUID) -> Organization:
    """The organization, or :class:`NotFound` naming the id."""
    async with uow:
        organization = await uow.organizations.get(organization_id)
    if organization is None:
        raise NotFound(f"No organization {organization_id}")
    return organization
