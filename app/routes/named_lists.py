"""An organization's lists (its org-wide one, ``default``, and named campaign lists) and its
prefix rules."""

from litestar import Controller, delete, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody

from app.auth import authorize
from app.errors import DataEnvelope, error_responses, ok
from app.schemas.fields import trimmed
from app.schemas.named_lists import (
    ListRead,
    ListsRead,
    NewList,
    NewPrefix,
    PrefixesRead,
    PrefixRead,
)
from domain.model import Principal
from domain.usecases.lists import (
    all_lists,
    all_prefixes,
    create_list,
    create_prefix,
    delete_list,
    delete_prefix,
    get_list,
)
from infra.db.uow import SqlUnitOfWork
from infra.redis.mirror import RedisMirror


class NamedListController(Controller):
    path = "/api/dnc/lists"
    guards = (authorize,)
    tags = ("Lists and prefix rules",)

    @get(
        "/", summary="The organization's lists, the org-wide one first", responses=error_responses()
    )
    async def lists(
        self, uow: NamedDependency[SqlUnitOfWork], principal: NamedDependency[Principal]
    ) -> DataEnvelope[ListsRead]:
        found = await all_lists(uow, principal.organization_id)
        return ok(ListsRead([ListRead.of(each) for each in found]))

    @post(
        "/",
        status_code=201,
        summary="Create a named (campaign) list",
        responses=error_responses(400, 409, 413),
    )
    async def create(
        self,
        data: JSONBody[NewList],
        uow: NamedDependency[SqlUnitOfWork],
        mirror: NamedDependency[RedisMirror],
        principal: NamedDependency[Principal],
    ) -> DataEnvelope[ListRead]:
        created = await create_list(
            uow,
            mirror,
            principal.organization_id,
            principal.user_id,
            data.name,
            trimmed(data.description),
        )
        return ok(ListRead.of(created), "List created", 201)

    @get("/{listId:str}", summary="One list, with its count", responses=error_responses(400, 404))
    async def one(
        self,
        listId: FromPath[str],
        uow: NamedDependency[SqlUnitOfWork],
        principal: NamedDependency[Principal],
    ) -> DataEnvelope[ListRead]:
        return ok(ListRead.of(await get_list(uow, principal.organization_id, listId)))

    @delete(
        "/{listId:str}",
        status_code=200,
        summary="Delete a named list: its entries stop blocking, kept as audited tombstones",
        responses=error_responses(400, 404),
    )
    async def remove(
        self,
        listId: FromPath[str],
        uow: NamedDependency[SqlUnitOfWork],
        mirror: NamedDependency[RedisMirror],
        principal: NamedDependency[Principal],
    ) -> DataEnvelope[ListRead]:
        deleted = await delete_list(
            uow, mirror, principal.organization_id, principal.user_id, listId
        )
        return ok(ListRead.of(deleted), "List deleted")


class PrefixController(Controller):
    path = "/api/dnc/prefixes"
    guards = (authorize,)
    tags = ("Lists and prefix rules",)

    @get("/", summary="The organization's prefix rules", responses=error_responses())
    async def prefixes(
        self, uow: NamedDependency[SqlUnitOfWork], principal: NamedDependency[Principal]
    ) -> DataEnvelope[PrefixesRead]:
        rules = await all_prefixes(uow, principal.organization_id)
        return ok(PrefixesRead([PrefixRead.of(rule) for rule in rules]))

    @post(
        "/",
        status_code=201,
        summary="Block every number whose E.164 digits start with a prefix (4 to 14 digits)",
        responses=error_responses(400, 409, 413),
    )
    async def create(
        self,
        data: JSONBody[NewPrefix],
        uow: NamedDependency[SqlUnitOfWork],
        mirror: NamedDependency[RedisMirror],
        principal: NamedDependency[Principal],
    ) -> DataEnvelope[PrefixRead]:
        rule = await create_prefix(uow, mirror, principal, data.prefix, trimmed(data.reason))
        return ok(PrefixRead.of(rule), "Prefix rule created", 201)

    @delete(
        "/{ruleId:str}",
        status_code=200,
        summary="End a prefix rule (kept, audited)",
        responses=error_responses(400, 404),
    )
    async def remove(
        self,
        ruleId: FromPath[str],
        uow: NamedDependency[SqlUnitOfWork],
        mirror: NamedDependency[RedisMirror],
        principal: NamedDependency[Principal],
    ) -> DataEnvelope[PrefixRead]:
        rule = await delete_prefix(uow, mirror, principal, ruleId)
        return ok(PrefixRead.of(rule), "Prefix rule deleted")
