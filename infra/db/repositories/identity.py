"""Users and their API tokens."""

from typing import cast
from uuid import UUID

from sqlalchemy import (
    func,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import insert

from domain.errors import Conflict
from domain.model import (
    ApiToken,
    Principal,
    Role,
    Scope,
    TokenRecord,
    User,
    UserRecord,
)
from infra.db.mappers import (
    user_from_row,
)
from infra.db.models import (
    ApiTokenRow,
    UserRow,
)
from infra.db.repositories.base import Repository


class SqlUserRepository(Repository):
    async def get(self, organization_id: UUID, user_id: UUID) -> User | None:
        row = await self.session.scalar(
            select(UserRow).where(UserRow.id == user_id, UserRow.organization_id == organization_id)
        )
        return user_from_row(row) if row else None

    async def get_by_email(self, email: str) -> User | None:
        row = await self.session.scalar(select(UserRow).where(UserRow.email == email))
        return user_from_row(row) if row else None

    async def admins(self, organization_id: UUID) -> list[User]:
        rows = await self.session.scalars(
            select(UserRow)
            .where(UserRow.organization_id == organization_id, UserRow.role == "admin")
            .order_by(UserRow.created_at, UserRow.email)
        )
        return [user_from_row(row) for row in rows]

    async def count(self, organization_id: UUID) -> int:
        return (
            await self.session.scalar(
                select(func.count()).where(UserRow.organization_id == organization_id)
            )
            or 0
        )

    async def all(self, organization_id: UUID) -> list[UserRecord]:
        rows = await self.session.scalars(
            select(UserRow)
            .where(UserRow.organization_id == organization_id)
            .order_by(UserRow.created_at, UserRow.email)
        )
        return [
            UserRecord(row.id, row.organization_id, row.email, cast(Role, row.role), row.created_at)
            for row in rows
        ]

    async def add(self, user: User) -> None:
        inserted = await self.session.scalar(
            insert(UserRow)
            .values(
                id=user.id, organization_id=user.organization_id, email=user.email, role=user.role
            )
            .on_conflict_do_nothing(index_elements=[UserRow.email])
            .returning(UserRow.id)
        )
        if inserted is None:
            raise Conflict(f"A user with email {user.email!r} already exists")


class SqlTokenRepository(Repository):
    async def add(self, token: ApiToken) -> None:
        self.session.add(
            ApiTokenRow(
                id=token.id, user_id=token.user_id, token_hash=token.token_hash, scope=token.scope
            )
        )
        await self.session.flush()

    async def revoke(self, token_hash: str) -> bool:
        revoked = await self.session.scalar(
            update(ApiTokenRow)
            .where(ApiTokenRow.token_hash == token_hash, ApiTokenRow.revoked_at.is_(None))
            .values(revoked_at=func.now())
            .returning(ApiTokenRow.id)
        )
        return revoked is not None

    async def principal_for(self, token_hash: str) -> Principal | None:
        row = (
            await self.session.execute(
                select(
                    ApiTokenRow.id,
                    ApiTokenRow.scope,
                    UserRow.id,
                    UserRow.organization_id,
                    UserRow.role,
                )
                .join(UserRow, UserRow.id == ApiTokenRow.user_id)
                .where(ApiTokenRow.token_hash == token_hash, ApiTokenRow.revoked_at.is_(None))
            )
        ).one_or_none()
        if row is None:
            return None
        token_id, scope, user_id, organization_id, role = row
        return Principal(user_id, organization_id, cast(Role, role), cast(Scope, scope), token_id)

    async def of_user(self, organization_id: UUID, user_id: UUID) -> list[TokenRecord]:
        rows = await self.session.execute(
            select(
                ApiTokenRow.id, ApiTokenRow.scope, ApiTokenRow.created_at, ApiTokenRow.revoked_at
            )
            .join(UserRow, UserRow.id == ApiTokenRow.user_id)
            .where(UserRow.id == user_id, UserRow.organization_id == organization_id)
            .order_by(ApiTokenRow.created_at, ApiTokenRow.id)
        )
        return [
            TokenRecord(token_id, user_id, cast(Scope, scope), created_at, revoked_at)
            for token_id, scope, created_at, revoked_at in rows
        ]
