"""Delivering the admins' emails from the outbox (domain/usecases/notify.py), against the
in-memory fakes. The same delivery runs through a real arq worker and SMTP server in
tests/integration/test_admin_email.py."""

from dataclasses import replace
from datetime import timedelta
from uuid import uuid4

import pytest

from domain.ports import MailerUnavailable, MailRejected
from domain.time import utcnow
from domain.usecases.notify import EMAIL_DNC_ADDED, deliver_outbox_message, pending_outbox
from tests.unit.fakes import FakeMailer
from tests.unit.world import LISTED, World


@pytest.fixture
def mailer() -> FakeMailer:
    return FakeMailer()


def emails(world: World) -> list[int]:
    """The ids of the outbox's email messages."""
    return [m.id for m in world.uow.committed.outbox if m.kind == EMAIL_DNC_ADDED]


async def listed_with_one_email(world: World) -> int:
    """The number listed; the id of the one email (to the one admin) it leaves in the outbox."""
    await world.add()
    [message_id] = emails(world)
    return message_id


async def test_every_admin_gets_one_email_naming_the_number_and_its_evidence(
    world: World, mailer: FakeMailer
) -> None:
    t = world.uow.committed
    second = uuid4()
    t.users[second] = replace(t.users[world.principal.user_id], id=second, email="boss@acme.test")
    entry = await world.add(type="customer_request")
    assert world.queue.dispatched == emails(world)  # handed to the workers after the commit
    for message_id in emails(world):
        assert await deliver_outbox_message(world.uow, mailer, message_id) is True
    assert sorted(e.to for e in mailer.sent) == ["admin@acme.test", "boss@acme.test"]
    email = mailer.sent[0]
    assert email.subject == f"DNC: +{LISTED} added (customer_request), batch {entry.batch_id}"
    assert f"Phone number:  +{LISTED}" in email.body
    assert f"Call:          {entry.request_uuid}" in email.body
    assert "of Acme." in email.body
    assert {e.message_id for e in mailer.sent} == {
        f"<dnc-outbox-{message_id}@{world.org}.dnc>" for message_id in emails(world)
    }
    assert set(emails(world)) <= world.uow.committed.processed


async def test_a_message_delivered_once_is_not_sent_again(world: World, mailer: FakeMailer) -> None:
    message_id = await listed_with_one_email(world)
    assert await deliver_outbox_message(world.uow, mailer, message_id) is True
    assert await deliver_outbox_message(world.uow, mailer, message_id) is False
    assert len(mailer.sent) == 1
    assert await pending_outbox(world.uow, utcnow() + timedelta(seconds=1)) == []


async def test_a_mail_server_away_is_retried_until_it_takes_the_message(
    world: World, mailer: FakeMailer
) -> None:
    message_id = await listed_with_one_email(world)
    mailer.refusals = [MailerUnavailable("451 try again later")]
    with pytest.raises(MailerUnavailable):
        await deliver_outbox_message(world.uow, mailer, message_id)
    t = world.uow.committed
    assert (t.outbox[message_id - 1].attempts, t.outbox_errors[message_id]) == (
        1,
        "451 try again later",
    )
    assert await pending_outbox(world.uow, utcnow() + timedelta(seconds=1)) == [message_id]
    assert await deliver_outbox_message(world.uow, mailer, message_id) is True
    assert [e.to for e in mailer.sent] == ["admin@acme.test"]
    assert message_id in world.uow.committed.processed


async def test_a_recipient_refused_for_good_is_not_retried(
    world: World, mailer: FakeMailer
) -> None:
    message_id = await listed_with_one_email(world)
    mailer.refusals = [MailRejected("550 no such user")]
    await deliver_outbox_message(world.uow, mailer, message_id)
    t = world.uow.committed
    assert (t.outbox_errors[message_id], message_id in t.processed) == ("550 no such user", True)
    assert await deliver_outbox_message(world.uow, mailer, message_id) is False
    assert mailer.sent == []


@pytest.mark.parametrize(
    "payload",
    [{}, {"entryId": "not-a-uuid", "userId": "x"}, {"entryId": str(uuid4()), "userId": None}],
)
async def test_a_message_with_nothing_to_send_is_put_aside(
    world: World, mailer: FakeMailer, payload: dict[str, object]
) -> None:
    async with world.uow:
        message_id = await world.uow.outbox.add(world.org, EMAIL_DNC_ADDED, payload)
        await world.uow.commit()
    assert await deliver_outbox_message(world.uow, mailer, message_id) is False
    assert message_id in world.uow.committed.processed
    assert mailer.sent == []


async def test_an_admin_gone_since_the_listing_gets_nothing(
    world: World, mailer: FakeMailer
) -> None:
    message_id = await listed_with_one_email(world)
    del world.uow.committed.users[world.principal.user_id]
    assert await deliver_outbox_message(world.uow, mailer, message_id) is False
    assert mailer.sent == []


async def test_the_relay_finds_only_undelivered_emails_old_enough(world: World) -> None:
    await world.add()
    await world.add("2125550101")
    first, second = emails(world)
    t = world.uow.committed
    t.outbox_at[first - 1] -= timedelta(minutes=5)
    assert await pending_outbox(world.uow, utcnow() - timedelta(minutes=1)) == [first]
    assert await pending_outbox(world.uow, utcnow() + timedelta(seconds=1)) == [first, second]
    assert await pending_outbox(world.uow, utcnow() + timedelta(seconds=1), limit=1) == [first]
    t.processed.add(first)
    assert await pending_outbox(world.uow, utcnow() + timedelta(seconds=1)) == [second]
