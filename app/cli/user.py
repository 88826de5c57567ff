"""``dnc user create``: a user of an organization."""

import argparse
from uuid import UUID

from app.cli.tools import Commands, Report, Tools, group, with_tools
from domain.model import ROLES
from domain.usecases.identity import create_user


def add_commands(commands: Commands) -> None:
    create = group(commands, "user", "users").add_parser(
        "create", help="add a user to an organization"
    )
    create.add_argument("--org", required=True, type=UUID, help="organization id")
    create.add_argument("--email", required=True, help="the user's email address")
    create.add_argument(
        "--role", choices=ROLES, default="member", help="admin: may also switch DNC, rebuild"
    )
    create.set_defaults(run=with_tools(_create))


async def _create(tools: Tools, args: argparse.Namespace) -> Report:
    user = await create_user(tools.uow, args.org, args.email, args.role)
    return {"userId": str(user.id)}
