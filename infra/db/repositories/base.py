"""What every repository shares: the session it runs in (none commits)."""

from collections.abc import Sequence

from sqlalchemy import ARRAY, BindParameter, Text, bindparam
from sqlalchemy.ext.asyncio import AsyncSession


class Repository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session


def texts(values: Sequence[str]) -> BindParameter[list[str]]:
    """One array parameter, however many values (Postgres takes at most 32,767 parameters)."""
    return bindparam(None, list(values), type_=ARRAY(Text()))  # type: ignore[arg-type]
