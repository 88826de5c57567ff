"""The console in a real browser, as a person who has never seen the project would use it:
sign in with an API token, find a number, read its evidence and play its recording, remove
it with a reason, import a file and watch it progress, switch DNC off and on, sign out; and
no request leaves the service but the recording the person chose to play."""

import io
import os
import threading
import wave
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, Request, expect

from tests.support.helpers import Client, Org, add_body, body, is_blocked, seed_call

CALLED = "12125551234"  # the number of the call seeded by seed_call
SCREENSHOTS = os.environ.get("DNC_CONSOLE_SCREENSHOTS")  # a folder: the README's pictures
IMPORT_ROWS = 60_000  # more than the API imports inline (50,000): the worker does it


def one_second_of_silence() -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as audio:
        audio.setnchannels(1)
        audio.setsampwidth(2)
        audio.setframerate(8000)
        audio.writeframes(b"\x00\x00" * 8000)
    return out.getvalue()


@pytest.fixture
def recordings() -> Iterator[str]:
    """Where the calling platform keeps its recordings: another server, on loopback."""
    sound = one_second_of_silence()

    class Recording(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "audio/wav")
            self.send_header("Content-Length", str(len(sound)))
            self.end_headers()
            self.wfile.write(sound)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Recording)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)


async def shoot(page: Page, name: str) -> None:
    if SCREENSHOTS:
        Path(SCREENSHOTS).mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=str(Path(SCREENSHOTS) / f"{name}.png"), full_page=True)


async def sign_in(page: Page, base_url: str, token: str) -> None:
    await page.goto(f"{base_url}/console")
    await expect(page).to_have_url(f"{base_url}/console/login")
    await page.get_by_label("API token").fill(token)
    await page.get_by_role("button", name="Sign in").click()


