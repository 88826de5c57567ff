"""One typed settings object, read once from ``DNC_*`` environment variables."""

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Literal, get_args
from urllib.parse import urlsplit, urlunsplit

SmtpTls = Literal["none", "starttls", "tls"]
LogFormat = Literal["auto", "json", "text"]
PREFIX = "DNC_"


class SettingsError(ValueError):
    """An environment variable holds a value we cannot use."""


@dataclass(frozen=True, slots=True)
class Settings:
    database_url: str = "postgresql://postgres@127.0.0.1:5432/dnc"
    redis_url: str = "redis://127.0.0.1:6379/0"
    redis_prefix: str = "dnc"
    mirror_redis_cluster: str = ""
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1
    log_level: str = "INFO"
    log_format: LogFormat = "auto"
    max_body_bytes: int = 10_000_000
    body_read_timeout_seconds: float = 30.0
    db_pool_size: int = 10
    redis_pool_size: int = 64
    redis_timeout_seconds: float = 2.0
    import_concurrency: int = 2
    import_wait_seconds: float = 10.0
    token_cache_seconds: float = 30.0
    rate_limit_per_second: float = 2000.0
    rate_limit_burst: float = 4000.0
    smtp_host: str = ""
    smtp_port: int = 25
    smtp_username: str = ""
    smtp_password: str = ""
    smtp_tls: SmtpTls = "none"
    smtp_timeout_seconds: float = 10.0
    mail_from: str = "dnc@localhost"
    outbox_retry_seconds: float = 5.0
    outbox_max_retry_seconds: float = 300.0
    outbox_relay_after_seconds: float = 30.0
    reconcile_seconds: int = 60
    worker_metrics_port: int = 0
    console_session_minutes: int = 480

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> "Settings":
        env = os.environ if environ is None else environ
        values: dict[str, object] = {}
        for f in fields(cls):
            raw = env.get(PREFIX + f.name.upper())
            if raw is not None:
                values[f.name] = _convert(f.name, raw, type(f.default))
        settings = cls(**values)  # type: ignore[arg-type]
        settings.validate()
        return settings

    def validate(self) -> None:
        if urlsplit(self.database_url).scheme not in ("postgresql", "postgres"):
            raise SettingsError("DNC_DATABASE_URL must be a postgresql://user@host:port/db URL")
        if urlsplit(self.redis_url).scheme not in ("redis", "rediss"):
            raise SettingsError("DNC_REDIS_URL must be a redis://host:port/db URL")
        if self.log_format not in get_args(LogFormat):
            raise SettingsError("DNC_LOG_FORMAT must be auto, json or text")
        if self.smtp_tls not in get_args(SmtpTls):
            raise SettingsError("DNC_SMTP_TLS must be one of none, starttls, tls")
        if self.rate_limit_per_second < 0 or self.rate_limit_burst < 1:
            raise SettingsError(
                "DNC_RATE_LIMIT_PER_SECOND must be 0 (no limit) or more, "
                "and DNC_RATE_LIMIT_BURST 1 or more"
            )
        if min(
            self.body_read_timeout_seconds, self.import_concurrency, self.console_session_minutes
        ) <= 0 or (self.import_wait_seconds < 0):
            raise SettingsError(
                "DNC_BODY_READ_TIMEOUT_SECONDS, DNC_IMPORT_CONCURRENCY and "
                "DNC_CONSOLE_SESSION_MINUTES must be more than 0, "
                "and DNC_IMPORT_WAIT_SECONDS 0 or more"
            )
        _check_cluster_nodes(self.mirror_cluster_nodes)
        if not self.redis_prefix or "{" in self.redis_prefix or "}" in self.redis_prefix:
            raise SettingsError("DNC_REDIS_PREFIX must be non-empty and free of braces")

    @property
    def async_database_url(self) -> str:
        """The SQLAlchemy URL for asyncpg (the plain URL users give names no driver)."""
        parts = urlsplit(self.database_url)
        return urlunsplit(parts._replace(scheme="postgresql+asyncpg"))

    @property
    def database_name(self) -> str:
        return urlsplit(self.database_url).path.lstrip("/") or "postgres"

    @property
    def mirror_cluster_nodes(self) -> list[str]:
        return [n.strip() for n in self.mirror_redis_cluster.split(",") if n.strip()]

    @property
    def queue_name(self) -> str:
        return f"{self.redis_prefix}:queue"


def _convert(name: str, raw: str, kind: type) -> object:
    env_name = PREFIX + name.upper()
    try:
        if kind is int:
            return int(raw)
        if kind is float:
            return float(raw)
    except ValueError:
        raise SettingsError(f"{env_name} must be a number, got {raw!r}") from None
    return raw


def _check_cluster_nodes(nodes: Sequence[str]) -> None:
    for node in nodes:
        host, _, port = node.rpartition(":")
        if not host or not port.isdigit():
            raise SettingsError(
                "DNC_MIRROR_REDIS_CLUSTER must list cluster nodes as host:port,host:port"
            )
