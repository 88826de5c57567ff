"""The dialers' lookups."""

from typing import Annotated

import msgspec
from msgspec import Meta

from app.schemas import enveloped
from app.schemas.fields import ListId
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


@enveloped
class SingleCheck(msgspec.Struct, rename="camel", omit_defaults=True):
    phone_number: str
    blocked: bool
    dnc_enabled: bool
    reason: str | None
    lists: list[str]
    receipt_id: Annotated[str | None, Meta(description=RECEIPT_ID_DESCRIPTION)] = None


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
