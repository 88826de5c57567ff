"""The dialers' lookups."""

from typing import Annotated

import msgspec
from msgspec import Meta

from app.schemas import enveloped
from domain.usecases.checks import MAX_BULK_CHECK


class CheckRequest(msgspec.Struct, rename="camel"):
    phone_numbers: Annotated[
        list[Annotated[str, Meta(max_length=64)]], Meta(max_length=MAX_BULK_CHECK)
    ]


@enveloped
class SingleCheck(msgspec.Struct, rename="camel"):
    phone_number: str
    blocked: bool
    dnc_enabled: bool
    reason: str | None


class CheckItem(msgspec.Struct, rename="camel"):
    phone_number: str
    normalized: str | None
    blocked: bool
    reason: str | None


@enveloped
class BulkCheck(msgspec.Struct, rename="camel"):
    dnc_enabled: bool
    results: list[CheckItem]
    blocked_count: int
