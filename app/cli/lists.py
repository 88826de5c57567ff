"""``dnc list create|ls|delete``: an organization's named lists, as an operator sees them."""

import argparse
from uuid import UUID

from app.cli.tools import Commands, Report, Tools, group, with_tools
from domain.model import DncList
from domain.usecases.lists import all_lists, create_list, delete_list


def add_commands(commands: Commands) -> None:
    lists = group(commands, "list", "an organization's lists")
    create = lists.add_parser("create", help="create a named (campaign) list")
    create.add_argument("--org", required=True, type=UUID, help="organization id")
    create.add_argument("--name", required=True, help="the list's name (unique in the org)")
    create.add_argument("--description", help="what the list is for")
    create.set_defaults(run=with_tools(_create))
    listing = lists.add_parser("ls", help="the organization's lists, the org-wide one first")
    listing.add_argument("--org", required=True, type=UUID, help="organization id")
    listing.set_defaults(run=with_tools(_ls))
    remove = lists.add_parser(
        "delete", help="delete a named list (its entries stop blocking, kept as tombstones)"
    )
    remove.add_argument("--org", required=True, type=UUID, help="organization id")
    remove.add_argument("list_id", metavar="LIST_ID", help="the list's id")
    remove.set_defaults(run=with_tools(_delete))


def _read(found: DncList) -> dict[str, object]:
    return {
        "id": found.id,
        "name": found.name,
        "kind": found.kind,
        "description": found.description,
        "count": found.count,
        "createdAt": found.created_at.isoformat(),
    }


async def _create(tools: Tools, args: argparse.Namespace) -> Report:
    created = await create_list(
        tools.uow, tools.mirror, args.org, None, args.name, args.description
    )
    return {"listId": created.id}


async def _ls(tools: Tools, args: argparse.Namespace) -> Report:
    return {"lists": [_read(found) for found in await all_lists(tools.uow, args.org)]}


async def _delete(tools: Tools, args: argparse.Namespace) -> Report:
    deleted = await delete_list(tools.uow, tools.mirror, args.org, None, args.list_id)
    return {"listId": deleted.id, "removed": deleted.count}
