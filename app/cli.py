"""The ``dnc`` command: provisioning, migrations, the mirror, and the two processes."""

import argparse
import asyncio
import json
import logging
import logging.config
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from redis.exceptions import RedisError
from sqlalchemy.ext.asyncio import AsyncEngine

from domain.errors import DomainError, Unavailable
from domain.model import ROLES, SCOPES
from domain.usecases.identity import create_organization, create_token, create_user, revoke_token
from domain.usecases.mirror_repair import rebuild_mirror, verify
from domain.usecases.transfer import process_waited
from infra.bootstrap import open_resources
from infra.db.copy import export_csv, stage_import
from infra.db.imports import SqlListTransfers
from infra.db.uow import SqlUnitOfWork
from infra.logs import logging_config
from infra.redis.mirror import RedisMirror
from infra.settings import Settings, SettingsError
from infra.token_revocations import RedisTokenRevocations

CLI_NAME = "dnc-cli"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dnc", description="DNC list service")
    commands = parser.add_subparsers(dest="group", required=True)

    def group(name: str, help_text: str) -> Any:
        return commands.add_parser(name, help=help_text).add_subparsers(
            dest="command", required=True
        )

    group("db", "database").add_parser(
        "upgrade", help="create the database if missing and apply migrations"
    )

    org_create = group("org", "organizations").add_parser(
        "create", help="create an organization and its first admin"
    )
    org_create.add_argument("--name", required=True)
    org_create.add_argument("--admin-email", required=True)

    user_create = group("user", "users").add_parser("create", help="add a user to an organization")
    user_create.add_argument("--org", required=True, type=UUID, help="organization id")
    user_create.add_argument("--email", required=True)
    user_create.add_argument("--role", choices=ROLES, default="member")

    tokens = group("token", "API tokens")
    token_create = tokens.add_parser("create", help="issue a token for a user (shown once)")
    token_create.add_argument("--email", required=True)
    token_create.add_argument("--scope", choices=SCOPES, default="full")
    token_revoke = tokens.add_parser("revoke", help="revoke a token")
    token_revoke.add_argument("--token", required=True)

    cache = group("cache", "the Redis mirror")
    rebuild = cache.add_parser("rebuild", help="rebuild mirrors from Postgres, with progress")
    which = rebuild.add_mutually_exclusive_group(required=True)
    which.add_argument("--org", type=UUID, help="organization id")
    which.add_argument("--all", action="store_true", help="every organization")
    cache.add_parser("verify", help="compare every mirror with Postgres; exit 1 on drift")

    importing = commands.add_parser("import", help="import a CSV file, with progress")
    importing.add_argument("--org", required=True, type=UUID, help="organization id")
    importing.add_argument("file", help="CSV with a header: phoneNumber[,type][,expiresAt]")
    exporting = commands.add_parser("export", help="write the list as CSV to stdout")
    exporting.add_argument("--org", required=True, type=UUID, help="organization id")

    commands.add_parser("serve", help="run the API (DNC_HOST:DNC_PORT, DNC_WORKERS processes)")
    commands.add_parser("worker", help="run the background worker")
    commands.add_parser(
        "run", help="run the API and the worker, each started again if it dies (make run)"
    )
    return parser


@dataclass
class Tools:
    uow: SqlUnitOfWork
    mirror: RedisMirror
    engine: AsyncEngine
    revocations: RedisTokenRevocations


@asynccontextmanager
async def _tools(settings: Settings) -> AsyncIterator[Tools]:
    async with open_resources(settings, CLI_NAME) as resources:
        yield Tools(resources.uow(), resources.mirror, resources.engine, resources.revocations)


def _progress(organization_id: UUID) -> Callable[[int, int], None]:
    def report(done: int, total: int) -> None:
        print(f"rebuild {organization_id}: {done}/{total} numbers", file=sys.stderr, flush=True)

    return report


async def _org_create(tools: Tools, args: argparse.Namespace) -> dict[str, Any]:
    org, admin = await create_organization(tools.uow, args.name, args.admin_email)
    try:  # an empty mirror, ready at once; if Redis is away the worker builds it later
        await rebuild_mirror(tools.uow, tools.mirror, org.id)
    except (Unavailable, RedisError, OSError) as exc:
        print(f"warning: mirror not built yet ({exc}); the worker will", file=sys.stderr)
    return {"orgId": str(org.id), "userId": str(admin.id)}


async def _user_create(tools: Tools, args: argparse.Namespace) -> dict[str, Any]:
    user = await create_user(tools.uow, args.org, args.email, args.role)
    return {"userId": str(user.id)}


async def _token_create(tools: Tools, args: argparse.Namespace) -> dict[str, Any]:
    return {"token": await create_token(tools.uow, args.email, args.scope)}


