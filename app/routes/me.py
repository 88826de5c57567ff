"""``GET /api/me``: who the token is (API.md, "Who am I"); any token may ask."""

from litestar import get
from litestar.di import NamedDependency

from app.auth import ALLOW_CHECK_SCOPE, authorize
from app.errors import DataEnvelope, error_responses, ok
from app.schemas.me import MeRead, OrganizationRef, UserRef
from domain.model import Principal
from domain.usecases.identity import who_am_i
from infra.db.uow import SqlUnitOfWork


@get(
    "/api/me",
    summary="The token's organization, user and scope",
    tags=["Who am I"],
    guards=[authorize],
    opt={ALLOW_CHECK_SCOPE: True},
    responses=error_responses(),
)
async def me(
    uow: NamedDependency[SqlUnitOfWork], principal: NamedDependency[Principal]
) -> DataEnvelope[MeRead]:
    organization, user = await who_am_i(uow, principal)
    return ok(
        MeRead(
            OrganizationRef(str(organization.id), organization.name),
            UserRef(str(user.id), user.email, user.role),
            principal.scope,
        )
    )
