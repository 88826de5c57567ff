"""The dialers' lookups: one number (GET) or up to 50,000 (POST), with check-scope tokens.

These are the hot path, so they take what they need from the request itself rather than
through dependency injection: Litestar resolves several dependencies of one handler in an
anyio task group per request, which cost more than the rest of a single check."""

import asyncio
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Annotated, NamedTuple, cast
from uuid import UUID

from litestar import Controller, MediaType, Request, Response, get, post
from litestar.datastructures import State
from litestar.params import FromQuery, JSONBody, QueryParameter
from litestar.serialization import encode_json

from app.auth import ALLOW_CHECK_SCOPE, authorize
from app.deps import resources_of
from app.errors import DataEnvelope, error_responses, ok
from app.layers.metrics import count_check
from app.routes.receipts import keep_receipt_of, receipt_param
from app.schemas.check import (
    AT_DESCRIPTION,
    LISTS_DESCRIPTION,
    RECEIPT_DESCRIPTION,
    BulkCheck,
    CheckItem,
    CheckRequest,
    SingleCheck,
)
from domain.errors import InvalidInput
from domain.model import CheckResult, Principal
from domain.time import utcnow
from domain.usecases.as_of import MAX_AT_LENGTH, check_numbers_at, parse_at
from domain.usecases.checks import YIELD_EVERY, check_numbers, release_in_turns
from domain.usecases.receipts import new_receipt_id
from infra.db.uow import SqlUnitOfWork

CheckRequestOf = Request[Principal, str, State]
PATH = "/api/dnc/check"
EMPTY_RESULTS = b'"results":[]'


class Past(NamedTuple):
    """What an answer at a past moment adds: the moment, and the shared lists it answered
    with data that changed since."""

    at: datetime
    changed: list[str]


def single_check(
    result: CheckResult, past: Past | None = None, receipt_id: str | None = None
) -> DataEnvelope[SingleCheck]:
    [verdict] = result.verdicts
    return ok(
        SingleCheck(
            phone_number=verdict.normalized or verdict.phone_number,
            blocked=verdict.blocked,
            dnc_enabled=result.dnc_enabled,
            reason=verdict.reason,
            lists=list(verdict.lists),
            receipt_id=receipt_id,
            at=past.at if past else None,
            shared_lists_changed_since=past.changed if past else None,
        )
    )


# what the fast path (app.layers.fast_check) answers: a check of the present, without a
# receipt, nothing else
FAST_PARAMETERS = frozenset({"phoneNumber", "lists"})
CHECK_PARAMETERS = FAST_PARAMETERS | {"at", "receipt"}


def unknown_parameter(names: Iterable[str], known: frozenset[str] = CHECK_PARAMETERS) -> str | None:
    """The first query parameter a check does not take (a ``listId`` or a ``lists[]`` would
    otherwise be ignored, and a number on that list answered callable)."""
    return next((name for name in names if name not in known), None)


def lists_param(raw: str | None) -> list[str]:
    """``lists=ID,ID`` as a query sends it. Blanks around an id are ignored, and so is a
    ``+`` (what form-encoding clients send for a space; no list id has one)."""
    ids = (part.strip(" +") for part in (raw or "").split(","))
    return [list_id for list_id in ids if list_id]


async def run_check_at(
    state: State, organization_id: UUID, numbers: list[str], lists: Sequence[str], raw_at: str
) -> tuple[CheckResult, Past]:
    """A check as one at the moment ``raw_at`` would have answered it (from Postgres)."""
    at = parse_at(raw_at)
    resources = resources_of(state)
    result, changed = await check_numbers_at(
        SqlUnitOfWork(resources.sessions), organization_id, numbers, lists, at
    )
    count_check(result)
    return result, Past(at, list(changed))


async def run_check(
    state: State, organization_id: UUID, numbers: list[str], lists: Sequence[str] = ()
) -> CheckResult:
    """A check as both paths answer it (this route and ``app.layers.fast_check``), counted."""
    resources = resources_of(state)
    result = await check_numbers(
        SqlUnitOfWork(resources.sessions),
        resources.mirror,
        resources.rebuilds,
        organization_id,
        numbers,
        lists,
    )
    count_check(result)
    return result


