"""The dialers' lookups: one number (GET) or up to 50,000 (POST), with check-scope tokens."""

from litestar import Controller, get, post
from litestar.di import NamedDependency
from litestar.params import FromQuery, JSONBody

from app.auth import ALLOW_CHECK_SCOPE, authorize
from app.errors import DataEnvelope, error_responses, ok
from app.schemas import BulkCheck, CheckItem, CheckRequest, SingleCheck
from domain.checks import RebuildRequests, check_numbers
from domain.model import Principal
from infra.db.uow import SqlUnitOfWork
from infra.redis_mirror import RedisMirror


class CheckController(Controller):
    path = "/api/dnc/check"
    guards = (authorize,)
    opt = {ALLOW_CHECK_SCOPE: True}  # noqa: RUF012 - Litestar's own attribute
    tags = ("Dialer lookups",)

    @get(
        "/",
        summary="May this number be called?",
        responses=error_responses(400, 503),
    )
    async def one(
        self,
        phoneNumber: FromQuery[str],
        uow: NamedDependency[SqlUnitOfWork],
        mirror: NamedDependency[RedisMirror],
        rebuilds: NamedDependency[RebuildRequests],
        principal: NamedDependency[Principal],
    ) -> DataEnvelope[SingleCheck]:
        result = await check_numbers(
            uow, mirror, rebuilds, principal.organization_id, [phoneNumber]
        )
        [verdict] = result.verdicts
        return ok(
            SingleCheck(
                phone_number=verdict.normalized or verdict.phone_number,
                blocked=verdict.blocked,
                dnc_enabled=result.dnc_enabled,
                reason=verdict.reason,
            )
        )

    @post(
        "/",
        status_code=200,
        summary="May these numbers be called? (up to 50,000, answered in order)",
        responses=error_responses(400, 413, 503),
    )
    async def many(
        self,
        data: JSONBody[CheckRequest],
        uow: NamedDependency[SqlUnitOfWork],
        mirror: NamedDependency[RedisMirror],
        rebuilds: NamedDependency[RebuildRequests],
        principal: NamedDependency[Principal],
    ) -> DataEnvelope[BulkCheck]:
        result = await check_numbers(
            uow, mirror, rebuilds, principal.organization_id, data.phone_numbers
        )
        items = [
            CheckItem(
                phone_number=v.phone_number,
                normalized=v.normalized,
                blocked=v.blocked,
                reason=v.reason,
            )
            for v in result.verdicts
        ]
        return ok(BulkCheck(result.dnc_enabled, items, result.blocked_count))
