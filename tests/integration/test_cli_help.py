"""`dnc` explains itself: no arguments print the help, a group alone prints its commands,
`--version` says the version, every option has help text and shows a default it has, and
`serve` and `worker` point to the DNC_* settings."""

import argparse
import subprocess

from app.cli import parser
from tests.support.processes import DNC


def dnc(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([DNC, *args], capture_output=True, text=True, timeout=60, check=False)


def test_dnc_alone_prints_its_help() -> None:
    done = dnc()
    assert done.returncode == 0
    assert "usage: dnc" in done.stdout
    assert "shared-list" in done.stdout
    assert "required" not in done.stdout + done.stderr


def test_a_group_alone_prints_its_commands() -> None:
    done = dnc("token")
    assert done.returncode == 2
    assert "usage: dnc token" in done.stdout
    assert "create" in done.stdout
    assert "revoke" in done.stdout
    assert "Traceback" not in done.stderr


def test_version() -> None:
    done = dnc("--version")
    assert done.returncode == 0
    assert done.stdout.startswith("dnc 0.")


def test_options_show_their_choices_and_defaults() -> None:
    assert "--scope {full,check}" in dnc("token", "create", "--help").stdout
    assert "(default: full)" in dnc("token", "create", "--help").stdout
    assert "(default: member)" in dnc("user", "create", "--help").stdout
    for command in ("serve", "worker"):
        text = dnc(command, "--help").stdout
        assert "DNC_DATABASE_URL" in text
        assert ".env.example" in text


def test_every_option_has_help_text() -> None:
    missing = []

    def walk(command: argparse.ArgumentParser, path: str) -> None:
        for action in command._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    walk(sub, f"{path} {name}")
            elif not isinstance(action, argparse._HelpAction) and not action.help:
                missing.append(f"{path} {'/'.join(action.option_strings) or action.dest}")

    walk(parser(), "dnc")
    assert missing == []
