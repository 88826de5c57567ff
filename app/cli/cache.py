"""``dnc cache rebuild`` and ``dnc cache verify``: the Redis mirror, from Postgres."""

import argparse
from collections.abc import Callable
from uuid import UUID

from app.cli.progress import ProgressLine
from app.cli.tools import Commands, Report, Tools, group, with_tools
from domain.usecases.mirror_repair import every_list, rebuild_mirror, verify


def add_commands(commands: Commands) -> None:
    cache = group(commands, "cache", "the Redis mirror")
    rebuild = cache.add_parser("rebuild", help="rebuild mirrors from Postgres, with progress")
    which = rebuild.add_mutually_exclusive_group(required=True)
    which.add_argument("--org", type=UUID, help="organization id")
    which.add_argument("--all", action="store_true", help="every organization")
    rebuild.set_defaults(run=with_tools(_rebuild))
    cache.add_parser(
        "verify", help="compare every mirror with Postgres; exit 1 on drift"
    ).set_defaults(run=with_tools(_verify))


def _progress(organization_id: UUID) -> Callable[[int, int], None]:
    line = ProgressLine(f"rebuild {organization_id}", "numbers")

    def report(done: int, total: int) -> None:
        line.update(done, total, f"rebuild {organization_id}: {done}/{total} numbers")
        if done >= total:
            line.finish()

    return report


async def _rebuild(tools: Tools, args: argparse.Namespace) -> Report:
    if args.all:
        async with tools.uow:
            organizations = await tools.uow.organizations.ids()
    else:
        organizations = [args.org]
    rebuilt = []
    for organization_id in organizations:
        report = await rebuild_mirror(
            tools.uow, tools.mirror, organization_id, progress=_progress(organization_id)
        )
        rebuilt.append(
            {"orgId": str(organization_id), "numbers": report.loaded, "swapped": report.swapped}
        )
    return {"rebuilt": rebuilt}


async def _verify(tools: Tools, args: argparse.Namespace) -> Report:
    results = []
    for organization_id, list_id in await every_list(tools.uow):
        drift = await verify(tools.uow, tools.mirror, organization_id, list_id)
        results.append(
            {
                "orgId": str(organization_id),
                "listId": list_id,
                "ready": drift.ready,
                "postgres": drift.postgres,
                "redis": drift.redis,
                "missingInRedis": drift.missing_in_redis,
                "extraInRedis": drift.extra_in_redis,
                "drift": drift.drifted,
            }
        )
    return {"organizations": results, "drift": any(r["drift"] for r in results)}
