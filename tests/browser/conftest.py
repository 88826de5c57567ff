"""A real browser (Debian's Chromium, driven by Playwright without a browser download of its
own) against the app on a real server, with a real ``dnc worker`` beside it."""

import os
import shutil
from collections.abc import AsyncIterator, Iterator

import pytest
from playwright.async_api import Browser, async_playwright

from infra.settings import Settings
from tests.support.processes import running, served_in_thread

CHROMIUM = os.environ.get("DNC_TEST_CHROMIUM", "/usr/bin/chromium")
# As the machine's notes advise: without these, Chromium reaches for Google's services at
# every start, which a closed network refuses
CHROMIUM_ARGS = [
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]


@pytest.fixture
def base_url(settings: Settings) -> Iterator[str]:
    with served_in_thread(settings) as url, running(("worker", settings)):
        yield url


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    if not shutil.which(CHROMIUM):
        pytest.fail(f"no Chromium at {CHROMIUM}: `make test` installs Debian's chromium")
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, chromium_sandbox=False
        )
        try:
            yield launched
        finally:
            await launched.close()
