"""The SMTP mailer lets only its two failures out: retry (MailerUnavailable) or refused for good
(MailRejected). Anything else raised past the job would leave the email neither sent nor
marked."""

import aiosmtplib
import pytest

from domain.model import Email
from domain.ports import MailerUnavailable, MailRejected
from infra.mailer import SmtpMailer
from infra.settings import Settings

EMAIL = Email(to="ops@example.test", subject="DNC", body="text\n", message_id="<1@test>")


@pytest.mark.parametrize(
    "email",
    [
        Email(
            to="ops@example.test\r\nBcc: victim@example.test",
            subject="s",
            body="b",
            message_id="<1@t>",
        ),
        Email(
            to="ops@example.test",
            subject="s\nBcc: victim@example.test",
            body="b",
            message_id="<1@t>",
        ),
    ],
)
async def test_a_message_with_a_line_break_in_a_header_is_refused_for_good(
    email: Email, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def never(*_: object, **__: object) -> None:
        raise AssertionError("nothing may be sent")

    monkeypatch.setattr(aiosmtplib, "send", never)
    with pytest.raises(MailRejected):
        await SmtpMailer(Settings(smtp_host="127.0.0.1")).send(email)


async def test_an_unforeseen_failure_is_retried(monkeypatch: pytest.MonkeyPatch) -> None:
    async def broken(*_: object, **__: object) -> None:
        raise RuntimeError("something nobody planned for")

    monkeypatch.setattr(aiosmtplib, "send", broken)
    with pytest.raises(MailerUnavailable, match="RuntimeError"):
        await SmtpMailer(Settings(smtp_host="127.0.0.1")).send(EMAIL)


async def test_an_address_the_server_cannot_take_is_refused_for_good(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def ascii_only(*_: object, **__: object) -> None:
        "ops@exämple.test".encode("ascii")

    monkeypatch.setattr(aiosmtplib, "send", ascii_only)
    with pytest.raises(MailRejected):
        await SmtpMailer(Settings(smtp_host="127.0.0.1")).send(EMAIL)
