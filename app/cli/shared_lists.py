"""``dnc shared-list create|load|apply-changes|subscribe|unsubscribe|status``: the lists no
organization writes (registries, state and litigator lists), as an operator runs them. Each
prints one JSON object; a load reports its progress on stderr."""

import argparse
import asyncio
import sys
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar
from uuid import UUID

from app.cli.progress import ProgressLine
from app.cli.tools import Commands, Report, Tools, group, with_tools
from domain.model import SHARED_LIST_KINDS, SharedList
from domain.ports import Progress
from domain.usecases.shared_lists import (
    BadLines,
    LoadReport,
    apply_shared_changes,
    create_shared_list,
    load_shared_list,
    shared_lists_status,
    subscribe,
    unsubscribe,
)
from infra.shared_files import iter_change_chunks, iter_number_chunks

T = TypeVar("T")
PROGRESS_EVERY = 1_000_000  # numbers read between two progress lines


def add_commands(commands: Commands) -> None:
    shared = group(commands, "shared-list", "shared lists: registries, state and litigator lists")
    create = shared.add_parser("create", help="create a shared list")
    create.add_argument("--name", required=True, help="the list's name (unique)")
    create.add_argument("--kind", required=True, choices=SHARED_LIST_KINDS, help="what the list is")
    create.add_argument(
        "--max-age-days", type=int, help="days its data vouches for numbers (default 31)"
    )
    create.set_defaults(run=with_tools(_create))
    load = shared.add_parser("load", help="replace a list's numbers with these files, atomically")
    load.add_argument("--list", required=True, help="the shared list's id")
    load.add_argument("--downloaded-at", type=_moment, help="when the data was fetched (now)")
    load.add_argument("files", nargs="+", type=Path, metavar="FILE", help="plain, .gz or .zip")
    load.set_defaults(run=with_tools(_load))
    change = shared.add_parser("apply-changes", help="add and delete numbers (NUMBER,A|D)")
    change.add_argument("--list", required=True, help="the shared list's id")
    change.add_argument("--downloaded-at", type=_moment, help="when the data was fetched (now)")
    change.add_argument("file", type=Path, metavar="FILE", help="plain, .gz or .zip")
    change.set_defaults(run=with_tools(_apply_changes))
    for name, action in (("subscribe", _subscribe), ("unsubscribe", _unsubscribe)):
        command = shared.add_parser(name, help=f"{name} an organization to a shared list")
        command.add_argument("--org", required=True, type=UUID, help="organization id")
        command.add_argument("--list", required=True, help="the shared list's id")
        command.set_defaults(run=with_tools(action))
    status = shared.add_parser("status", help="every shared list: size, freshness, subscribers")
    status.set_defaults(run=with_tools(_status))


def _moment(raw: str) -> datetime:
    """``--downloaded-at``: an ISO 8601 time with its timezone, or a date (midnight UTC)."""
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{raw!r} is not an ISO 8601 time or date") from None
    if moment.tzinfo is None:
        if len(raw) != len("2026-12-01"):
            raise argparse.ArgumentTypeError(f"{raw!r} needs a timezone, e.g. {raw}Z")
        moment = moment.replace(tzinfo=UTC)
    return moment


def read(shared: SharedList, subscribers: int | None = None) -> dict[str, object]:
    fresh_until = shared.fresh_until
    found: dict[str, object] = {
        "listId": shared.id,
        "name": shared.name,
        "kind": shared.kind,
        "count": shared.count,
        "maxAgeDays": shared.max_age_days,
        "downloadedAt": shared.downloaded_at.isoformat() if shared.downloaded_at else None,
        "freshUntil": fresh_until.isoformat() if fresh_until else None,
        "loadedAt": shared.loaded_at.isoformat() if shared.loaded_at else None,
        "stale": shared.stale(datetime.now(UTC)),
    }
    if subscribers is not None:
        found["subscribers"] = subscribers
    return found


def _bad(bad: BadLines) -> dict[str, object]:
    return {
        "badLines": bad.count,
        "errors": [{"file": b.file, "line": b.line, "text": b.text} for b in bad.first],
    }


def _report(report: LoadReport) -> dict[str, object]:
    return {
        **read(report.shared),
        "read": report.read,
        **_bad(report.bad),
        "mirrored": report.mirrored,
    }


async def in_thread(items: Iterator[T], size: int = 4) -> AsyncIterator[T]:
    """A blocking iterator's items (files read and parsed) made on a thread of their own,
    at most ``size`` ahead of the consumer; the thread stops when the consumer does."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[tuple[bool, object]] = asyncio.Queue(size)
    stop = False

    def produce() -> None:
        try:
            for item in items:
                if stop:
                    return
                asyncio.run_coroutine_threadsafe(queue.put((True, item)), loop).result()
            asyncio.run_coroutine_threadsafe(queue.put((False, None)), loop).result()
        except BaseException as exc:  # handed to the consumer, raised there
            asyncio.run_coroutine_threadsafe(queue.put((False, exc)), loop).result()

    producer = loop.run_in_executor(None, produce)
    try:
        while True:
            more, item = await queue.get()
            if not more:
                if isinstance(item, BaseException):
                    raise item
                break
            yield item  # type: ignore[misc]  # what ``items`` yields
    finally:
        stop = True
        while not producer.done():  # let a producer blocked on a full queue finish
            while not queue.empty():
                queue.get_nowait()
            await asyncio.sleep(0.01)


def _progress(line: ProgressLine, list_id: str) -> Progress:
    last = [0]

    def progress(done: int, _: int) -> None:
        every = done // PROGRESS_EVERY > last[0] // PROGRESS_EVERY
        line.update(done, None, f"shared list {list_id}: {done} numbers read" if every else None)
        last[0] = done

    return progress


async def _create(tools: Tools, args: argparse.Namespace) -> Report:
    created = await create_shared_list(tools.uow, args.name, args.kind, args.max_age_days)
    return {"listId": created.id, **read(created)}


async def _load(tools: Tools, args: argparse.Namespace) -> Report:
    chunks = in_thread(iter_number_chunks(args.files))
    line = ProgressLine(f"shared list {args.list}:", "numbers read")
    try:
        report = await load_shared_list(
            tools.uow,
            tools.shared_numbers,
            tools.shared_mirror,
            args.list,
            chunks,
            args.downloaded_at,
            _progress(line, args.list),
        )
    finally:
        line.finish()
    print(f"shared list {args.list}: {report.shared.count} numbers live", file=sys.stderr)
    return _report(report)


async def _apply_changes(tools: Tools, args: argparse.Namespace) -> Report:
    chunks = await asyncio.to_thread(lambda: list(iter_change_chunks([args.file])))
    report = await apply_shared_changes(
        tools.uow, tools.shared_mirror, args.list, chunks, args.downloaded_at
    )
    return {**_report(report), "added": report.added, "deleted": report.deleted}


async def _subscribe(tools: Tools, args: argparse.Namespace) -> Report:
    shared = await subscribe(tools.uow, tools.mirror, args.org, args.list)
    return {"orgId": str(args.org), "listId": shared.id, "subscribed": True}


async def _unsubscribe(tools: Tools, args: argparse.Namespace) -> Report:
    shared = await unsubscribe(tools.uow, tools.mirror, args.org, args.list)
    return {"orgId": str(args.org), "listId": shared.id, "subscribed": False}


async def _status(tools: Tools, args: argparse.Namespace) -> Report:
    lists = []
    for shared, subscribers, ready in await shared_lists_status(tools.uow, tools.shared_mirror):
        lists.append({**read(shared, subscribers), "mirrorReady": ready})
    return {"lists": lists}
