"""Browser tests: pytest-playwright drives the machine's Chromium (Debian's ``chromium``,
which ``make install`` puts there; Playwright's own browser download cannot reach its
server here) against the app served for real on a loopback port."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from playwright.sync_api import ConsoleMessage, Page

from tests.live import live_server

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "chrome")


def chromium_path() -> str | None:
    """``VITRINE_CHROMIUM`` or the first Chromium on PATH."""
    if explicit := os.environ.get("VITRINE_CHROMIUM"):
        return explicit
    return next((path for name in CHROMIUM_NAMES if (path := shutil.which(name))), None)


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    path = chromium_path()
    if path is None:
        pytest.skip(
            "no Chromium on this machine (make install runs apt-get install chromium where it "
            "can; set VITRINE_CHROMIUM to a Chromium binary)"
        )
    return {**browser_type_launch_args, "executable_path": path}


@pytest.fixture(scope="session")
def base_url(demo_app) -> Iterator[str]:
    """The demo shop, served for the whole run: ``page.goto("/")`` opens its search page."""
    with live_server(demo_app) as served:
        yield f"http://127.0.0.1:{served.port}"


@dataclass
class Console:
    """What the page wrote to the console as errors, and the exceptions it threw."""

    errors: list[str] = field(default_factory=list)

    def record(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.errors.append(f"{message.text} ({message.location.get('url')})")


@pytest.fixture
def console(page: Page) -> Console:
    """The page's console errors; a test asserts ``console.errors == []`` when done."""
    seen = Console()
    page.on("console", seen.record)
    page.on("pageerror", lambda error: seen.errors.append(f"uncaught: {error}"))
    return seen
