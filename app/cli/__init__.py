"""The ``dnc`` command: provisioning, migrations, the mirror, and the two processes.

One module per command group, each adding its commands to the parser: ``db``, ``org``,
``user``, ``lists`` (the ``list`` group), ``shared_lists`` (``shared-list``), ``tokens`` (the
``token`` group; a module named ``token`` would shadow the standard library's), ``cache``,
``transfer`` (``import`` and ``export``) and ``processes`` (``serve``, ``worker`` and ``run``,
whose supervisor is ``supervisor``). What the commands on the data share (their resources, one
JSON object on stdout) is in ``tools``.
"""

import argparse
import json
import logging.config
import sys
from importlib import metadata

from app.cli import cache, db, lists, org, processes, shared_lists, tokens, transfer, user
from app.cli.tools import Parser
from infra.logs import logging_config
from infra.settings import Settings, SettingsError

GROUPS = (db, org, user, tokens, lists, shared_lists, cache, transfer, processes)


def parser() -> argparse.ArgumentParser:
    parser = Parser(prog="dnc", description="DNC list service")
    parser.add_argument("--version", action="version", version=f"%(prog)s {version()}")
    parser.set_defaults(help_of=parser)
    commands = parser.add_subparsers(dest="group", metavar="COMMAND")
    for group in GROUPS:
        group.add_commands(commands)
    return parser


def version() -> str:
    try:
        return metadata.version("dnc-service")
    except metadata.PackageNotFoundError:  # run from a checkout that was never installed
        return "unknown"


def process_name(args: argparse.Namespace) -> str:
    """What this process's log lines call it: ``dnc-api``, ``dnc-worker``, ``dnc-<group>``."""
    return {"serve": "dnc-api", "worker": "dnc-worker"}.get(args.group, f"dnc-{args.group}")


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if getattr(args, "run", None) is None:  # `dnc`, or a group without its command: its help
        args.help_of.print_help()
        return 0 if args.group is None else 2
    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        print(json.dumps({"error": str(exc)}), file=sys.stderr)
        return 2
    logging.config.dictConfig(
        logging_config(settings.log_level, settings.log_format, process_name(args))
    )
    exit_status: int = args.run(settings, args)
    return exit_status