async def test_a_newcomer_signs_in_finds_reads_removes_imports_and_switches(
    browser: Browser,
    base_url: str,
    recordings: str,
    client: Client,
    org: Org,
    tmp_path: Path,
) -> None:
    recording = f"{recordings}/calls/r-1.wav"
    await seed_call(client, org, recordingUrl=recording)
    added = await client.post(
        "/api/dnc/add", json=add_body(type="customer_request"), headers=org.headers
    )
    assert added.status_code == 200, added.text
    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    page = await context.new_page()
    requests: list[tuple[str, bool]] = []  # (url, asked after play was pressed)
    played = False

    def seen(request: Request) -> None:
        requests.append((request.url, played))

    page.on("request", seen)

    await sign_in(page, base_url, org.token)
    await expect(page.locator("h1")).to_have_text("Acme Dialing")
    await expect(page.locator("#dnc-state")).to_have_text("On")
    await shoot(page, "overview")

    # find a number
    await page.get_by_role("link", name="Lists").click()
    await page.get_by_role("link", name="Org-wide list").click()
    await page.get_by_label("Search").fill("5551234")
    await page.get_by_role("button", name="Search").click()
    await expect(page.locator("#entries tbody tr")).to_have_count(1)
    await expect(page.locator("#total")).to_contain_text("1 entry")
    await shoot(page, "list")

    # read its evidence, and play the recording
    await page.get_by_role("link", name=CALLED).click()
    await expect(page.locator("#transcription")).to_contain_text("Please don't call me again")
    assert not any(url.startswith(recordings) for url, _ in requests), "fetched before play"
    await shoot(page, "entry")
    played = True
    duration = await page.locator("#recording").evaluate(
        """audio => new Promise((resolve, reject) => {
            audio.addEventListener("loadedmetadata", () => resolve(audio.duration));
            audio.addEventListener("error", () => reject(new Error("cannot play")));
            audio.play().catch(() => {});
        })"""
    )
    assert abs(duration - 1.0) < 0.01

    # remove it with a reason
    await page.get_by_label("Reason").fill("the customer bought again: consent on file")
    await page.get_by_role("button", name="Remove").click()
    await expect(page.locator(".notice")).to_contain_text("removed")
    await expect(page.locator("#state")).to_contain_text("Not on")
    await expect(page.locator("#history")).to_contain_text("consent on file")
    assert not await is_blocked(client, org, CALLED)

    # add one by hand
    await page.get_by_role("link", name="Lists").click()
    await page.get_by_role("link", name="Org-wide list").click()
    await page.get_by_label("Phone number").fill("+1 (212) 555-0199")
    await page.get_by_label("Reason (type)").fill("complaint")
    await page.get_by_role("button", name="Add").click()
    await expect(page.locator(".notice")).to_contain_text("added")
    assert await is_blocked(client, org, "12125550199")

    # import a file large enough for the worker, and watch it
    csv = tmp_path / "numbers.csv"
    rows = [f"1213{230 + n // 10_000}{n % 10_000:04d}" for n in range(IMPORT_ROWS)]
    csv.write_text("phoneNumber,type\n" + "".join(f"{r},imported\n" for r in rows) + "oops,\n")
    await page.get_by_role("link", name="Import & export").click()
    await page.get_by_label("CSV file").set_input_files(str(csv))
    await page.get_by_role("button", name="Import").click()
    status = page.locator("#import-status")
    await expect(status).to_contain_text("Importing", timeout=30_000)
    await shoot(page, "import")
    await expect(status).to_contain_text("Import finished", timeout=120_000)
    await expect(status).to_contain_text(f"{IMPORT_ROWS} added")
    await expect(status).to_contain_text("1 invalid")
    await expect(page.locator("#import-errors")).to_contain_text(f"line {IMPORT_ROWS + 2}")
    bar = page.locator("#import-bar")
    assert await bar.get_attribute("value") == await bar.get_attribute("max")
    assert await is_blocked(client, org, rows[-1])

    # switch DNC off (it asks first), then on again
    await page.get_by_role("link", name="Overview").click()
    await page.get_by_role("button", name="Switch DNC off…").click()
    await expect(page.locator("h1")).to_have_text("Switch DNC off?")
    await page.get_by_role("button", name="Yes, switch DNC off").click()
    await expect(page.locator("#dnc-state")).to_have_text("Off")
    settings = await client.get("/api/dnc/settings", headers=org.headers)
    assert body(settings)["data"]["enabled"] is False
    await page.get_by_role("button", name="Switch DNC on").click()
    await expect(page.locator("#dnc-state")).to_have_text("On")

    # the audit log has what happened, found by the number
    await page.get_by_role("link", name="Audit log").click()
    await page.get_by_label("Phone number").fill(CALLED)
    await page.get_by_role("button", name="Filter").click()
    await expect(page.locator("#audit")).to_contain_text("dnc.remove")
    await shoot(page, "audit")

    # sign out: the session is gone
    await page.get_by_role("button", name="Sign out").click()
    await expect(page).to_have_url(f"{base_url}/console/login")
    await page.goto(f"{base_url}/console/lists")
    await expect(page).to_have_url(f"{base_url}/console/login")

    outside = [
        (url, after_play)
        for url, after_play in requests
        if not url.startswith(base_url) and not url.startswith("data:")
    ]
    assert outside == [(recording, True)] or set(outside) == {(recording, True)}, outside
    await context.close()


async def test_a_dialers_token_cannot_sign_in_and_a_member_gets_no_switch(
    browser: Browser, base_url: str, org: Org
) -> None:
    page = await browser.new_page()
    check_token = await org.token_for(org.admin_email, "check")
    await sign_in(page, base_url, check_token)
    await expect(page.get_by_role("alert")).to_contain_text("full-scope token")
    await expect(page).to_have_url(f"{base_url}/console/login")
    _, member_token = await org.add_user("member")
    await sign_in(page, base_url, member_token)
    await expect(page.locator("#dnc-state")).to_have_text("On")
    await expect(page.get_by_role("button", name="Switch DNC off…")).to_have_count(0)
    await expect(page.get_by_role("button", name="Rebuild the Redis mirror")).to_have_count(0)
    await page.close()
