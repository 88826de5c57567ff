"""What the commands share: how one adds itself to the parser, the resources the commands on
the data work with (built by ``infra.bootstrap``), and how their result is reported: one JSON
object on stdout, or ``{"error": ...}`` on stderr and exit status 1."""

import argparse
import asyncio
import json
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, TypeAlias

from sqlalchemy.ext.asyncio import AsyncEngine

from domain.errors import DomainError
from infra.bootstrap import open_resources
from infra.db.shared_numbers import SqlSharedNumbers
from infra.db.uow import SqlUnitOfWork
from infra.failures import failure_message
from infra.redis.mirror import RedisMirror
from infra.redis.shared import RedisSharedMirror
from infra.settings import Settings
from infra.token_revocations import RedisTokenRevocations

CLI_NAME = "dnc-cli"

Commands: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"  # dnc's subcommands

Report = dict[str, Any] | None  # None: nothing to print (an export's stdout is the CSV itself)
Command = Callable[[Settings, argparse.Namespace], int]  # a parser's default ``run``


@dataclass
class Tools:
    uow: SqlUnitOfWork
    mirror: RedisMirror
    engine: AsyncEngine
    revocations: RedisTokenRevocations
    shared_mirror: RedisSharedMirror
    shared_numbers: SqlSharedNumbers


Action = Callable[[Tools, argparse.Namespace], Awaitable[Report]]


class Help(argparse.ArgumentDefaultsHelpFormatter):
    """Every option's help shows its default, where it has one worth showing."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.required or action.default in (None, False, argparse.SUPPRESS):
            return action.help
        return super()._get_help_string(action)


class Parser(argparse.ArgumentParser):
    """``dnc``'s parsers (the subcommands' too: argparse makes them of the parent's class)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", Help)
        super().__init__(*args, **kwargs)


def group(commands: Commands, name: str, help_text: str) -> Commands:
    """The subcommands of a new group ``dnc <name>``; ``dnc <name>`` alone prints its help."""
    parser = commands.add_parser(name, help=help_text, description=help_text)
    parser.set_defaults(help_of=parser)
    return parser.add_subparsers(dest="command", metavar="COMMAND")


def reporting(work: Callable[[Settings, argparse.Namespace], Report]) -> Command:
    """``work`` as a command: its result printed as JSON (exit status 1 if it reports drift),
    a :class:`DomainError` as ``{"error": ...}`` on stderr (exit status 1)."""

    def command(settings: Settings, args: argparse.Namespace) -> int:
        try:
            result = work(settings, args)
        except DomainError as exc:
            print(json.dumps({"error": exc.message}), file=sys.stderr)
            return 1
        except Exception as exc:
            message = failure_message(exc, settings)
            if message is None:
                raise
            print(json.dumps({"error": message}), file=sys.stderr)
            return 1
        if result is None:
            return 0
        print(json.dumps(result))
        return 1 if result.get("drift") else 0

    return command


def with_tools(action: Action) -> Command:
    """``action`` as a command that runs with the CLI's resources, reported."""

    def work(settings: Settings, args: argparse.Namespace) -> Report:
        async def run() -> Report:
            async with _tools(settings) as tools:
                return await action(tools, args)

        return asyncio.run(run())

    return reporting(work)


@asynccontextmanager
async def _tools(settings: Settings) -> AsyncIterator[Tools]:
    async with open_resources(settings, CLI_NAME) as resources:
        yield Tools(
            resources.uow(),
            resources.mirror,
            resources.engine,
            resources.revocations,
            resources.shared_mirror,
            resources.shared_numbers(),
        )
