"""Batches and the calls in them: the evidence a DNC entry links to."""

import msgspec
from litestar import Controller, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody

from app.auth import authorize
from app.errors import DataEnvelope, error_responses, ok
from app.schemas.batches import (
    BatchCreate,
    BatchRead,
    CallFields,
    CallRead,
    CallsRead,
    CallsRequest,
)
from app.schemas.fields import trimmed
from domain.errors import InvalidInput
from domain.model import NewCall, Principal
from domain.usecases.evidence import create_batch, record_calls
from infra.db.uow import SqlUnitOfWork

_CALL_FIELDS = [f for f in CallFields.__struct_fields__]


def _new_call(call: CallFields, where: str) -> NewCall:
    """The call's fields, which :class:`NewCall` has by the same names."""
    if call.phone_number is None:
        raise InvalidInput(f"{where}phoneNumber is required")
    return msgspec.convert(call, NewCall, from_attributes=True)


def calls_of(data: CallsRequest) -> list[NewCall]:
    if data.calls is None:
        return [_new_call(data, "")]
    if any(getattr(data, name) is not None for name in _CALL_FIELDS):
        raise InvalidInput("send either one call's fields or a 'calls' list, not both")
    return [_new_call(call, f"calls[{i}].") for i, call in enumerate(data.calls)]


class BatchController(Controller):
    path = "/api/batches"
    guards = (authorize,)
    tags = ("Batches and calls",)

    @post(
        "/",
        status_code=201,
        summary="Create a batch owned by the calling user",
        responses=error_responses(400, 409, 413),
    )
    async def create(
        self,
        uow: NamedDependency[SqlUnitOfWork],
        principal: NamedDependency[Principal],
        data: JSONBody[BatchCreate | None] = None,
    ) -> DataEnvelope[BatchRead]:
        data = data or BatchCreate()
        batch = await create_batch(uow, principal, data.batch_id, trimmed(data.name))
        return ok(BatchRead.of(batch), "Batch created", 201)

    @post(
        "/{batchId:str}/calls",
        status_code=201,
        summary="Record one call or several",
        responses=error_responses(400, 404, 409, 413),
    )
    async def record(
        self,
        batchId: FromPath[str],
        data: JSONBody[CallsRequest],
        uow: NamedDependency[SqlUnitOfWork],
        principal: NamedDependency[Principal],
    ) -> DataEnvelope[CallsRead]:
        records = await record_calls(uow, principal, batchId, calls_of(data))
        body = CallsRead(batch_id=batchId, calls=[CallRead.of(r) for r in records])
        return ok(body, "Calls recorded", 201)
