"""``domain/`` imports no framework, driver or outer layer."""

import ast
from pathlib import Path

import pytest

DOMAIN = Path(__file__).resolve().parents[2] / "domain"
FORBIDDEN = {
    "litestar",
    "msgspec",
    "sqlalchemy",
    "asyncpg",
    "alembic",
    "redis",
    "arq",
    "aiosmtplib",
    "uvicorn",
    "app",
    "infra",
    "jobs",
}


def imported_roots(path: Path) -> set[str]:
    roots = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


@pytest.mark.parametrize("path", sorted(DOMAIN.glob("**/*.py")), ids=lambda p: p.name)
def test_domain_module_imports_nothing_outward(path: Path) -> None:
    assert imported_roots(path) & FORBIDDEN == set()


def test_the_check_sees_a_forbidden_import(tmp_path: Path) -> None:
    module = tmp_path / "bad.py"
    module.write_text("from infra.settings import Settings\nimport redis.asyncio\n")
    assert imported_roots(module) & FORBIDDEN == {"infra", "redis"}
