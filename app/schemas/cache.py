"""The mirror's administration."""

import msgspec

from app.schemas import enveloped


@enveloped
class RebuildAccepted(msgspec.Struct, rename="camel"):
    job_id: str


class LastRebuild(msgspec.Struct, rename="camel"):
    at: str
    count: int


@enveloped
class CacheStatus(msgspec.Struct, rename="camel"):
    ready: bool
    rebuilding: bool
    postgres_count: int
    redis_count: int | None
    last_rebuild: LastRebuild | None
