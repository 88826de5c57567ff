import pytest

from infra.settings import Settings, SettingsError


def test_defaults_point_at_local_services() -> None:
    settings = Settings.from_env({})
    assert settings.database_url == "postgresql://postgres@127.0.0.1:5432/dnc"
    assert settings.redis_url == "redis://127.0.0.1:6379/0"
    assert (settings.host, settings.port) == ("127.0.0.1", 8000)
    assert settings.smtp_host == ""


def test_values_come_from_dnc_variables() -> None:
    settings = Settings.from_env(
        {
            "DNC_DATABASE_URL": "postgresql://u@db:5433/x",
            "DNC_PORT": "9000",
            "DNC_SMTP_HOST": "mail",
            "DNC_REDIS_TIMEOUT_SECONDS": "0.5",
            "PORT": "1",
        }
    )
    assert settings.async_database_url == "postgresql+asyncpg://u@db:5433/x"
    assert settings.database_name == "x"
    assert settings.port == 9000
    assert settings.smtp_host == "mail"
    assert settings.redis_timeout_seconds == 0.5


@pytest.mark.parametrize(
    ("env", "fragment"),
    [
        ({"DNC_PORT": "http"}, "DNC_PORT must be a number"),
        ({"DNC_DATABASE_URL": "mysql://x"}, "DNC_DATABASE_URL"),
        ({"DNC_REDIS_URL": "http://x"}, "DNC_REDIS_URL"),
        ({"DNC_SMTP_TLS": "yes"}, "DNC_SMTP_TLS"),
        ({"DNC_REDIS_PREFIX": "a{b}"}, "DNC_REDIS_PREFIX"),
        ({"DNC_MIRROR_REDIS_CLUSTER": "127.0.0.1"}, "DNC_MIRROR_REDIS_CLUSTER"),
        ({"DNC_LOG_FORMAT": "xml"}, "DNC_LOG_FORMAT"),
        ({"DNC_RATE_LIMIT_PER_SECOND": "-1"}, "DNC_RATE_LIMIT_PER_SECOND"),
        ({"DNC_BODY_READ_TIMEOUT_SECONDS": "0"}, "DNC_BODY_READ_TIMEOUT_SECONDS"),
        ({"DNC_IMPORT_CONCURRENCY": "0"}, "DNC_IMPORT_CONCURRENCY"),
        ({"DNC_IMPORT_WAIT_SECONDS": "-1"}, "DNC_IMPORT_WAIT_SECONDS"),
    ],
)
def test_bad_values_are_named(env: dict[str, str], fragment: str) -> None:
    with pytest.raises(SettingsError, match=fragment):
        Settings.from_env(env)


def test_every_setting_is_documented_in_env_example() -> None:
    from pathlib import Path

    example = (Path(__file__).resolve().parents[2] / ".env.example").read_text()
    for name in Settings.__dataclass_fields__:
        assert f"DNC_{name.upper()}=" in example, name