class CheckController(Controller):
    path = PATH
    guards = (authorize,)
    opt = {ALLOW_CHECK_SCOPE: True}  # noqa: RUF012 - Litestar's own attribute
    tags = ("Dialer lookups",)

    @get(
        "/",
        summary="May this number be called? (the org-wide list, the prefix rules, and the "
        "named lists in lists=ID,ID)",
        responses=error_responses(400, 503),
    )
    async def one(
        self,
        request: CheckRequestOf,
        phoneNumber: FromQuery[str],
        lists: Annotated[
            str | None, QueryParameter(description=f"{LISTS_DESCRIPTION}, as ID,ID")
        ] = None,
        receipt: Annotated[str | None, QueryParameter(description=RECEIPT_DESCRIPTION)] = None,
        at: Annotated[
            str | None, QueryParameter(description=AT_DESCRIPTION, max_length=MAX_AT_LENGTH)
        ] = None,
    ) -> DataEnvelope[SingleCheck]:
        unknown = unknown_parameter(request.query_params)
        if unknown is not None:
            raise InvalidInput(
                f"a check takes no query parameter {unknown!r}: name lists as lists=ID,ID"
            )
        state, organization_id = request.app.state, request.user.organization_id
        named = lists_param(lists)
        wants_receipt = receipt_param(receipt)
        asked_at = utcnow()
        past = None
        if at is None:
            result = await run_check(state, organization_id, [phoneNumber], named)
        else:
            result, past = await run_check_at(state, organization_id, [phoneNumber], named, at)
        if not wants_receipt:
            return single_check(result, past)
        receipt_id = new_receipt_id()
        body = encode_json(single_check(result, past, str(receipt_id)))
        query = {name: request.query_params[name] for name in request.query_params}
        question = b'{"method":"GET","path":"%s","query":%s}' % (PATH.encode(), encode_json(query))
        await keep_receipt_of(request, receipt_id, asked_at, question, body, result, named)
        # the bytes kept, as they are (a Response returned is sent as it is)
        return cast(DataEnvelope[SingleCheck], Response(body, media_type=MediaType.JSON))

    @post(
        "/",
        status_code=200,
        summary="May these numbers be called? (up to 50,000, answered in order)",
        responses=error_responses(400, 413, 503),
    )
    async def many(
        self, request: CheckRequestOf, data: JSONBody[CheckRequest]
    ) -> Response[DataEnvelope[BulkCheck]]:
        state, organization_id = request.app.state, request.user.organization_id
        asked_at = utcnow()
        receipt_id = new_receipt_id() if data.receipt else None
        named = data.lists or ()
        past = None
        if data.at is None:
            result = await run_check(state, organization_id, data.phone_numbers, named)
        else:
            result, past = await run_check_at(
                state, organization_id, data.phone_numbers, named, data.at
            )
        # Pre-encoded (Litestar sends bytes as they are), so that the answer is encoded in
        # turns too: one encode of 50,000 results holds the event loop for about 10 ms
        answer = await bulk_answer(result, past, None if receipt_id is None else str(receipt_id))
        if receipt_id is not None:  # kept before it is sent
            question = b'{"method":"POST","path":"%s","body":%s}' % (
                PATH.encode(),
                encode_json(data),
            )
            await keep_receipt_of(request, receipt_id, asked_at, question, answer, result, named)
        body = cast(DataEnvelope[BulkCheck], answer)
        await release_in_turns(result.verdicts)
        await release_in_turns(data.phone_numbers)
        return Response(body, media_type=MediaType.JSON)


async def bulk_answer(
    result: CheckResult, past: Past | None = None, receipt_id: str | None = None
) -> bytes:
    """``ok(BulkCheck(...))`` as Litestar would encode it, :data:`YIELD_EVERY` results at a
    time, giving the event loop back in between (as ``check_numbers`` does)."""
    at, changed = past if past else (None, None)
    check = BulkCheck(
        dnc_enabled=result.dnc_enabled,
        results=[],
        blocked_count=result.blocked_count,
        receipt_id=receipt_id,
        at=at,
        shared_lists_changed_since=changed,
    )
    empty = encode_json(ok(check))
    head, tail = empty.split(EMPTY_RESULTS)
    parts = [head, b'"results":[']
    verdicts = result.verdicts
    for start in range(0, len(verdicts), YIELD_EVERY):
        if start:
            await asyncio.sleep(0)
            parts.append(b",")
        items = [
            CheckItem(v.phone_number, v.normalized, v.blocked, v.reason, list(v.lists))
            for v in verdicts[start : start + YIELD_EVERY]
        ]
        parts.append(encode_json(items)[1:-1])  # without the list's brackets
    parts += (b"]", tail)
    return b"".join(parts)  # one copy of the whole answer
