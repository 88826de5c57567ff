"""Web console sessions, read through the token they were opened with."""

from datetime import datetime
from typing import cast

from sqlalchemy import delete, func, or_, select, update

from domain.model import ConsoleSession, Principal, Role, Scope
from infra.db.models import ApiTokenRow, ConsoleSessionRow, UserRow
from infra.db.repositories.base import Repository

# Sessions a token may hold at once: one per browser a person signs in from, and then some
LIVE_PER_TOKEN = 50


class SqlConsoleSessionRepository(Repository):
    async def open(self, session: ConsoleSession) -> None:
        """Opens the session, and forgets the token's sessions that have ended or expired and
        its oldest live ones past ``LIVE_PER_TOKEN``: each sign-in added a row for good."""
        now = session.created_at
        newest = (
            select(ConsoleSessionRow.session_hash)
            .where(
                ConsoleSessionRow.token_id == session.token_id,
                ConsoleSessionRow.ended_at.is_(None),
                ConsoleSessionRow.expires_at > now,
            )
            .order_by(ConsoleSessionRow.created_at.desc())
            .limit(LIVE_PER_TOKEN - 1)
        )
        await self.session.execute(
            delete(ConsoleSessionRow).where(
                ConsoleSessionRow.token_id == session.token_id,
                or_(
                    ConsoleSessionRow.ended_at.is_not(None),
                    ConsoleSessionRow.expires_at <= now,
                    ConsoleSessionRow.session_hash.not_in(newest.scalar_subquery()),
                ),
            )
        )
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
