"""The mirror's administration."""

import msgspec

from app.schemas import enveloped
from domain.model import ListMirrorStatus


@enveloped
class RebuildAccepted(msgspec.Struct, rename="camel"):
    job_id: str


class LastRebuild(msgspec.Struct, rename="camel"):
    at: str
    count: int


class ListCacheStatus(msgspec.Struct, rename="camel"):
    id: str
    name: str
    ready: bool
    rebuilding: bool
    postgres_count: int
    redis_count: int | None
    last_rebuild: LastRebuild | None

    @classmethod
    def of(cls, status: ListMirrorStatus) -> "ListCacheStatus":
        state = status.state
        last = (
            LastRebuild(at=state.rebuilt_at, count=state.rebuilt_count or 0)
            if state.rebuilt_at
            else None
        )
        return cls(
            id=status.list_id,
            name=status.name,
            ready=state.ready,
            rebuilding=state.building,
            postgres_count=status.postgres,
            redis_count=status.redis,
            last_rebuild=last,
        )


@enveloped
class CacheStatus(msgspec.Struct, rename="camel"):
    """The org-wide list's mirror at the top (as before lists), and every list's in
    ``lists`` (the org-wide one first)."""

    ready: bool
    rebuilding: bool
    postgres_count: int
    redis_count: int | None
    last_rebuild: LastRebuild | None
    lists: list[ListCacheStatus]
