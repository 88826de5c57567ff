"""``dnc db upgrade``: create the database when it is missing, then apply migrations."""

import asyncio
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
from alembic import command
from alembic.config import Config

from infra.settings import Settings

MIGRATIONS = Path(__file__).with_name("migrations")


def alembic_config(settings: Settings) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", settings.async_database_url.replace("%", "%%"))
    return config


async def create_database_if_missing(settings: Settings) -> bool:
    """Create the database named in ``DNC_DATABASE_URL``; True if it was created."""
    name = settings.database_name
    server = urlunsplit(urlsplit(settings.database_url)._replace(path="/postgres"))
    connection = await asyncpg.connect(server)
    try:
        if await connection.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
            return False
        quoted = '"' + name.replace('"', '""') + '"'
        await connection.execute(f"CREATE DATABASE {quoted}")
        return True
    finally:
        await connection.close()


def upgrade(settings: Settings, revision: str = "head") -> bool:
    created = asyncio.run(create_database_if_missing(settings))
    command.upgrade(alembic_config(settings), revision)
    return created