async def _token_revoke(tools: Tools, args: argparse.Namespace) -> dict[str, Any]:
    if not await revoke_token(tools.uow, tools.revocations, args.token):
        print(
            "warning: the token is revoked, but the API processes were not told (Redis "
            "unreachable from here). Those that cannot reach Redis either refuse it within a "
            "second; one that can may accept it for up to DNC_TOKEN_CACHE_SECONDS",
            file=sys.stderr,
        )
    return {"revoked": True}


async def _cache_rebuild(tools: Tools, args: argparse.Namespace) -> dict[str, Any]:
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


async def _cache_verify(tools: Tools, args: argparse.Namespace) -> dict[str, Any]:
    async with tools.uow:
        organizations = await tools.uow.organizations.ids()
    results = []
    for organization_id in organizations:
        drift = await verify(tools.uow, tools.mirror, organization_id)
        results.append(
            {
                "orgId": str(organization_id),
                "ready": drift.ready,
                "postgres": drift.postgres,
                "redis": drift.redis,
                "missingInRedis": drift.missing_in_redis,
                "extraInRedis": drift.extra_in_redis,
                "drift": drift.drifted,
            }
        )
    return {"organizations": results, "drift": any(r["drift"] for r in results)}


async def _file_chunks(path: str) -> AsyncIterator[bytes]:
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            yield chunk


async def _import(tools: Tools, args: argparse.Namespace) -> dict[str, Any]:
    import_id, rows = await stage_import(tools.engine, args.org, None, _file_chunks(args.file))
    print(f"import {import_id}: {rows} rows staged", file=sys.stderr, flush=True)

    def progress(done: int, total: int) -> None:
        print(f"import {import_id}: {done}/{total} rows checked", file=sys.stderr, flush=True)

    report = await process_waited(SqlListTransfers(tools.engine), tools.mirror, import_id, progress)
    return {
        "importId": str(report.id),
        "rows": report.rows,
        "added": report.added,
        "duplicate": report.duplicate,
        "invalid": report.invalid,
        "errors": report.errors,
    }


async def _export(tools: Tools, args: argparse.Namespace) -> dict[str, Any]:
    rows = 0
    out = sys.stdout.buffer
    async for chunk in export_csv(tools.engine, args.org):
        out.write(chunk)
        before, rows = rows, rows + chunk.count(b"\n")
        if rows // 100_000 > before // 100_000:
            print(f"export: {rows - 1} rows", file=sys.stderr, flush=True)
    out.flush()
    print(f"export: {max(rows - 1, 0)} rows in all", file=sys.stderr, flush=True)
    return {}


Action = Callable[[Tools, argparse.Namespace], Awaitable[dict[str, Any]]]
ACTIONS: dict[tuple[str, str | None], Action] = {
    ("org", "create"): _org_create,
    ("user", "create"): _user_create,
    ("token", "create"): _token_create,
    ("token", "revoke"): _token_revoke,
    ("cache", "rebuild"): _cache_rebuild,
    ("cache", "verify"): _cache_verify,
    ("import", None): _import,
    ("export", None): _export,
}


def _serve(settings: Settings) -> None:
    import uvicorn

    uvicorn.run(
        "app.asgi:create_server_app",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        log_level=settings.log_level.lower(),
        log_config=logging_config(settings.log_level, settings.log_format),  # every worker
        access_log=False,
    )


def _worker(settings: Settings) -> None:
    from jobs.worker import build_worker

    build_worker(settings).run()


def _run(settings: Settings, args: argparse.Namespace) -> dict[str, Any]:
    if args.group == "db":
        from infra.db.migrate import upgrade

        return {"database": settings.database_name, "created": upgrade(settings)}
    action = ACTIONS[(args.group, getattr(args, "command", None))]

    async def run() -> dict[str, Any]:
        async with _tools(settings) as tools:
            return await action(tools, args)

    return asyncio.run(run())


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        print(json.dumps({"error": str(exc)}), file=sys.stderr)
        return 2
    logging.config.dictConfig(logging_config(settings.log_level, settings.log_format))
    if args.group == "serve":
        _serve(settings)
        return 0
    if args.group == "worker":
        _worker(settings)
        return 0
    if args.group == "run":
        from app.supervisor import supervise

        return supervise(settings)
    try:
        result = _run(settings, args)
    except DomainError as exc:
        print(json.dumps({"error": exc.message}), file=sys.stderr)
        return 1
    if args.group != "export":  # an export's stdout is the CSV itself
        print(json.dumps(result))
    return 1 if result.get("drift") else 0


if __name__ == "__main__":
    sys.exit(main())
