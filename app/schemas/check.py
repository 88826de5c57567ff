"""The dialers' lookups."""

from datetime import datetime
from typing import Annotated

import msgspec
from msgspec import Meta

from app.schemas import enveloped
from app.schemas.fields import ListId
from domain.usecases.as_of import MAX_AT_LENGTH
from domain.usecases.checks import MAX_BULK_CHECK
from domain.usecases.lists import MAX_CHECK_LISTS

LISTS_DESCRIPTION = (
    f"The named lists that apply beside the org-wide list: at most {MAX_CHECK_LISTS} "
    "distinct ids (naming the org-wide list, default, changes nothing), each of at most 64 "
    "characters; an unknown id is a 400"
)
RECEIPT_DESCRIPTION = (
    "true: keep the question and this answer as a receipt (GET /api/dnc/receipts/{receiptId}) "
    "before answering; a JSON boolean (a query's receipt=true|false)"
)
RECEIPT_ID_DESCRIPTION = "The receipt of this check, when it asked for one"

AT_DESCRIPTION = (
    "Answer as a check at this moment would have (from Postgres: the lists, prefix rules, "
    "exemptions, subscriptions and DNC switch as they were then): ISO 8601 with a timezone, "
    "e.g. 2026-11-01T10:03:00-04:00. A time without a timezone, before the organization "
    "existed, or in the future is a 400"
)


class CheckRequest(msgspec.Struct, rename="camel", forbid_unknown_fields=True):
    """An unknown field is a 400: a ``listId`` here would otherwise be ignored, and a number
    on that list answered callable."""

    phone_numbers: Annotated[
        list[Annotated[str, Meta(max_length=64)]], Meta(max_length=MAX_BULK_CHECK)
    ]
    # the org-wide list and repeats may be named too; the distinct named ones are counted
    lists: (
        Annotated[
            list[ListId],
            Meta(
                max_length=4 * MAX_CHECK_LISTS,
                description=LISTS_DESCRIPTION,
            ),
        ]
        | None
    ) = None
    receipt: Annotated[bool, Meta(description=RECEIPT_DESCRIPTION)] = False
    at: Annotated[str, Meta(max_length=MAX_AT_LENGTH, description=AT_DESCRIPTION)] | None = None


AT_ANSWERED = "With at: the moment answered for, in UTC (absent otherwise)"
CHANGED_SINCE = (
    "With at: the shared lists consulted (subscribed to at that moment) whose data (numbers "
    "or freshness) changed after it. Only a shared list's current data is kept, so these "
    "answered with their data of now, which may differ from what it was then (absent "
    "without at)"
)


@enveloped
class SingleCheck(msgspec.Struct, rename="camel", omit_defaults=True):
    phone_number: str
    blocked: bool
    dnc_enabled: bool
    reason: str | None
    lists: list[str]
    receipt_id: Annotated[str | None, Meta(description=RECEIPT_ID_DESCRIPTION)] = None
    at: Annotated[datetime, Meta(description=AT_ANSWERED)] | None = None
    shared_lists_changed_since: Annotated[list[str], Meta(description=CHANGED_SINCE)] | None = None


class CheckItem(msgspec.Struct, rename="camel"):
    phone_number: str
    normalized: str | None
    blocked: bool
    reason: str | None
    lists: list[str]


@enveloped
class BulkCheck(msgspec.Struct, rename="camel", omit_defaults=True):
    dnc_enabled: bool
    results: list[CheckItem]
    blocked_count: int
    receipt_id: Annotated[str | None, Meta(description=RECEIPT_ID_DESCRIPTION)] = None
    at: Annotated[datetime, Meta(description=AT_ANSWERED)] | None = None
    shared_lists_changed_since: Annotated[list[str], Meta(description=CHANGED_SINCE)] | None = None
