"""The shared lists an organization subscribes to."""

from datetime import datetime

import msgspec

from app.schemas import enveloped
from domain.model import SharedList


@enveloped
class SubscriptionRead(msgspec.Struct, rename="camel"):
    list_id: str
    name: str
    kind: str
    count: int
    refreshed_at: datetime | None  # when its data was fetched from its source
    fresh_until: datetime | None  # when it turns stale (None: it never vouched for numbers)
    max_age_days: int
    stale: bool

    @classmethod
    def of(cls, shared: SharedList, now: datetime) -> "SubscriptionRead":
        return cls(
            shared.id,
            shared.name,
            shared.kind,
            shared.count,
            shared.downloaded_at,
            shared.fresh_until,
            shared.max_age_days,
            shared.stale(now),
        )


@enveloped
class SubscriptionsRead(msgspec.Struct):
    items: list[SubscriptionRead]
