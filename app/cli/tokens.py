"""``dnc token create|list|revoke|rotate``: API tokens."""

import argparse
import sys

from app.cli.tools import Commands, Report, Tools, group, with_tools
from domain.model import SCOPES, TokenRecord
from domain.usecases.identity import create_token, revoke_token, rotate_token, tokens_of


def add_commands(commands: Commands) -> None:
    tokens = group(commands, "token", "API tokens")
    create = tokens.add_parser("create", help="issue a token for a user (shown once)")
    create.add_argument("--email", required=True, help="the user the token acts as")
    create.add_argument(
        "--scope", choices=SCOPES, default="full", help="check: the check endpoints only"
    )
    create.set_defaults(run=with_tools(_create))
    listing = tokens.add_parser(
        "list", help="a user's tokens, live and revoked (never the secret or its hash)"
    )
    listing.add_argument("--email", required=True, help="the user whose tokens to list")
    listing.set_defaults(run=with_tools(_list))
    revoke = tokens.add_parser("revoke", help="revoke a token")
    revoke.add_argument("--token", required=True, help="the token to revoke")
    revoke.set_defaults(run=with_tools(_revoke))
    rotate = tokens.add_parser(
        "rotate", help="issue a new token with the same user and scope, and revoke this one"
    )
    rotate.add_argument("--token", required=True, help="the live token to replace")
    rotate.set_defaults(run=with_tools(_rotate))


async def _create(tools: Tools, args: argparse.Namespace) -> Report:
    return {"token": await create_token(tools.uow, args.email, args.scope)}


def _read(token: TokenRecord) -> dict[str, object]:
    return {
        "id": str(token.id),
        "scope": token.scope,
        "createdAt": token.created_at.isoformat(),
        "revoked": token.revoked_at is not None,
        "revokedAt": token.revoked_at.isoformat() if token.revoked_at else None,
    }


async def _list(tools: Tools, args: argparse.Namespace) -> Report:
    user, tokens = await tokens_of(tools.uow, args.email)
    return {
        "userId": str(user.id),
        "email": user.email,
        "orgId": str(user.organization_id),
        "tokens": [_read(token) for token in tokens],
    }


async def _revoke(tools: Tools, args: argparse.Namespace) -> Report:
    if not await revoke_token(tools.uow, tools.revocations, args.token):
        _warn_not_announced()
    return {"revoked": True}


async def _rotate(tools: Tools, args: argparse.Namespace) -> Report:
    rotated = await rotate_token(tools.uow, tools.revocations, args.token)
    if not rotated.announced:
        _warn_not_announced()
    return {
        "token": rotated.token,
        "tokenId": str(rotated.token_id),
        "scope": rotated.scope,
        "userId": str(rotated.user.id),
        "email": rotated.user.email,
        "revokedTokenId": str(rotated.revoked_token_id),
    }


def _warn_not_announced() -> None:
    print(
        "warning: the token is revoked, but the API processes were not told (Redis "
        "unreachable from here). Those that cannot reach Redis either refuse it within a "
        "second; one that can may accept it for up to DNC_TOKEN_CACHE_SECONDS",
        file=sys.stderr,
    )
