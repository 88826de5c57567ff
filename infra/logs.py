"""Logs: human-readable lines on a terminal, one JSON object a line otherwise
(``DNC_LOG_FORMAT`` = ``auto``, the default; ``text`` or ``json`` to choose), each saying
which process wrote it (``dnc-api``, ``dnc-worker``, ``dnc-<command>`` and its pid) and the id
of the request being handled.

``REQUEST_ID`` is set by the API for each request (``app.layers.request_ids``) and read by the
formatters, so every line a request causes, in any module, names it. Phone numbers and tokens
are not logged: lines name organizations, entries and imports by id, and the access line
names the route's template, never the path or the query. The worker's periodic jobs log at
debug, unless a run did something (its result is not 0 or empty).
"""

import json
import logging
import sys
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

REQUEST_ID: ContextVar[str | None] = ContextVar("request_id", default=None)
ACCESS = "dnc.access"  # the logger of the API's one line per request
_NOTHING_DONE = frozenset({"0", "None", "", "[]", "{}", "()"})


class JsonFormatter(logging.Formatter):
    def __init__(self, process_name: str = "dnc") -> None:
        super().__init__()
        self.process_name = process_name

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "process": self.process_name,
            "pid": record.process,
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = REQUEST_ID.get()
        if request_id is not None:
            entry["requestId"] = request_id
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """``2026-12-01 10:03:00,123 INFO  dnc-api[4242] dnc.access: GET /health 200 0.4 ms
    [request 1f2e...]``"""

    def __init__(self, process_name: str = "dnc") -> None:
        super().__init__(
            f"%(asctime)s %(levelname)-7s {process_name}[%(process)d] %(name)s: %(message)s"
        )

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        request_id = REQUEST_ID.get()
        return line if request_id is None else f"{line} [request {request_id}]"


class QuietPeriodicJobs(logging.Filter):
    """arq's lines about the worker's periodic jobs (``cron:...``) and its health records go
    to debug, except the end of a run that did something."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name != "arq.worker" or record.levelno != logging.INFO:
            return True
        args = record.args if isinstance(record.args, tuple) else ()
        periodic = len(args) >= 2 and isinstance(args[1], str) and args[1].startswith("cron:")
        finished = periodic and "\u2190" in str(record.msg)  # arq's "<-" (the run ended)
        did_something = finished and len(args) >= 3 and str(args[2]) not in _NOTHING_DONE
        health = str(record.msg).startswith("recording health")
        if (periodic and not did_something) or health:
            record.levelno, record.levelname = logging.DEBUG, "DEBUG"
            return logging.getLogger().isEnabledFor(logging.DEBUG)
        return True


def resolved_format(log_format: str) -> str:
    """``auto``: text on a terminal, JSON otherwise."""
    if log_format == "auto":
        return "text" if sys.stderr.isatty() else "json"
    return log_format


def logging_config(level: str, log_format: str, process_name: str = "dnc") -> dict[str, Any]:
    """A ``logging.config.dictConfig`` for the CLI, the worker and every uvicorn process."""
    formatter = "JsonFormatter" if resolved_format(log_format) == "json" else "TextFormatter"
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"default": {"()": f"infra.logs.{formatter}", "process_name": process_name}},
        "filters": {"periodic": {"()": "infra.logs.QuietPeriodicJobs"}},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "formatter": "default",
                "filters": ["periodic"],
                "stream": "ext://sys.stderr",
            }
        },
        "root": {"level": level.upper(), "handlers": ["stderr"]},
        "loggers": {
            "alembic.runtime.plugins": {"level": "WARNING"},
            "uvicorn.access": {"level": "WARNING"},
        },
    }
