"""Receipts of checks: kept by the check routes (``app.routes.check``) when a check asks for
one, read back here, unchanged, by the organization's full-scope tokens.

A check-scope token (a dialer's) may ask for receipts but not read them: a receipt holds
the numbers other dialers of the organization asked about, which is the organization's
business, not one dialer's.
"""

from collections.abc import Sequence
from datetime import datetime
from functools import cache
from importlib import metadata
from typing import Any
from uuid import UUID

import msgspec
from litestar import Controller, MediaType, Request, Response, get
from litestar.datastructures import State
from litestar.params import FromPath
from litestar.serialization import encode_json

from app.auth import authorize
from app.deps import resources_of
from app.errors import DataEnvelope, error_responses, ok
from app.schemas.receipts import ReceiptRead
from domain.errors import InvalidInput
from domain.model import CheckResult, Principal
from domain.usecases.lists import named_lists_of
from domain.usecases.receipts import get_receipt, keep_receipt


def receipt_param(raw: str | None) -> bool:
    """``receipt=true|false`` in a check's query; anything else is a 400 (a ``1`` or a
    ``yes`` read as false would hand out an answer without the receipt asked for)."""
    if raw is None or raw == "false":
        return False
    if raw == "true":
        return True
    raise InvalidInput(f"receipt must be true or false, not {raw[:32]!r}")


@cache
def service_version() -> str:
    try:
        return metadata.version("dnc-service")
    except metadata.PackageNotFoundError:  # run from a checkout that was never installed
        return "unknown"


async def keep_receipt_of(
    request: Request[Principal, Any, State],
    receipt_id: UUID,
    asked_at: datetime,
    question: bytes,
    answer: bytes,
    result: CheckResult,
    lists: Sequence[str],
) -> None:
    """Keeps a check's receipt (503 when it cannot: the answer must not be sent)."""
    store = resources_of(request.app.state).receipts
    named = named_lists_of(lists)
    await keep_receipt(
        store, request.user, receipt_id, asked_at, question, answer, result, named,
        service_version(),
    )  # fmt: skip


class _Kept(msgspec.Struct, rename="camel"):
    """:class:`ReceiptRead` as it is sent: the question, versions and answer as stored."""

    receipt_id: str
    asked_at: datetime
    asked_by: str | None
    numbers: int
    question: msgspec.Raw
    versions: msgspec.Raw
    answer: msgspec.Raw


class ReceiptController(Controller):
    path = "/api/dnc/receipts"
    guards = (authorize,)
    tags = ("Dialer lookups",)

    @get(
        "/{receiptId:str}",
        summary="A receipted check: the question, when and by whom it was asked, the lists' "
        "versions it rests on, and the answer exactly as it was sent",
        responses=error_responses(400, 404),
    )
    async def one(
        self, request: Request[Principal, Any, State], receiptId: FromPath[str]
    ) -> Response[DataEnvelope[ReceiptRead]]:
        store = resources_of(request.app.state).receipts
        receipt = await get_receipt(store, request.user.organization_id, receiptId)
        kept = _Kept(
            receipt_id=str(receipt.id),
            asked_at=receipt.asked_at,
            asked_by=None if receipt.asked_by is None else str(receipt.asked_by),
            numbers=receipt.numbers,
            question=msgspec.Raw(receipt.question),
            versions=msgspec.Raw(receipt.versions),
            answer=msgspec.Raw(receipt.answer),
        )
        body: Any = encode_json(ok(kept))  # the answer's bytes inside it, unchanged
        return Response(body, media_type=MediaType.JSON)
