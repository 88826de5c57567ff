"""``dnc db upgrade``: create the database if missing and apply the migrations."""

import argparse

from app.cli.tools import Commands, Report, group, reporting
from infra.settings import Settings


def add_commands(commands: Commands) -> None:
    upgrade = group(commands, "db", "database").add_parser(
        "upgrade", help="create the database if missing and apply migrations"
    )
    upgrade.set_defaults(run=reporting(_upgrade))


def _upgrade(settings: Settings, args: argparse.Namespace) -> Report:
    from infra.db.migrate import upgrade

    return {"database": settings.database_name, "created": upgrade(settings)}
