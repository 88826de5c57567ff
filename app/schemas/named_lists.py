"""An organization's lists (its org-wide one and named campaign lists) and its prefix rules."""

from datetime import datetime
from typing import Annotated

import msgspec
from msgspec import Meta

from app.schemas import enveloped
from app.schemas.fields import Text2k, Text200
from domain.model import DncList, PrefixRule


class NewList(msgspec.Struct):
    name: Text200
    description: Text2k | None = None


@enveloped
class ListRead(msgspec.Struct, rename="camel"):
    id: str
    name: str
    kind: str
    description: str | None
    count: int
    created_at: datetime

    @classmethod
    def of(cls, found: DncList) -> "ListRead":
        return cls(
            found.id, found.name, found.kind, found.description, found.count, found.created_at
        )


@enveloped
class ListsRead(msgspec.Struct):
    items: list[ListRead]


class NewPrefix(msgspec.Struct):
    prefix: Annotated[str, Meta(max_length=40)]
    reason: Annotated[str, Meta(max_length=1000)] | None = None


@enveloped
class PrefixRead(msgspec.Struct, rename="camel"):
    id: str
    prefix: str
    reason: str | None
    created_by: str | None
    created_at: datetime

    @classmethod
    def of(cls, rule: PrefixRule) -> "PrefixRead":
        created_by = str(rule.created_by) if rule.created_by else None
        return cls(str(rule.id), rule.prefix, rule.reason, created_by, rule.created_at)


@enveloped
class PrefixesRead(msgspec.Struct):
    items: list[PrefixRead]
