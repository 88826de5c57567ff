"""``dnc serve``, ``dnc worker`` and ``dnc run`` (both, supervised: ``app.cli.supervisor``)."""

import argparse

from app.cli.supervisor import supervise
from app.cli.tools import Commands
from infra.logs import logging_config
from infra.settings import Settings

SETTINGS = (
    "Every DNC_* setting, with its default and what it does, is in .env.example and in the "
    "README's Configuration section."
)


def add_commands(commands: Commands) -> None:
    commands.add_parser(
        "serve",
        help="run the API (DNC_HOST:DNC_PORT, DNC_WORKERS processes)",
        description="Run the API. It reads its settings from DNC_* environment variables: "
        "DNC_DATABASE_URL, DNC_REDIS_URL, DNC_HOST, DNC_PORT, DNC_WORKERS, DNC_LOG_LEVEL, "
        "DNC_LOG_FORMAT and more.",
        epilog=SETTINGS,
    ).set_defaults(run=_serve)
    commands.add_parser(
        "worker",
        help="run the background worker",
        description="Run the background worker (jobs, the outbox, the mirror's syncs and "
        "reconciliation). It reads its settings from DNC_* environment variables: "
        "DNC_DATABASE_URL, DNC_REDIS_URL, DNC_SMTP_HOST, DNC_RECONCILE_SECONDS, "
        "DNC_WORKER_METRICS_PORT, DNC_LOG_LEVEL and more.",
        epilog=SETTINGS,
    ).set_defaults(run=_worker)
    commands.add_parser(
        "run", help="run the API and the worker, each started again if it dies (make run)"
    ).set_defaults(run=_run)


def _serve(settings: Settings, args: argparse.Namespace) -> int:
    import uvicorn

    uvicorn.run(
        "app.asgi:create_server_app",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        log_level=settings.log_level.lower(),
        log_config=logging_config(settings.log_level, settings.log_format, "dnc-api"),  # each
        access_log=False,
    )
    return 0


def _worker(settings: Settings, args: argparse.Namespace) -> int:
    from jobs.worker import build_worker

    build_worker(settings).run()
    return 0


def _run(settings: Settings, args: argparse.Namespace) -> int:
    return supervise(settings)
