"""Organizations, users and tokens (domain/usecases/identity.py), against the in-memory fakes.
The same commands run as the real ``dnc`` command in tests/integration/test_cli_end_to_end.py."""

import re
from uuid import uuid4

import pytest

from domain.errors import Conflict, InvalidInput, NotFound, Unauthenticated
from domain.usecases.identity import (
    authenticate,
    create_organization,
    create_token,
    create_user,
    hash_token,
    revoke_token,
    rotate_token,
    tokens_of,
    users_of,
)
from tests.unit.fakes import FakeRevocations, FakeUnitOfWork


@pytest.fixture
def uow() -> FakeUnitOfWork:
    return FakeUnitOfWork()


async def test_an_organization_starts_with_dnc_on_and_its_admin(uow: FakeUnitOfWork) -> None:
    org, admin = await create_organization(uow, "  Acme Dialing ", " Ops@Acme.TEST ")
    assert (org.name, org.dnc_enabled) == ("Acme Dialing", True)
    assert (admin.email, admin.role, admin.organization_id) == ("ops@acme.test", "admin", org.id)
    assert uow.committed.organizations == {org.id: org}
    assert uow.committed.users == {admin.id: admin}


@pytest.mark.parametrize(
    ("name", "email", "message"),
    [
        ("  ", "ops@acme.test", "the organization name must not be empty"),
        ("Acme\nDialing", "ops@acme.test", "the organization name must be one line of text"),
        ("Acme", "ops@acme", "'ops@acme' is not an email address"),
        ("Acme", "ops@acme.test\r\nBcc: x@y.z", "the email address must be one line of text"),
    ],
)
async def test_an_organization_needs_a_name_and_an_email_address(
    uow: FakeUnitOfWork, name: str, email: str, message: str
) -> None:
    with pytest.raises(InvalidInput) as refused:
        await create_organization(uow, name, email)
    assert refused.value.message.startswith(message)
    assert uow.committed.organizations == {}


async def test_an_admin_email_in_use_creates_no_organization(uow: FakeUnitOfWork) -> None:
    await create_organization(uow, "Acme", "ops@acme.test")
    with pytest.raises(
        Conflict, match=re.escape("A user with email 'ops@acme.test' already exists")
    ):
        await create_organization(uow, "Other", "OPS@acme.test")
    assert [o.name for o in uow.committed.organizations.values()] == ["Acme"]


async def test_a_user_joins_an_existing_organization_only(uow: FakeUnitOfWork) -> None:
    org, _ = await create_organization(uow, "Acme", "ops@acme.test")
    member = await create_user(uow, org.id, "Agent@Acme.test", "member")
    assert (member.email, member.role, member.organization_id) == (
        "agent@acme.test",
        "member",
        org.id,
    )
    nowhere = uuid4()
    with pytest.raises(NotFound, match=f"Organization {nowhere} not found"):
        await create_user(uow, nowhere, "lost@acme.test", "member")
    with pytest.raises(Conflict, match="already exists"):
        await create_user(uow, org.id, "agent@acme.test", "admin")
    assert len(uow.committed.users) == 2


async def test_a_token_authenticates_its_user_with_its_scope(uow: FakeUnitOfWork) -> None:
    org, admin = await create_organization(uow, "Acme", "ops@acme.test")
    full = await create_token(uow, " OPS@acme.test", "full")
    check = await create_token(uow, "ops@acme.test", "check")
    assert full.startswith("dnc_")
    assert full != check
    principal = await authenticate(uow, full)
    assert (principal.user_id, principal.organization_id, principal.role, principal.scope) == (
        admin.id,
        org.id,
        "admin",
        "full",
    )
    assert (await authenticate(uow, check)).scope == "check"
    assert set(uow.committed.tokens) == {hash_token(full), hash_token(check)}  # hashes only


async def test_a_token_for_nobody_is_refused(uow: FakeUnitOfWork) -> None:
    with pytest.raises(NotFound, match=re.escape("No user with email 'nobody@acme.test'")):
        await create_token(uow, "nobody@acme.test", "full")
    assert uow.committed.tokens == {}


