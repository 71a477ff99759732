"""Hostile or oversized uploads are refused for the whole request, with nothing queued and
nothing left on disk: too large (413), not a catalog or not a zip (415), zip entries that
escape their folder (400), zip bombs (413)."""

from __future__ import annotations

import io
import zipfile

import pytest

from backend.settings import Settings
from backend.uploads import check_archive
from tests.api.conftest import AdminActions, csv_bytes, demo_images, demo_rows, uploads_left
from tests.api.conftest import zip_bytes as make_zip

LIMITS = {"max_upload_bytes": 1_000_000, "max_zip_entries": 5, "max_zip_ratio": 50}


@pytest.fixture
def strict(start_app, settings, admin_token):
    """An admin on an app with small upload limits."""
    limited = settings.with_(**LIMITS)
    return AdminActions(start_app(limited), admin_token), limited


def refused(response, status: int, code: str) -> str:
    assert response.status_code == status, response.get_json()
    error = response.get_json()["error"]
    assert error["code"] == code
    return error["message"]


def assert_nothing_queued(admin, settings):
    assert uploads_left(settings) == []
    index = admin.client.get("/api/admin/index", headers=admin.headers).get_json()
    assert index["catalog"]["products"] == 0


CATALOG = csv_bytes(demo_rows(1))


def test_oversized_upload_is_413(strict):
    admin, settings = strict
    # A raw body: the test client would spool a large form to a temporary file it never
    # closes when the app, rightly, does not read the body at all.
    response = admin.client.post(
        "/api/admin/uploads",
        data=b"-" * 1_100_000,
        headers=admin.headers,
        content_type="multipart/form-data; boundary=xyz",
    )
    message = refused(response, 413, "payload_too_large")
    assert "VITRINE_MAX_UPLOAD_BYTES" in message
    assert_nothing_queued(admin, settings)


@pytest.mark.parametrize(
    ("upload", "words"),
    [
        ({"catalog": CATALOG, "name": "catalog.xlsx"}, "upload a .csv or .jsonl file"),
        ({"catalog": CATALOG, "name": "catalog"}, "without a suffix"),
        ({"catalog": b"sku,title\nA,\x00\x01\x02", "name": "c.csv"}, "not text"),
        ({"catalog": b"\x89PNG\r\n\x1a\n\x00binary", "name": "c.csv"}, "not UTF-8"),
        ({"catalog": "sku,title\nA,caf\u00e9\n".encode("latin-1")}, "not UTF-8"),
        ({"catalog": CATALOG, "images": b"\x89PNG\r\n not a zip"}, "must be a .zip"),
    ],
)
def test_unsupported_types_are_415(strict, upload, words):
    admin, settings = strict
    catalog = upload.pop("catalog")
    assert words in refused(admin.upload(catalog, **upload), 415, "unsupported_media_type")
    assert_nothing_queued(admin, settings)


def test_a_json_body_is_415(strict):
    admin, _ = strict
    response = admin.client.post("/api/admin/uploads", json={"sku": "A"}, headers=admin.headers)
    assert "multipart/form-data" in refused(response, 415, "unsupported_media_type")


def test_missing_catalog_field_is_400(strict):
    admin, _ = strict
    response = admin.client.post(
        "/api/admin/uploads",
        data={"images": (io.BytesIO(make_zip({})), "i.zip")},
        headers=admin.headers,
        content_type="multipart/form-data",
    )
    assert "'catalog'" in refused(response, 400, "invalid_request")


@pytest.mark.parametrize("entry", ["../../etc/cron.d/evil.png", "/etc/evil.png", "C:/evil.png"])
def test_zip_entries_escaping_their_folder_are_refused(strict, entry):
    admin, settings = strict
    pictures = {**demo_images([demo_rows(1)[0]["image"]]), entry: b"\x89PNG"}
    message = refused(admin.upload(CATALOG, images=make_zip(pictures)), 400, "unsafe_archive")
    assert entry in message
    assert_nothing_queued(admin, settings)


def test_zip_bomb_entry_is_413(strict):
    admin, settings = strict
    bomb = make_zip({"images/blank.bmp": b"\x00" * 20_000_000})  # ~20 KB on the wire
    assert len(bomb) < 100_000
    message = refused(admin.upload(CATALOG, images=bomb), 413, "payload_too_large")
    assert "inflates" in message and "VITRINE_MAX_ZIP_RATIO" in message
    assert_nothing_queued(admin, settings)


def test_zip_with_too_many_entries_is_413(strict):
    admin, settings = strict
    many = make_zip({f"images/{i}.png": b"x" for i in range(6)})
    assert "VITRINE_MAX_ZIP_ENTRIES" in refused(
        admin.upload(CATALOG, images=many), 413, "payload_too_large"
    )
    assert_nothing_queued(admin, settings)


def test_zip_expanding_past_the_total_limit_is_refused(tmp_path):
    path = tmp_path / "big.zip"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as archive:
        for i in range(3):
            archive.writestr(f"images/{i}.png", b"x" * 4000)
    with pytest.raises(Exception, match="VITRINE_MAX_ZIP_BYTES") as caught:
        check_archive(path, settings=Settings(max_zip_bytes=10_000))
    assert caught.value.status == 413
    check_archive(path, settings=Settings(max_zip_bytes=12_000))  # within the limit: fine


def test_uploads_have_their_own_limit_not_the_image_one(start_app, settings, admin_token):
    admin = AdminActions(start_app(settings.with_(max_image_bytes=20_000)), admin_token)
    rows = [
        {"sku": "LONG-1", "title": "Manual", "description": "word " * 20_000},  # 100 KB
        {"sku": "LONG-2", "title": "Too long", "description": "word " * 30_000},  # 150 KB
        {"sku": "LONG-3", "title": "After them"},
    ]
    catalog = csv_bytes(rows)
    assert len(catalog) > 10 * 20_000
    job = admin.upload_and_wait(catalog)
    # A description over csv's default 128 KiB field limit is read like any other, and so
    # are the rows after it.
    assert job["state"] == "succeeded", job
    assert (job["counts"]["created"], job["errors"]) == (3, [])
    product = admin.client.get("/api/products/LONG-2").get_json()
    assert len(product["description"]) > 128 * 1024
