"""Business-relationship exemptions: a number the organization may call whatever its shared
lists say (never its own lists or prefix rules), until the exemption lapses or is deleted."""

from litestar import Controller, delete, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, JSONBody

from app.auth import authorize
from app.errors import DataEnvelope, error_responses, ok
from app.schemas.exemptions import ExemptionPageRead, ExemptionRead, NewExemption
from domain.model import Principal
from domain.usecases.exemptions import (
    create_exemption,
    delete_exemption,
    get_exemption,
    page_exemptions,
)
from infra.db.uow import SqlUnitOfWork
from infra.redis.mirror import RedisMirror


class ExemptionController(Controller):
    path = "/api/dnc/exemptions"
    guards = (authorize,)
    tags = ("Shared lists and exemptions",)

    @post(
        "/",
        status_code=201,
        summary="Exempt a number from the shared lists (18 months after a purchase, 3 months "
        "after an inquiry, until deleted for written consent)",
        responses=error_responses(400, 413),
    )
    async def create(
        self,
        data: JSONBody[NewExemption],
        uow: NamedDependency[SqlUnitOfWork],
        mirror: NamedDependency[RedisMirror],
        principal: NamedDependency[Principal],
    ) -> DataEnvelope[ExemptionRead]:
        exemption = await create_exemption(
            uow, mirror, principal, data.phone_number, data.basis, data.since
        )
        return ok(ExemptionRead.of(exemption), "Exemption created", 201)

    @get(
        "/",
        summary="The organization's exemptions (of one number, when phoneNumber is given), "
        "newest first, lapsed ones included",
        responses=error_responses(400),
    )
    async def exemptions(
        self,
        uow: NamedDependency[SqlUnitOfWork],
        principal: NamedDependency[Principal],
        page: FromQuery[int] = 1,
        limit: FromQuery[int] = 10,
        phoneNumber: FromQuery[str | None] = None,
    ) -> DataEnvelope[ExemptionPageRead]:
        found = await page_exemptions(uow, principal.organization_id, phoneNumber, page, limit)
        items = [ExemptionRead.of(exemption) for exemption in found.items]
        return ok(ExemptionPageRead(items, page, limit, found.total))

    @get("/{exemptionId:str}", summary="One exemption", responses=error_responses(400, 404))
    async def one(
        self,
        exemptionId: FromPath[str],
        uow: NamedDependency[SqlUnitOfWork],
        principal: NamedDependency[Principal],
    ) -> DataEnvelope[ExemptionRead]:
        exemption = await get_exemption(uow, principal.organization_id, exemptionId)
        return ok(ExemptionRead.of(exemption))

    @delete(
        "/{exemptionId:str}",
        status_code=200,
        summary="Delete an exemption (kept, audited): the shared lists block the number again",
        responses=error_responses(400, 404),
    )
    async def remove(
        self,
        exemptionId: FromPath[str],
        uow: NamedDependency[SqlUnitOfWork],
        mirror: NamedDependency[RedisMirror],
        principal: NamedDependency[Principal],
    ) -> DataEnvelope[ExemptionRead]:
        exemption = await delete_exemption(uow, mirror, principal, exemptionId)
        return ok(ExemptionRead.of(exemption), "Exemption deleted")
