"""API.md, "Who am I", the CLI: `dnc org list`, `dnc user list --org`, `dnc token list --email`
and `dnc token rotate --token`, run as the real `dnc` command against the suite's Postgres
and Redis. Each prints one JSON object; what it cannot find is one line on stderr, exit 1.
A token listing never shows a secret or its hash; a rotation hands out a token that works,
for the same user and scope, and the old one stops working."""

import hashlib
import json
import subprocess
import uuid
from typing import Any

from litestar.testing import AsyncTestClient

from app.asgi import create_app
from infra.settings import Settings
from tests.support.helpers import Org, bearer, body
from tests.support.processes import DNC, env_of


def run(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [DNC, *args], env=env_of(settings), capture_output=True, text=True, timeout=60, check=False
    )


def dnc(settings: Settings, *args: str) -> dict[str, Any]:
    """What the command printed: exactly one JSON object on stdout, nothing on stderr."""
    done = run(settings, *args)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    lines = done.stdout.strip().splitlines()
    assert len(lines) == 1, done.stdout
    result: dict[str, Any] = json.loads(lines[0])
    return result


def refused(done: subprocess.CompletedProcess[str]) -> str:
    """The command failed the documented way: non-zero, nothing on stdout, one JSON line on
    stderr and no traceback; its message."""
    assert done.returncode != 0, done.stdout
    assert done.stdout == ""
    assert "Traceback" not in done.stderr, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    message: str = json.loads(lines[0])["error"]
    return message


async def me(settings: Settings, token: str) -> tuple[int, dict[str, Any]]:
    """What a fresh API process answers `GET /api/me` with this token."""
    async with AsyncTestClient(app=create_app(settings)) as client:
        response = await client.get("/api/me", headers=bearer(token))
        return response.status_code, body(response)


def test_org_list_shows_every_organization(settings: Settings, org: Org, other_org: Org) -> None:
    listed = dnc(settings, "org", "list")["organizations"]
    by_id = {item["id"]: item for item in listed}
    assert set(by_id) == {str(org.id), str(other_org.id)}
    assert [item["id"] for item in listed] == [str(org.id), str(other_org.id)]  # oldest first
    assert by_id[str(org.id)]["name"] == "Acme Dialing"
    assert by_id[str(org.id)]["dncEnabled"] is True
    assert by_id[str(org.id)]["users"] == 1
    assert by_id[str(org.id)]["createdAt"].endswith("+00:00")


def test_org_list_with_no_organization(settings: Settings) -> None:
    assert dnc(settings, "org", "list") == {"organizations": []}


async def test_user_list_shows_the_organizations_users_only(
    settings: Settings, org: Org, other_org: Org
) -> None:
    member_id, _ = await org.add_user("member")
    await other_org.add_user("admin")
    listed = dnc(settings, "user", "list", "--org", str(org.id))
    assert listed["orgId"] == str(org.id)
    assert [(u["id"], u["role"]) for u in listed["users"]] == [
        (str(org.admin_id), "admin"),
        (str(member_id), "member"),
    ]
    assert listed["users"][0]["email"] == org.admin_email
    assert dnc(settings, "org", "list")["organizations"][0]["users"] == 2


def test_user_list_of_an_unknown_organization(settings: Settings, org: Org) -> None:
    unknown = str(uuid.uuid4())
    assert unknown in refused(run(settings, "user", "list", "--org", unknown))


