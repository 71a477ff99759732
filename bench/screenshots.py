"""Pictures of the pages for the README and docs/, taken in Chromium from a running server.

    make run &                                   # the demo shop on http://127.0.0.1:8000
    .venv/bin/vitrine admin create-token screenshots
    .venv/bin/python bench/screenshots.py --token vt_...   # writes docs/screenshots/*.png

``--base`` points at another server and ``--chromium`` at another browser binary. Without
``--token`` only the search page is taken. The admin picture uploads four demo rows, one of
them broken, so that the jobs list shows a job and its rejected row (the other three are
unchanged: nothing in the shop changes).
"""

from __future__ import annotations

import argparse
import csv
import io
import shutil
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path

from playwright.sync_api import Page, sync_playwright

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "screenshots"


def _search(page: Page) -> None:
    page.goto("/?q=running+shoes")
    page.locator("#results > li").first.wait_for()
    page.locator("#results > li .explain summary").first.click()


def _search_phone(page: Page) -> None:
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto("/?q=T%E6%81%A4")
    page.locator("#results > li").first.wait_for()


def _sign_in(page: Page, path: str, token: str) -> None:
    page.goto(path)
    page.get_by_label("Admin token", exact=True).fill(token)
    page.get_by_label("Admin token", exact=True).press("Enter")
    page.locator("#who-name").wait_for()


def _demo_upload(folder: Path) -> tuple[Path, Path]:
    """Four demo rows, the last with a price no shop has, and a zip of their pictures."""
    with (ROOT / "data" / "demo" / "catalog.csv").open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        rows = [row for _, row in zip(range(4), reader, strict=False)]
        columns = reader.fieldnames or []
    rows[3]["price"] = "about ten"
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns)
    writer.writeheader()
    writer.writerows(rows)
    path = folder / "spring-catalog.csv"
    path.write_text(out.getvalue(), encoding="utf-8")
    pictures = folder / "spring-images.zip"
    with zipfile.ZipFile(pictures, "w") as archive:
        for row in rows:
            archive.write(ROOT / "data" / "demo" / "images" / row["image"], row["image"])
    return path, pictures


def _admin(page: Page, token: str) -> None:
    _sign_in(page, "/admin", token)
    with tempfile.TemporaryDirectory() as folder:
        catalog, pictures = _demo_upload(Path(folder))
        page.get_by_label("Catalog (CSV or JSONL)").set_input_files(catalog)
        page.get_by_label("Images (zip, optional)").set_input_files(pictures)
        page.get_by_role("button", name="Upload", exact=True).click()
        page.locator("#jobs tbody tr .state", has_text="succeeded").first.wait_for()
        page.locator("#job-errors tbody tr").first.wait_for()
    page.get_by_role("button", name="Check (dry run)").click()
    page.locator("#reconcile-result p").first.wait_for()


def _index(page: Page, token: str) -> None:
    _sign_in(page, "/admin/index", token)
    page.locator("#points tbody tr").first.wait_for()
    page.get_by_role("button", name="Inspect").first.click()
    page.get_by_role("button", name="Find products similar", exact=False).nth(1).click()
    page.locator("#similar li").first.wait_for()


SHOTS: dict[str, Callable[[Page], None]] = {
    "search.png": _search,
    "search-phone.png": _search_phone,
}
ADMIN_SHOTS: dict[str, Callable[[Page, str], None]] = {
    "admin.png": _admin,
    "index.png": _index,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", default="http://127.0.0.1:8000")
    parser.add_argument("--chromium", default=shutil.which("chromium"))
    parser.add_argument("--token", help="an admin token, for the admin pages")
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    shots: dict[str, Callable[[Page], None]] = dict(SHOTS)
    if args.token:
        for name, take in ADMIN_SHOTS.items():
            shots[name] = lambda page, take=take: take(page, args.token)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=args.chromium)
        for name, shoot in shots.items():
            page = browser.new_page(base_url=args.base, viewport={"width": 1280, "height": 860})
            shoot(page)
            page.wait_for_load_state("networkidle")
            page.screenshot(path=OUT / name, full_page=name in ADMIN_SHOTS)
            print(OUT / name)
            page.close()
        browser.close()


if __name__ == "__main__":
    main()
