"""The ``dnc`` command: provisioning, migrations, and the two processes."""

import argparse
import asyncio
import json
import logging
import sys
from collections.abc import Awaitable, Callable
from typing import Any
from uuid import UUID

from domain.errors import DomainError
from domain.model import ROLES, SCOPES
from domain.services import create_organization, create_token, create_user
from infra.db.uow import SqlUnitOfWork, create_engine, create_sessionmaker
from infra.settings import Settings, SettingsError

CLI_NAME = "dnc-cli"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dnc", description="DNC list service")
    commands = parser.add_subparsers(dest="group", required=True)

    db = commands.add_parser("db", help="database").add_subparsers(dest="command", required=True)
    db.add_parser("upgrade", help="create the database if missing and apply migrations")

    org = commands.add_parser("org", help="organizations").add_subparsers(
        dest="command", required=True
    )
    org_create = org.add_parser("create", help="create an organization and its first admin")
    org_create.add_argument("--name", required=True)
    org_create.add_argument("--admin-email", required=True)

    user = commands.add_parser("user", help="users").add_subparsers(dest="command", required=True)
    user_create = user.add_parser("create", help="add a user to an organization")
    user_create.add_argument("--org", required=True, type=UUID, help="organization id")
    user_create.add_argument("--email", required=True)
    user_create.add_argument("--role", choices=ROLES, default="member")

    token = commands.add_parser("token", help="API tokens").add_subparsers(
        dest="command", required=True
    )
    token_create = token.add_parser("create", help="issue a token for a user (shown once)")
    token_create.add_argument("--email", required=True)
    token_create.add_argument("--scope", choices=SCOPES, default="full")

    commands.add_parser("serve", help="run the API (DNC_HOST:DNC_PORT, DNC_WORKERS processes)")
    commands.add_parser("worker", help="run the background worker")
    return parser


def _with_uow(
    settings: Settings, action: Callable[[SqlUnitOfWork], Awaitable[dict[str, Any]]]
) -> dict[str, Any]:
    async def run() -> dict[str, Any]:
        engine = create_engine(settings, CLI_NAME)
        try:
            return await action(SqlUnitOfWork(create_sessionmaker(engine)))
        finally:
            await engine.dispose()

    return asyncio.run(run())


async def _org_create(uow: SqlUnitOfWork, args: argparse.Namespace) -> dict[str, Any]:
    org, admin = await create_organization(uow, args.name, args.admin_email)
    return {"orgId": str(org.id), "userId": str(admin.id)}


async def _user_create(uow: SqlUnitOfWork, args: argparse.Namespace) -> dict[str, Any]:
    user = await create_user(uow, args.org, args.email, args.role)
    return {"userId": str(user.id)}


async def _token_create(uow: SqlUnitOfWork, args: argparse.Namespace) -> dict[str, Any]:
    return {"token": await create_token(uow, args.email, args.scope)}


ACTIONS = {
    ("org", "create"): _org_create,
    ("user", "create"): _user_create,
    ("token", "create"): _token_create,
}


def _serve(settings: Settings) -> None:
    import uvicorn

    uvicorn.run(
        "app.asgi:create_app",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        log_level=settings.log_level.lower(),
        access_log=False,
    )


def _worker(settings: Settings) -> None:
    from jobs.worker import build_worker

    build_worker(settings).run()


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        print(json.dumps({"error": str(exc)}), file=sys.stderr)
        return 2
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
    if args.group == "serve":
        _serve(settings)
        return 0
    if args.group == "worker":
        _worker(settings)
        return 0
    try:
        if args.group == "db":
            from infra.db.migrate import upgrade

            created = upgrade(settings)
            result: dict[str, Any] = {"database": settings.database_name, "created": created}
        else:
            action = ACTIONS[(args.group, args.command)]
            result = _with_uow(settings, lambda uow: action(uow, args))
    except DomainError as exc:
        print(json.dumps({"error": exc.message}), file=sys.stderr)
        return 1
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
