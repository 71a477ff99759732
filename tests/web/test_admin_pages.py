"""The admin console (/admin) and index inspection (/admin/index) in Chromium, used as an
admin and a search engineer would: sign in once per tab, upload a catalog with a bad row and
read the row's error, cancel and resume a job, reconcile, manage tokens, browse the points."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from flask import Flask
from playwright.sync_api import Page, expect

from backend.app import create_app
from backend.catalog.db import migrate
from backend.index.port import point_id
from backend.settings import Settings
from loaders.jobs import ThreadJobs
from tests.api.conftest import create_token, csv_bytes, demo_images, demo_rows, stop_app, zip_bytes
from tests.http_server import PictureServer, picture_server
from tests.live import live_server


@dataclass
class Site:
    url: str
    token: str
    app: Flask
    pictures: PictureServer


def env_of(settings: Settings) -> dict[str, str]:
    return {
        "VITRINE_VAR_DIR": str(settings.var_dir),
        "VITRINE_MODEL_CACHE_DIR": str(settings.model_cache_dir),
    }


@pytest.fixture(scope="module")
def site(tmp_path_factory, model_cache) -> Iterator[Site]:
    """A fresh shop served for real, running its upload jobs on a thread (two rows a
    batch), allowed to fetch pictures from a loopback server the tests can hold."""
    settings = Settings(
        var_dir=tmp_path_factory.mktemp("admin-site") / "var",
        model_cache_dir=model_cache,
        url_allow_networks="127.0.0.1/32",
        head_refresh="off",
    )
    migrate(settings.database_url)
    token = create_token(env_of(settings), "browser")
    app = create_app(settings, jobs=ThreadJobs(batch_size=2))
    with picture_server() as pictures, live_server(app) as served:
        yield Site(f"http://127.0.0.1:{served.port}", token, app, pictures)
    stop_app(app)


@pytest.fixture(scope="module")
def demo_token(demo_settings) -> str:
    return create_token(env_of(demo_settings), "engineer")


def sign_in(page: Page, url: str, token: str) -> None:
    page.goto(url)
    page.get_by_label("Admin token", exact=True).fill(token)
    page.get_by_label("Admin token", exact=True).press("Enter")
    expect(page.locator("#who-name")).to_contain_text("Signed in as")


def upload(page: Page, tmp_path: Path, rows: list[dict], *, images: bytes | None = None) -> None:
    catalog = tmp_path / "shop.csv"
    catalog.write_bytes(csv_bytes(rows))
    page.get_by_label("Catalog (CSV or JSONL)").set_input_files(catalog)
    if images is not None:
        archive = tmp_path / "shop-images.zip"
        archive.write_bytes(images)
        page.get_by_label("Images (zip, optional)").set_input_files(archive)
    page.get_by_role("button", name="Upload", exact=True).click()
    expect(page.locator("#upload-status")).to_contain_text("Uploaded; job")


def unlabelled_fields(page: Page) -> list[str]:
    """Visible form fields a screen reader could not name."""
    return page.evaluate(
        """() => [...document.querySelectorAll('input, select, textarea, button')]
        .filter((e) => e.offsetParent !== null && e.type !== 'hidden')
        .filter((e) => !(e.labels && e.labels.length) && !e.getAttribute('aria-label')
                        && !(e.tagName === 'BUTTON' && e.innerText.trim()))
        .map((e) => e.outerHTML)"""
    )


def test_sign_in_once_per_tab_refuses_a_wrong_token(page: Page, console, site: Site):
    page.goto(f"{site.url}/admin")
    expect(page.locator("#console")).to_be_hidden()
    page.get_by_label("Admin token", exact=True).fill("vt_not-a-token")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert").first).to_contain_text("unknown admin token")

    page.get_by_label("Admin token", exact=True).fill(site.token)
    page.keyboard.press("Enter")  # keyboard only
    expect(page.locator("#who-name")).to_have_text("Signed in as browser")
    page.reload()  # the tab remembers the token
    expect(page.get_by_role("heading", name="Upload a catalog")).to_be_visible()
    page.get_by_role("link", name="Index").click()
    expect(page.get_by_role("heading", name="Search index")).to_be_visible()
    expect(page.locator("#who-name")).to_have_text("Signed in as browser")
    assert site.token not in page.url
    assert unlabelled_fields(page) == []

    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_label("Admin token", exact=True)).to_be_visible()
    page.goto(f"{site.url}/admin")
    expect(page.get_by_label("Admin token", exact=True)).to_be_visible()
    # Chromium logs the refused sign-in's 401 itself; nothing else went wrong.
    assert [e for e in console.errors if "status of 401" not in e] == []


def test_upload_with_a_bad_row_shows_the_row_and_its_error_csv(
    page: Page, console, site: Site, tmp_path
):
    rows = demo_rows(3)
    rows.append({**demo_rows(4)[3], "price": "cheap"})
    sign_in(page, f"{site.url}/admin", site.token)
    assert unlabelled_fields(page) == []
    upload(page, tmp_path, rows, images=zip_bytes(demo_images(r["image"] for r in rows)))

    report = page.locator("#job-detail")
    expect(report).to_be_focused()
    expect(report.locator("#job-summary")).to_contain_text("succeeded · 4 rows received: 3 created")
    bad = report.locator("#job-errors tbody tr")
    expect(bad).to_have_count(1)
    expect(bad.locator("td").nth(0)).to_have_text("5")  # the file's line: header is line 1
    expect(bad.locator("td").nth(1)).to_have_text(rows[3]["sku"])
    expect(bad.locator("td").nth(2)).to_contain_text("price")

    job = page.locator("#jobs tbody tr").first
    expect(job.locator(".state")).to_have_text("succeeded")
    expect(job.locator(".progress-cell span")).to_have_text("4 / 4")
    assert job.locator("progress").evaluate("(bar) => bar.value === bar.max")

    with page.expect_download() as download:
        page.get_by_role("button", name="Download the error CSV").click()
    text = Path(download.value.path()).read_text(encoding="utf-8")
    assert text.splitlines()[0] == "line,sku,reason" and f"5,{rows[3]['sku']}," in text
    page.goto(f"{site.url}/?q={rows[0]['title']}")  # the shop finds what was uploaded
    expect(page.locator("#results > li .title").first).to_have_text(rows[0]["title"])
    assert console.errors == []


def test_files_dropped_on_the_upload_zone_are_uploaded(page: Page, console, site: Site):
    sign_in(page, f"{site.url}/admin", site.token)
    row = demo_rows(6)[5]
    data = csv_bytes([{**row, "image": ""}]).decode("utf-8")
    page.locator("#drop-zone").evaluate(
        """(zone, text) => {
            const files = new DataTransfer();
            files.items.add(new File([text], 'dropped.csv', { type: 'text/csv' }));
            zone.dispatchEvent(new DragEvent('drop', { dataTransfer: files, bubbles: true }));
        }""",
        data,
    )
    assert (
        page.get_by_label("Catalog (CSV or JSONL)").evaluate("(i) => i.files[0].name")
        == "dropped.csv"
    )
    page.get_by_role("button", name="Upload", exact=True).click()
    expect(page.locator("#job-title")).to_have_text("Report: dropped.csv")
    expect(page.locator("#job-summary")).to_contain_text("succeeded · 1 rows received: 1 created")
    expect(page.locator("#job-no-errors")).to_be_visible()
    assert console.errors == []


def test_cancel_a_running_job_then_resume_it(page: Page, console, site: Site, tmp_path):
    rows = demo_rows(12)[8:12]
    rows[2] = {**rows[2], "image": f"{site.pictures.url}/held.png"}  # batch 2 waits here
    site.pictures.held.clear()
    site.pictures.release.clear()
    sign_in(page, f"{site.url}/admin", site.token)
    upload(
        page,
        tmp_path,
        rows,
        images=zip_bytes(demo_images(r["image"] for r in rows if "held" not in r["image"])),
    )
    assert site.pictures.held.wait(60)
    job = page.locator("#jobs tbody tr").first
    expect(job.locator(".state")).to_have_text("running")
    job.get_by_role("button", name="Cancel").click()
    expect(job.locator(".state")).to_have_text("cancelled")
    site.pictures.release.set()
    expect(page.locator("#job-message")).to_contain_text("cancelled by an admin after 2 of 4 rows")
    expect(job.locator(".progress-cell span")).to_have_text("2 / 4")

    job.get_by_role("button", name="Resume").click()
    expect(job.locator(".state")).to_have_text("succeeded", timeout=60_000)
    expect(job.locator(".progress-cell span")).to_have_text("4 / 4")
    expect(page.locator("#job-summary")).to_contain_text("4 created")
    assert console.errors == []


def test_reconcile_dry_run_then_repair(page: Page, console, site: Site):
    sign_in(page, f"{site.url}/admin", site.token)
    page.get_by_role("button", name="Check (dry run)").click()
    expect(page.locator("#reconcile-result")).to_contain_text("catalog and index agree")
    expect(page.get_by_role("button", name="Repair")).to_be_disabled()

    lost = demo_rows(1)[0]["sku"]
    site.app.extensions["vitrine_index"].get().delete([point_id(lost)])
    page.get_by_role("button", name="Check (dry run)").click()
    expect(page.locator("#reconcile-result")).to_contain_text(f"Missing from the index (1): {lost}")
    page.get_by_role("button", name="Repair").click()
    expect(page.locator("#reconcile-result")).to_contain_text("repaired 1 missing")
    page.get_by_role("button", name="Check (dry run)").click()
    expect(page.locator("#reconcile-result")).to_contain_text("catalog and index agree")
    assert console.errors == []


def test_tokens_made_shown_once_and_revoked(page: Page, console, site: Site):
    sign_in(page, f"{site.url}/admin", site.token)
    tokens = page.locator("#tokens tbody tr")
    expect(tokens.filter(has_text="browser (this tab)")).to_have_count(1)
    page.get_by_label("New token's name").fill("robot")
    page.get_by_role("button", name="Create token").click()
    expect(page.locator("#token-created")).to_contain_text("Token robot was made")
    secret = page.get_by_label("Secret").input_value()
    assert secret.startswith("vt_")
    robot = tokens.filter(has_text="robot")
    expect(robot).to_contain_text("active")

    page.once("dialog", lambda dialog: dialog.accept())
    robot.get_by_role("button", name="Revoke robot").click()
    expect(robot).to_contain_text("revoked")
    assert console.errors == []


def test_a_revoked_token_is_refused_at_sign_in(page: Page, site: Site):
    secret = create_token(env_of(site.app.config["VITRINE_SETTINGS"]), "short-lived")
    sign_in(page, f"{site.url}/admin", site.token)
    page.once("dialog", lambda dialog: dialog.accept())
    page.locator("#tokens tbody tr", has_text="short-lived").get_by_role(
        "button", name="Revoke"
    ).click()
    expect(page.locator("#tokens tbody tr", has_text="short-lived")).to_contain_text("revoked")
    page.get_by_role("button", name="Sign out").click()
    page.get_by_label("Admin token", exact=True).fill(secret)
    page.keyboard.press("Enter")
    expect(page.locator("#sign-in-error")).to_contain_text("has been revoked")


def test_index_page_shows_the_collection_and_browses_points(
    page: Page, console, base_url, demo_token
):
    sign_in(page, f"{base_url}/admin/index", demo_token)
    vectors = page.locator("#vectors tbody tr")
    text = vectors.filter(has=page.locator("th", has_text=re.compile("^text$")))
    expect(text.locator("td").nth(1)).to_have_text("384")
    expect(text.locator("td").nth(2)).to_have_text("cosine")
    points_total = page.locator("#collection dd").nth(4).inner_text()
    expect(text.locator("td").nth(4)).to_have_text(points_total)
    expect(page.locator("#payload-indexes tbody")).to_contain_text("category")
    expect(page.locator("#versions li")).to_contain_text(["(in use)"])
    expect(page.locator("#state")).to_contain_text("Pending indexing")
    assert unlabelled_fields(page) == []

    rows = page.locator("#points tbody tr")
    expect(rows).to_have_count(20)
    expect(page.locator("#points-status")).to_have_text(f"{points_total} points match.")
    first_page = rows.first.locator("td").first.inner_text()
    page.get_by_role("button", name="Next page").click()
    expect(rows.first.locator("td").first).not_to_have_text(first_page)
    page.get_by_role("button", name="First page").click()
    expect(rows.first.locator("td").first).to_have_text(first_page)

    page.get_by_label("Category").fill("Shoes")
    page.get_by_label("Category").press("Enter")
    expect(page.locator("#points-status")).to_have_text(re.compile(r"^\d+ points? match\.$"))
    expect(rows.first.locator("td").nth(2)).to_have_text("Shoes")
    assert set(rows.locator("td:nth-child(3)").all_inner_texts()) == {"Shoes"}

    sku = rows.first.locator("td").first.inner_text()
    rows.first.get_by_role("button", name=f"Inspect {sku}").click()
    point = page.locator("#point")
    expect(point).to_be_focused()
    expect(point.locator("#point-title")).to_have_text(f"Point {sku}")
    expect(point.locator("#point-current")).to_contain_text("current with the catalog")
    expect(point.locator("#point-payload")).to_contain_text(f'"sku": "{sku}"')
    expect(point.locator("#point-vectors")).to_contain_text(re.compile(r"\[-?\d"))

    point.get_by_role("button", name=f"Find products similar to {sku} by image").click()
    expect(page.locator("#similar-title")).to_have_text(f"Nearest to {sku} by image")
    neighbours = page.locator("#similar li")
    expect(neighbours).to_have_count(10)
    assert sku not in neighbours.first.inner_text()
    other = neighbours.first.get_by_role("button").inner_text().rsplit("(", 1)[1].rstrip(")")
    neighbours.first.get_by_role("button").click()
    expect(point.locator("#point-title")).to_have_text(f"Point {other}")
    assert console.errors == []