async def test_an_unknown_token_is_unauthenticated(uow: FakeUnitOfWork) -> None:
    await create_organization(uow, "Acme", "ops@acme.test")
    token = await create_token(uow, "ops@acme.test", "full")
    for wrong in ("dnc_not-a-token", token + "x", ""):
        with pytest.raises(Unauthenticated, match="not valid or has been revoked"):
            await authenticate(uow, wrong)


async def test_a_revoked_token_is_refused_and_announced_after_the_commit(
    uow: FakeUnitOfWork,
) -> None:
    await create_organization(uow, "Acme", "ops@acme.test")
    token = await create_token(uow, "ops@acme.test", "full")
    kept = await create_token(uow, "ops@acme.test", "full")
    revocations = FakeRevocations(uow)
    assert await revoke_token(uow, revocations, f"  {token}\n") is True
    assert revocations.announced == [(hash_token(token), True)]  # revoked when announced
    with pytest.raises(Unauthenticated):
        await authenticate(uow, token)
    assert (await authenticate(uow, kept)).scope == "full"
    with pytest.raises(NotFound, match="No live token matches; it may be revoked already"):
        await revoke_token(uow, revocations, token)
    assert len(revocations.announced) == 1


async def test_a_revocation_whose_announcement_fails_still_stands(uow: FakeUnitOfWork) -> None:
    await create_organization(uow, "Acme", "ops@acme.test")
    token = await create_token(uow, "ops@acme.test", "full")
    revocations = FakeRevocations(uow)
    revocations.down = True
    assert await revoke_token(uow, revocations, token) is False
    with pytest.raises(Unauthenticated):
        await authenticate(uow, token)


async def test_a_rotation_revokes_after_the_commit_and_keeps_user_and_scope(
    uow: FakeUnitOfWork,
) -> None:
    org, _ = await create_organization(uow, "Acme", "ops@acme.test")
    await create_user(uow, org.id, "dialer@acme.test", "member")
    token = await create_token(uow, "dialer@acme.test", "check")
    revocations = FakeRevocations(uow)
    rotated = await rotate_token(uow, revocations, f" {token} ")
    assert revocations.announced == [(hash_token(token), True)]  # revoked when announced
    assert rotated.announced is True
    assert (rotated.user.email, rotated.scope) == ("dialer@acme.test", "check")
    principal = await authenticate(uow, rotated.token)
    assert (principal.user_id, principal.scope, principal.token_id) == (
        rotated.user.id,
        "check",
        rotated.token_id,
    )
    with pytest.raises(Unauthenticated):
        await authenticate(uow, token)
    with pytest.raises(NotFound, match="No live token matches"):
        await rotate_token(uow, revocations, token)
    _, tokens = await tokens_of(uow, "Dialer@Acme.test")
    assert [(t.id, t.revoked_at is None) for t in tokens] == [
        (rotated.revoked_token_id, False),
        (rotated.token_id, True),
    ]


async def test_a_rotation_whose_announcement_fails_still_stands(uow: FakeUnitOfWork) -> None:
    await create_organization(uow, "Acme", "ops@acme.test")
    token = await create_token(uow, "ops@acme.test", "full")
    revocations = FakeRevocations(uow)
    revocations.down = True
    rotated = await rotate_token(uow, revocations, token)
    assert rotated.announced is False
    with pytest.raises(Unauthenticated):
        await authenticate(uow, token)
    assert (await authenticate(uow, rotated.token)).scope == "full"


async def test_listing_users_and_tokens_of_what_does_not_exist(uow: FakeUnitOfWork) -> None:
    org, admin = await create_organization(uow, "Acme", "ops@acme.test")
    assert [u.id for u in await users_of(uow, org.id)] == [admin.id]
    unknown = uuid4()
    with pytest.raises(NotFound, match=str(unknown)):
        await users_of(uow, unknown)
    with pytest.raises(NotFound, match=re.escape("nobody@acme.test")):
        await tokens_of(uow, "nobody@acme.test")
    assert (await tokens_of(uow, "ops@acme.test"))[1] == []
