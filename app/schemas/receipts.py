"""Receipts of checks, as ``GET /api/dnc/receipts/{receiptId}`` sends them."""

from datetime import datetime
from typing import Annotated, Any

import msgspec
from msgspec import Meta

from app.schemas import enveloped


@enveloped
class ReceiptRead(msgspec.Struct, rename="camel"):
    receipt_id: str
    asked_at: Annotated[datetime, Meta(description="When the check was asked (UTC)")]
    asked_by: Annotated[str | None, Meta(description="The user whose token asked")]
    numbers: Annotated[int, Meta(description="How many numbers the check asked about")]
    question: Annotated[
        dict[str, Any],
        Meta(
            description='The check as asked: {"method": "GET", "path", "query": {...}} or '
            '{"method": "POST", "path", "body": {"phoneNumbers", "lists", "receipt"}}'
        ),
    ]
    versions: Annotated[
        dict[str, Any],
        Meta(
            description="What the answer rests on: answeredFrom (redis: the mirror, postgres: "
            "the source of truth), lists (the organization's lists consulted), service (its "
            "version), sharedLists (each subscribed shared list's id, name, kind, generation, "
            "downloadedAt, maxAgeDays and count when the receipt was written)"
        ),
    ]
    answer: Annotated[
        dict[str, Any],
        Meta(description="The check's response body, byte for byte as it was sent"),
    ]
