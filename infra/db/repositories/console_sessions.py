"""Web console sessions, read through the token they were opened with."""

from datetime import datetime
from typing import cast

from sqlalchemy import func, select, update

from domain.model import ConsoleSession, Principal, Role, Scope
from infra.db.models import ApiTokenRow, ConsoleSessionRow, UserRow
from infra.db.repositories.base import Repository


class SqlConsoleSessionRepository(Repository):
    async def open(self, session: ConsoleSession) -> None:
        self.session.add(
            ConsoleSessionRow(
                session_hash=session.session_hash,
                token_id=session.token_id,
                csrf_token=session.csrf_token,
                created_at=session.created_at,
                expires_at=session.expires_at,
            )
        )
        await self.session.flush()

    async def principal_for(
        self, session_hash: str, now: datetime
    ) -> tuple[Principal, ConsoleSession] | None:
        row = (
            await self.session.execute(
                select(
                    ConsoleSessionRow.csrf_token,
                    ConsoleSessionRow.created_at,
                    ConsoleSessionRow.expires_at,
                    ApiTokenRow.id,
                    ApiTokenRow.scope,
                    UserRow.id,
                    UserRow.organization_id,
                    UserRow.role,
                )
                .join(ApiTokenRow, ApiTokenRow.id == ConsoleSessionRow.token_id)
                .join(UserRow, UserRow.id == ApiTokenRow.user_id)
                .where(
                    ConsoleSessionRow.session_hash == session_hash,
                    ConsoleSessionRow.ended_at.is_(None),
                    ConsoleSessionRow.expires_at > now,
                    ApiTokenRow.revoked_at.is_(None),
                )
            )
        ).one_or_none()
        if row is None:
            return None
        csrf, created_at, expires_at, token_id, scope, user_id, organization_id, role = row
        principal = Principal(
            user_id, organization_id, cast(Role, role), cast(Scope, scope), token_id
        )
        return principal, ConsoleSession(session_hash, token_id, csrf, created_at, expires_at)

    async def end(self, session_hash: str) -> bool:
        ended = await self.session.scalar(
            update(ConsoleSessionRow)
            .where(
                ConsoleSessionRow.session_hash == session_hash, ConsoleSessionRow.ended_at.is_(None)
            )
            .values(ended_at=func.now())
            .returning(ConsoleSessionRow.session_hash)
        )
        return ended is not None
