"""Receipts: a check kept as evidence of what the DNC list said when a number was asked about.

A receipted check answers as any check does, with ``receiptId`` in its answer, and keeps the
question, the answer exactly as it was sent and what the answer rests on (where it came from,
the lists it consulted, the subscribed shared lists' versions) before the answer is sent: a
receipt id handed out is never lost. When the receipt cannot be kept the check answers 503,
never an answer without its receipt.
"""

import json
from collections.abc import Sequence
from datetime import datetime
from uuid import UUID, uuid4

from domain.errors import InvalidInput, NotFound
from domain.model import DEFAULT_LIST, CheckReceipt, CheckResult, Principal
from domain.ports import ReceiptStore


def new_receipt_id() -> UUID:
    return uuid4()


def receipt_id_of(raw: str) -> UUID:
    try:
        return UUID(raw)
    except ValueError:
        raise InvalidInput(f"receipt id {raw[:64]!r} is not a UUID") from None


def versions_of(result: CheckResult, named: Sequence[str], service: str) -> bytes:
    """What the answer rests on, as far as the check knows it: where it was answered from
    ("redis": the mirror, "postgres": the source of truth), the organization's lists it
    consulted (the org-wide list first) and the service's version. The store adds the
    subscribed shared lists' versions (``sharedLists``)."""
    versions = {
        "answeredFrom": result.source,
        "lists": [DEFAULT_LIST, *named],
        "service": service,
    }
    return json.dumps(versions, separators=(",", ":")).encode()


async def keep_receipt(
    store: ReceiptStore,
    principal: Principal,
    receipt_id: UUID,
    asked_at: datetime,
    question: bytes,
    answer: bytes,
    result: CheckResult,
    named: Sequence[str],
    service: str,
) -> None:
    """Keeps the receipt of a check answered ``answer`` (the body as it will be sent); raises
    :class:`Unavailable` when it could not be kept, and the answer must not be sent."""
    receipt = CheckReceipt(
        id=receipt_id,
        organization_id=principal.organization_id,
        asked_by=principal.user_id,
        asked_at=asked_at,
        numbers=len(result.verdicts),
        question=question,
        answer=answer,
        versions=versions_of(result, named, service),
    )
    await store.add(receipt)


async def get_receipt(store: ReceiptStore, organization_id: UUID, raw_id: str) -> CheckReceipt:
    """The organization's receipt by that id: 400 for an id that is not one, 404 for one that
    is not the organization's."""
    wanted = receipt_id_of(raw_id)
    receipt = await store.get(organization_id, wanted)
    if receipt is None:
        raise NotFound(f"No receipt {wanted}")
    return receipt
