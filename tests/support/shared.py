"""Shared lists for the tests that work below the CLI: made, loaded and changed through the use
cases, from numbers given as E.164 digits (the files' reading is tested on its own, and end to
end through ``dnc shared-list``)."""

from collections.abc import AsyncIterator, Iterable
from datetime import datetime

from domain.model import ChangeChunk, NumberChunk
from domain.usecases.shared_lists import (
    LoadReport,
    apply_shared_changes,
    create_shared_list,
    load_shared_list,
)
from infra.bootstrap import Resources


async def chunks_of(numbers: Iterable[str], size: int = 1000) -> AsyncIterator[NumberChunk]:
    """The numbers as the file reader hands them over, ``size`` a chunk."""
    batch: list[str] = []
    for number in numbers:
        batch.append(number)
        if len(batch) == size:
            yield NumberChunk("".join(f"{n}\n" for n in batch).encode(), len(batch))
            batch = []
    if batch:
        yield NumberChunk("".join(f"{n}\n" for n in batch).encode(), len(batch))


async def shared_list(
    resources: Resources, name: str, kind: str = "registry", max_age_days: int | None = None
) -> str:
    created = await create_shared_list(resources.uow(), name, kind, max_age_days)
    return created.id


async def load(
    resources: Resources,
    list_id: str,
    numbers: Iterable[str],
    downloaded_at: datetime | None = None,
) -> LoadReport:
    return await load_shared_list(
        resources.uow(),
        resources.shared_numbers(),
        resources.shared_mirror,
        list_id,
        chunks_of(numbers),
        downloaded_at,
    )


async def change(
    resources: Resources,
    list_id: str,
    added: Iterable[str] = (),
    deleted: Iterable[str] = (),
    downloaded_at: datetime | None = None,
) -> LoadReport:
    chunk = ChangeChunk(tuple(added), tuple(deleted))
    return await apply_shared_changes(
        resources.uow(), resources.shared_mirror, list_id, [chunk], downloaded_at
    )
