"""The shared lists (registries, state and litigator lists) the organization's checks
consult. Operators subscribe organizations through the CLI; nothing here writes."""

from litestar import Controller, get
from litestar.di import NamedDependency

from app.auth import authorize
from app.errors import DataEnvelope, error_responses, ok
from app.schemas.subscriptions import SubscriptionRead, SubscriptionsRead
from domain.model import Principal
from domain.time import utcnow
from domain.usecases.shared_lists import subscriptions_of
from infra.db.uow import SqlUnitOfWork


class SubscriptionController(Controller):
    path = "/api/dnc/subscriptions"
    guards = (authorize,)
    tags = ("Shared lists and exemptions",)

    @get(
        "/",
        summary="The shared lists the organization subscribes to, with counts and freshness",
        responses=error_responses(),
    )
    async def subscriptions(
        self, uow: NamedDependency[SqlUnitOfWork], principal: NamedDependency[Principal]
    ) -> DataEnvelope[SubscriptionsRead]:
        now = utcnow()
        found = await subscriptions_of(uow, principal.organization_id)
        return ok(SubscriptionsRead([SubscriptionRead.of(shared, now) for shared in found]))
