"""Delivering the outbox's messages (the emails a listing sends)."""

import logging
from datetime import datetime
from uuid import UUID

from domain.notifications import dnc_added_email
from domain.ports import Mailer, MailerUnavailable, MailRejected, UnitOfWork

log = logging.getLogger(__name__)

EMAIL_DNC_ADDED = "email.dnc_added"


async def deliver_outbox_message(uow: UnitOfWork, mailer: Mailer, message_id: int) -> bool:
    """Send one outbox message; True if it was sent now, False if there was nothing to do.

    Raises :class:`MailerUnavailable` (after recording the attempt) so the job is retried.
    """
    async with uow:
        message = await uow.outbox.claim(message_id)
        if message is None:
            return False
        email = None
        if message.kind == EMAIL_DNC_ADDED:
            entry_id: UUID | None = None
            user_id: UUID | None = None
            try:
                entry_id = UUID(str(message.payload["entryId"]))
                user_id = UUID(str(message.payload["userId"]))
            except (KeyError, ValueError):
                log.error("outbox message %s has an unusable payload", message.id)
            org_id = message.organization_id
            entry = await uow.entries.get(org_id, entry_id) if entry_id else None
            user = await uow.users.get(org_id, user_id) if user_id else None
            org = await uow.organizations.get(org_id)
            if entry and user and org:
                key = f"<dnc-outbox-{message.id}@{org.id}.dnc>"
                email = dnc_added_email(entry, org.name, user.email, key)
        if email is None:
            log.warning("outbox message %s (%s) has nothing to send", message.id, message.kind)
        else:
            try:
                await mailer.send(email)
            except MailerUnavailable as exc:
                await uow.outbox.record_failure(message.id, str(exc))
                await uow.commit()
                raise
            except MailRejected as exc:
                log.error("outbox message %s was refused for good: %s", message.id, exc)
                await uow.outbox.record_failure(message.id, str(exc))
        await uow.outbox.mark_processed(message.id)
        await uow.commit()
    return email is not None


async def pending_outbox(uow: UnitOfWork, older_than: datetime, limit: int = 1000) -> list[int]:
    async with uow:
        return await uow.outbox.pending_ids(EMAIL_DNC_ADDED, older_than, limit)
