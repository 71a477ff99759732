"""Pictures of the pages for the README and docs/, taken in Chromium from a running server.

    make run &                                   # the demo shop on http://127.0.0.1:8000
    .venv/bin/python bench/screenshots.py        # writes docs/screenshots/*.png

``--base`` points at another server and ``--chromium`` at another browser binary.
"""

from __future__ import annotations

import argparse
import shutil
from collections.abc import Callable
from pathlib import Path

from playwright.sync_api import Page, sync_playwright

OUT = Path(__file__).resolve().parents[1] / "docs" / "screenshots"


def _search(page: Page) -> None:
    page.goto("/?q=running+shoes")
    page.locator("#results > li").first.wait_for()
    page.locator("#results > li .explain summary").first.click()


def _search_phone(page: Page) -> None:
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto("/?q=T%E6%81%A4")
    page.locator("#results > li").first.wait_for()


SHOTS: dict[str, Callable[[Page], None]] = {
    "search.png": _search,
    "search-phone.png": _search_phone,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", default="http://127.0.0.1:8000")
    parser.add_argument("--chromium", default=shutil.which("chromium"))
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=args.chromium)
        for name, take in SHOTS.items():
            page = browser.new_page(base_url=args.base, viewport={"width": 1280, "height": 860})
            take(page)
            page.wait_for_load_state("networkidle")
            page.screenshot(path=OUT / name)
            print(OUT / name)
            page.close()
        browser.close()


if __name__ == "__main__":
    main()
