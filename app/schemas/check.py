"""The dialers' lookups."""

from typing import Annotated

import msgspec
from msgspec import Meta

from app.schemas import enveloped
from app.schemas.fields import ListId
from domain.usecases.checks import MAX_BULK_CHECK
from domain.usecases.lists import MAX_CHECK_LISTS


class CheckRequest(msgspec.Struct, rename="camel"):
    phone_numbers: Annotated[
        list[Annotated[str, Meta(max_length=64)]], Meta(max_length=MAX_BULK_CHECK)
    ]
    lists: Annotated[list[ListId], Meta(max_length=MAX_CHECK_LISTS)] | None = None


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
