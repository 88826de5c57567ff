"""The providers handlers receive what the lifespan built (:mod:`infra.bootstrap`) through."""

from litestar import Request
from litestar.datastructures import State

from domain.model import Principal
from domain.usecases.checks import RebuildRequests
from infra.bootstrap import Resources
from infra.db.uow import SqlUnitOfWork
from infra.redis.mirror import RedisMirror
from infra.redis.queue import ArqJobQueue


def resources_of(state: State) -> Resources:
    resources: Resources = state.resources
    return resources


def provide_uow(state: State) -> SqlUnitOfWork:
    return resources_of(state).uow()


def provide_mirror(state: State) -> RedisMirror:
    return resources_of(state).mirror


def provide_queue(state: State) -> ArqJobQueue:
    return resources_of(state).queue


def provide_rebuilds(state: State) -> RebuildRequests:
    return resources_of(state).rebuilds


def provide_principal(request: Request[Principal, str, State]) -> Principal:
    return request.user
