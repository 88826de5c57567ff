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


@enveloped
class SingleCheck(msgspec.Struct, rename="camel"):
    phone_number: str
    blocked: bool
    dnc_enabled: bool
    reason: str | None
    lists: list[str]


class CheckItem(msgspec.Struct, rename="camel"):
    phone_number: str
    normalized: str | None
    blocked: bool
    reason: str | None
    lists: list[str]


@enveloped
class BulkCheck(msgspec.Struct, rename="camel"):
    dnc_enabled: bool
    results: list[CheckItem]
    blocked_count: int
