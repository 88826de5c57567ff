"""Email delivery: SMTP through aiosmtplib, or the log when no SMTP host is configured."""

import logging
from email.message import EmailMessage
from email.utils import formatdate

import aiosmtplib

from domain.model import Email
from domain.ports import Mailer, MailerUnavailable, MailRejected
from infra.settings import Settings

log = logging.getLogger(__name__)
PERMANENT_FAILURE = 500


class SmtpMailer:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    async def send(self, email: Email) -> None:
        """Rejected: a message that cannot be written, or whose every recipient the server
        refuses for good (5xx); anything else that goes wrong is unavailable."""
        s = self.settings
        try:
            message = EmailMessage()
            message["From"] = s.mail_from
            message["To"] = email.to
            message["Subject"] = email.subject
            message["Message-ID"] = email.message_id
            message["Date"] = formatdate(usegmt=True)
            message.set_content(email.body)
        except (ValueError, TypeError) as exc:  # e.g. a line break in a header's value
            raise MailRejected(f"the message could not be written: {exc}") from exc
        try:
            await aiosmtplib.send(
                message,
                hostname=s.smtp_host,
                port=s.smtp_port,
                username=s.smtp_username or None,
                password=s.smtp_password or None,
                use_tls=s.smtp_tls == "tls",
                start_tls=s.smtp_tls == "starttls",
                timeout=s.smtp_timeout_seconds,
            )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            if all(r.code >= PERMANENT_FAILURE for r in exc.recipients):
                raise MailRejected(f"recipient refused: {exc}") from exc
            raise MailerUnavailable(f"recipient deferred: {exc}") from exc
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            # Everything else (4xx, auth failures, a refused sender, connection trouble) may
            # be fixed by the operator or by time: keep the message and retry.
            raise MailerUnavailable(f"{type(exc).__name__}: {exc}") from exc
        except UnicodeError as exc:  # an address the server cannot take (no SMTPUTF8)
            raise MailRejected(f"the message could not be sent as written: {exc}") from exc
        except Exception as exc:  # anything unforeseen: retried with backoff, and logged
            log.exception("unexpected failure sending %s", email.message_id)
            raise MailerUnavailable(f"{type(exc).__name__}: {exc}") from exc


class LogMailer:
    """Used when ``DNC_SMTP_HOST`` is empty: the email goes to the worker's log."""

    async def send(self, email: Email) -> None:
        log.info(
            "email (no DNC_SMTP_HOST set, not sent) to=%s subject=%r\n%s",
            email.to,
            email.subject,
            email.body,
        )


def create_mailer(settings: Settings) -> Mailer:
    return SmtpMailer(settings) if settings.smtp_host else LogMailer()
