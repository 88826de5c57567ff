"""A world of organizations over the in-memory fakes, and the steps a platform takes in it
(a batch, a call, listing the call's number, checking numbers)."""

from dataclasses import replace
from datetime import datetime
from uuid import UUID, uuid4

from domain.model import AddNumber, DncEntry, NewCall, Organization, Principal, User
from domain.usecases.checks import RebuildRequests, check_numbers
from domain.usecases.entries import add_number
from domain.usecases.evidence import create_batch, record_calls
from domain.usecases.mirror_sync import MIRROR_SYNC
from tests.unit.fakes import FakeMirror, FakeQueue, FakeUnitOfWork

LISTED = "12125550100"  # E.164 digits, as the list stores them


class World:
    """One organization with an admin and a ready mirror (more with :meth:`new_org`), and a
    unit of work, a mirror and a queue over all of them."""

    def __init__(self) -> None:
        self.uow = FakeUnitOfWork()
        self.mirror = FakeMirror()
        self.queue = FakeQueue()
        self.rebuilds = RebuildRequests(self.queue)
        self.principal = self.new_org("Acme")

    def new_org(self, name: str, dnc_enabled: bool = True) -> Principal:
        """An organization, its admin (``admin@<name>.test``) and its mirror, built empty."""
        org, user = uuid4(), uuid4()
        self.uow.committed.organizations[org] = Organization(org, name, dnc_enabled)
        self.uow.committed.users[user] = User(user, org, f"admin@{name.lower()}.test", "admin")
        self.mirror.load(org, set(), enabled=dnc_enabled)
        return Principal(user, org, "admin", "full", uuid4())

    @property
    def org(self) -> UUID:
        return self.principal.organization_id

    async def call(self, number: str = LISTED, principal: Principal | None = None) -> AddNumber:
        """A new batch with one call to ``number``: what listing the number refers to."""
        who = principal or self.principal
        batch = await create_batch(self.uow, who, None, None)
        [call] = await record_calls(self.uow, who, batch.batch_id, [NewCall(number)])
        return AddNumber(number, batch.batch_id, call.request_uuid)

    async def add(
        self,
        number: str = LISTED,
        expires_at: datetime | None = None,
        principal: Principal | None = None,
        type: str | None = None,
    ) -> DncEntry:
        who = principal or self.principal
        cmd = replace(await self.call(number, who), expires_at=expires_at, type=type)
        return await add_number(self.uow, self.mirror, self.queue, who, cmd)

    async def blocked(self, *numbers: str, org: UUID | None = None) -> list[bool]:
        result = await check_numbers(self.uow, self.mirror, self.rebuilds, org or self.org, numbers)
        return [v.blocked for v in result.verdicts]

    def pending_syncs(self, org: UUID | None = None) -> int:
        t = self.uow.committed
        return sum(
            1
            for m in t.outbox
            if m.kind == MIRROR_SYNC
            and m.id not in t.processed
            and (org is None or m.organization_id == org)
        )

    def actions(self, org: UUID | None = None) -> list[str]:
        """The audit log's actions, oldest first."""
        wanted = org or self.org
        return [e.action for e in self.uow.committed.audit if e.organization_id == wanted]
