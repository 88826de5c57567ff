"""``dnc org create|list``: organizations, each with its first admin and its (empty) mirror."""

import argparse
import sys

from redis.exceptions import RedisError

from app.cli.tools import Commands, Report, Tools, group, with_tools
from domain.errors import Unavailable
from domain.usecases.identity import all_organizations, create_organization
from domain.usecases.mirror_repair import rebuild_mirror


def add_commands(commands: Commands) -> None:
    orgs = group(commands, "org", "organizations")
    create = orgs.add_parser("create", help="create an organization and its first admin")
    create.add_argument("--name", required=True, help="the organization's name")
    create.add_argument(
        "--admin-email", required=True, help="the email of its first user, an admin"
    )
    create.set_defaults(run=with_tools(_create))
    listing = orgs.add_parser("list", help="every organization, oldest first")
    listing.set_defaults(run=with_tools(_list))


async def _create(tools: Tools, args: argparse.Namespace) -> Report:
    org, admin = await create_organization(tools.uow, args.name, args.admin_email)
    try:  # an empty mirror, ready at once; if Redis is away the worker builds it later
        await rebuild_mirror(tools.uow, tools.mirror, org.id)
    except (Unavailable, RedisError, OSError) as exc:
        print(f"warning: mirror not built yet ({exc}); the worker will", file=sys.stderr)
    return {"orgId": str(org.id), "userId": str(admin.id)}


async def _list(tools: Tools, args: argparse.Namespace) -> Report:
    return {
        "organizations": [
            {
                "id": str(org.id),
                "name": org.name,
                "dncEnabled": org.dnc_enabled,
                "users": org.users,
                "createdAt": org.created_at.isoformat(),
            }
            for org in await all_organizations(tools.uow)
        ]
    }
