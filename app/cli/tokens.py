"""``dnc token create`` and ``dnc token revoke``: API tokens."""

import argparse
import sys

from app.cli.tools import Commands, Report, Tools, group, with_tools
from domain.model import SCOPES
from domain.usecases.identity import create_token, revoke_token


def add_commands(commands: Commands) -> None:
    tokens = group(commands, "token", "API tokens")
    create = tokens.add_parser("create", help="issue a token for a user (shown once)")
    create.add_argument("--email", required=True, help="the user the token acts as")
    create.add_argument(
        "--scope", choices=SCOPES, default="full", help="check: the check endpoints only"
    )
    create.set_defaults(run=with_tools(_create))
    revoke = tokens.add_parser("revoke", help="revoke a token")
    revoke.add_argument("--token", required=True, help="the token to revoke")
    revoke.set_defaults(run=with_tools(_revoke))


async def _create(tools: Tools, args: argparse.Namespace) -> Report:
    return {"token": await create_token(tools.uow, args.email, args.scope)}


async def _revoke(tools: Tools, args: argparse.Namespace) -> Report:
    if not await revoke_token(tools.uow, tools.revocations, args.token):
        print(
            "warning: the token is revoked, but the API processes were not told (Redis "
            "unreachable from here). Those that cannot reach Redis either refuse it within a "
            "second; one that can may accept it for up to DNC_TOKEN_CACHE_SECONDS",
            file=sys.stderr,
        )
    return {"revoked": True}