async def test_token_list_never_shows_a_secret_or_its_hash(settings: Settings, org: Org) -> None:
    check = await org.token_for(org.admin_email, "check")
    assert dnc(settings, "token", "revoke", "--token", check) == {"revoked": True}
    done = run(settings, "token", "list", "--email", org.admin_email.upper())
    for secret in (org.token, check):
        assert secret not in done.stdout
        assert hashlib.sha256(secret.encode()).hexdigest() not in done.stdout
    listed = dnc(settings, "token", "list", "--email", org.admin_email.upper())
    assert (listed["userId"], listed["email"], listed["orgId"]) == (
        str(org.admin_id),
        org.admin_email,
        str(org.id),
    )
    tokens = sorted(listed["tokens"], key=lambda t: t["scope"])
    assert set(tokens[0]) == {"id", "scope", "createdAt", "revoked", "revokedAt"}
    assert [(t["scope"], t["revoked"]) for t in tokens] == [("check", True), ("full", False)]
    assert tokens[0]["revokedAt"] is not None
    assert tokens[1]["revokedAt"] is None
    assert (await me(settings, org.token))[0] == 200  # the live one listed is that one


def test_token_list_of_an_unknown_email(settings: Settings, org: Org) -> None:
    message = refused(run(settings, "token", "list", "--email", "nobody@example.test"))
    assert "nobody@example.test" in message
    assert "not an email address" in refused(run(settings, "token", "list", "--email", "nope"))


async def test_token_rotate_issues_a_working_token_and_revokes_the_old_one(
    settings: Settings, org: Org
) -> None:
    _, check_token = await org.add_user("member", scope="check")
    status, before = await me(settings, check_token)
    assert status == 200

    rotated = dnc(settings, "token", "rotate", "--token", f"  {check_token}\n")
    assert rotated["token"] != check_token
    assert rotated["token"].startswith("dnc_")
    assert rotated["scope"] == "check"
    assert rotated["userId"] == before["data"]["user"]["id"]

    status, after = await me(settings, rotated["token"])
    assert status == 200
    assert after["data"] == before["data"]  # same organization, user and scope
    status, _ = await me(settings, check_token)
    assert status == 401

    tokens = dnc(settings, "token", "list", "--email", before["data"]["user"]["email"])["tokens"]
    by_id = {t["id"]: t for t in tokens}
    assert by_id[rotated["revokedTokenId"]]["revoked"] is True
    assert by_id[rotated["tokenId"]]["revoked"] is False
    assert len(by_id) == 2

    # the old token cannot be rotated again, nor revoked: it is dead
    assert "No live token" in refused(run(settings, "token", "rotate", "--token", check_token))
    assert "No live token" in refused(run(settings, "token", "revoke", "--token", check_token))
    status, _ = await me(settings, rotated["token"])
    assert status == 200


def test_token_rotate_of_an_unknown_token(settings: Settings, org: Org) -> None:
    assert "No live token" in refused(run(settings, "token", "rotate", "--token", "dnc_nope"))


async def test_two_rotations_of_one_token_at_once_issue_one_token(
    settings: Settings, org: Org
) -> None:
    """Two operators (or a retried script) rotate the same token at the same moment: one
    new token, never two live successors."""
    processes = [
        subprocess.Popen(
            [DNC, "token", "rotate", "--token", org.token],
            env=env_of(settings),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    results = []
    for process in processes:
        stdout, stderr = process.communicate(timeout=60)
        results.append(
            subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)
        )
    succeeded = [r for r in results if r.returncode == 0]
    assert len(succeeded) == 1, [r.stderr for r in results]
    for failed in results:
        if failed.returncode != 0:
            assert "No live token" in refused(failed)
    tokens = dnc(settings, "token", "list", "--email", org.admin_email)["tokens"]
    assert sorted(t["revoked"] for t in tokens) == [False, True]
    new_token = json.loads(succeeded[0].stdout)["token"]
    assert (await me(settings, new_token))[0] == 200


def test_the_new_commands_explain_themselves(settings: Settings) -> None:
    for group, commands in (("org", "list"), ("user", "list"), ("token", "list")):
        assert commands in run(settings, group).stdout
    assert "rotate" in run(settings, "token").stdout
    assert "--org ORG" in run(settings, "user", "list", "--help").stdout
    assert "--email EMAIL" in run(settings, "token", "list", "--help").stdout
    assert "--token TOKEN" in run(settings, "token", "rotate", "--help").stdout
