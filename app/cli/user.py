"""``dnc user create|list``: the users of an organization."""

import argparse
from uuid import UUID

from app.cli.tools import Commands, Report, Tools, group, with_tools
from domain.model import ROLES
from domain.usecases.identity import create_user, users_of


def add_commands(commands: Commands) -> None:
    users = group(commands, "user", "users")
    create = users.add_parser("create", help="add a user to an organization")
    create.add_argument("--org", required=True, type=UUID, help="organization id")
    create.add_argument("--email", required=True, help="the user's email address")
    create.add_argument(
        "--role", choices=ROLES, default="member", help="admin: may also switch DNC, rebuild"
    )
    create.set_defaults(run=with_tools(_create))
    listing = users.add_parser("list", help="an organization's users, oldest first")
    listing.add_argument("--org", required=True, type=UUID, help="organization id")
    listing.set_defaults(run=with_tools(_list))


async def _create(tools: Tools, args: argparse.Namespace) -> Report:
    user = await create_user(tools.uow, args.org, args.email, args.role)
    return {"userId": str(user.id)}


async def _list(tools: Tools, args: argparse.Namespace) -> Report:
    return {
        "orgId": str(args.org),
        "users": [
            {
                "id": str(user.id),
                "email": user.email,
                "role": user.role,
                "createdAt": user.created_at.isoformat(),
            }
            for user in await users_of(tools.uow, args.org)
        ],
    }
