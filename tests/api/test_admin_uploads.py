"""Admin uploads over HTTP: a catalog with a zip of pictures lands in the catalog and the
index; the same upload again changes nothing; bad rows are reported by line while good rows
land; the error report is safe to open in a spreadsheet."""

from __future__ import annotations

import csv
import io
import json

from tests.api.conftest import csv_bytes, demo_images, demo_rows, uploads_left, zip_bytes
from tests.catalogs import EXPORTS, SHOPIFY_PICTURES, jpegs


def counts(**given: int) -> dict[str, int]:
    names = ("received", "created", "updated", "unchanged", "failed")
    return {name: given.get(name, 0) for name in names}


def test_upload_with_a_zip_of_pictures_lands_and_is_searchable(admin, settings):
    rows = demo_rows(4)
    response = admin.upload(
        csv_bytes(rows), images=zip_bytes(demo_images(r["image"] for r in rows))
    )
    assert response.status_code == 202
    body = response.get_json()
    assert body["state"] == "queued" and response.headers["Location"] == body["url"]

    job = admin.wait(body["job_id"])
    assert job["state"] == "succeeded", job
    assert job["counts"] == counts(received=4, created=4)
    assert job["errors"] == [] and "4 indexed" in job["message"]

    client = admin.client
    umbrella = client.get(f"/api/products/{rows[0]['sku']}").get_json()
    assert umbrella["title"] == rows[0]["title"] and umbrella["titles"]["zh"] == rows[0]["title_zh"]
    with client.get(umbrella["images"][0]) as picture:
        assert picture.status_code == 200 and picture.mimetype == "image/png"
    found = client.get("/api/search?q=umbrella&limit=1").get_json()["results"]
    assert found[0]["sku"] == rows[0]["sku"]
    health = client.get("/health").get_json()
    assert health["products"] == health["indexed"] == health["points"] == 4
    assert uploads_left(settings) == []  # the job's files are removed once it has ended


def test_the_same_upload_twice_changes_nothing(admin):
    rows = demo_rows(3)
    catalog, images = csv_bytes(rows), zip_bytes(demo_images(r["image"] for r in rows))
    first = admin.upload_and_wait(catalog, images=images)
    assert first["counts"]["created"] == 3

    again = admin.upload_and_wait(catalog, images=images)
    assert again["state"] == "succeeded"
    assert again["counts"] == counts(received=3, unchanged=3)
    assert "0 indexed" in again["message"]
    assert admin.client.get("/health").get_json()["points"] == 3


def test_jsonl_upload_updates_a_changed_product(admin):
    rows = demo_rows(2)
    images = zip_bytes(demo_images(r["image"] for r in rows))
    admin.upload_and_wait(csv_bytes(rows), images=images)
    changed = dict(rows[1], price="1.50")
    jsonl = "\n".join(json.dumps(r) for r in [rows[0], changed]).encode()
    job = admin.upload_and_wait(jsonl, name="catalog.jsonl", images=images)
    assert (job["counts"]["updated"], job["counts"]["unchanged"]) == (1, 1)
    assert admin.client.get(f"/api/products/{rows[1]['sku']}").get_json()["price"] == 1.5


def test_good_rows_land_and_bad_rows_are_reported_by_line(admin):
    good = demo_rows(2)
    existing = demo_rows(3)[2]
    admin.upload_and_wait(csv_bytes([existing]), images=zip_bytes(demo_images([existing["image"]])))
    before = admin.client.get(f"/api/products/{existing['sku']}").get_json()

    rows = [
        good[0],  # line 2
        dict(good[0], sku="", title="No sku"),  # line 3
        dict(good[0], sku="X-2", title=""),  # line 4
        dict(good[0], sku="X-3", price="twelve"),  # line 5
        dict(good[0], sku="X-4", currency="USS"),  # line 6
        dict(good[0], title="Same sku again"),  # line 7
        dict(good[0], sku="X-6", image="http://10.0.0.7/shoe.png"),  # line 8
        dict(good[0], sku="X-7", image="http://169.254.169.254/latest/meta-data"),  # line 9
        dict(good[0], sku="X-8", image="http://127.0.0.1:9/x.png"),  # line 10
        dict(good[0], sku="X-9", image="not-in-the-zip.png"),  # line 11
        good[1],  # line 12
    ]
    images = zip_bytes(demo_images(r["image"] for r in good))
    job = admin.upload_and_wait(csv_bytes(rows), images=images)

    assert job["state"] == "succeeded"
    assert job["counts"] == counts(received=11, created=2, failed=9)
    reasons = {e["line"]: e["reason"] for e in job["errors"]}
    assert sorted(reasons) == [3, 4, 5, 6, 7, 8, 9, 10, 11]
    assert "sku is required" in reasons[3]
    assert "title is required" in reasons[4]
    assert "price must be a number" in reasons[5] and "twelve" in reasons[5]
    assert "unknown currency 'USS'" in reasons[6]
    assert "duplicate sku" in reasons[7] and "line 2" in reasons[7]
    for line, address in ((8, "10.0.0.7"), (9, "169.254.169.254"), (10, "127.0.0.1")):
        assert f"non-public address ({address})" in reasons[line]
    assert "not found in the zip" in reasons[11]

    client = admin.client
    assert client.get(f"/api/products/{good[0]['sku']}").get_json()["title"] == good[0]["title"]
    assert client.get(f"/api/products/{good[1]['sku']}").status_code == 200
    for sku in ("X-2", "X-3", "X-4", "X-6", "X-7", "X-8", "X-9"):
        assert client.get(f"/api/products/{sku}").status_code == 404
    assert client.get(f"/api/products/{existing['sku']}").get_json() == before  # untouched
    health = client.get("/health").get_json()
    assert health["products"] == health["indexed"] == health["points"] == 3


def test_bad_pictures_are_reported_per_row(admin, png_of_size):
    rows = demo_rows(1)
    good = demo_images([rows[0]["image"]])
    pictures = {
        "images/bomb.png": png_of_size(30_000, 30_000),  # 900 Mpx declared in a tiny file
        "images/text.png": b"this is not a picture",
        "images/cut.png": next(iter(good.values()))[:200],
        **good,
    }
    catalog = [
        dict(rows[0], sku="P-1", image="bomb.png"),
        dict(rows[0], sku="P-2", image="text.png"),
        dict(rows[0], sku="P-3", image="cut.png"),
        rows[0],
    ]
    job = admin.upload_and_wait(csv_bytes(catalog), images=zip_bytes(pictures))
    reasons = {e["sku"]: e["reason"] for e in job["errors"]}
    assert "pixel limit" in reasons["P-1"] and "900000000 pixels" in reasons["P-1"]
    assert "not an image we can read" in reasons["P-2"]
    assert "corrupt or truncated" in reasons["P-3"]
    assert job["counts"]["created"] == 1


def test_error_report_csv_defuses_formulas(admin):
    rows = [
        {"sku": '=HYPERLINK("http://evil")', "title": "x", "price": "oops"},
        {"sku": "+1", "title": "", "price": "1"},
        {"sku": "@SUM(A1)", "title": "y", "price": "-3"},
    ]
    job = admin.upload_and_wait(csv_bytes(rows))
    assert job["counts"]["failed"] == 3
    response = admin.client.get(job["errors_csv"], headers=admin.headers)
    assert response.status_code == 200 and response.mimetype == "text/csv"
    table = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    assert table[0] == ["line", "sku", "reason"]
    assert [row[:2] for row in table[1:]] == [
        ["2", '\'=HYPERLINK("http://evil")'],
        ["3", "'+1"],
        ["4", "'@SUM(A1)"],
    ]
    assert all(not cell.startswith(("=", "+", "-", "@")) for row in table for cell in row)


def test_a_catalog_that_cannot_be_read_fails_the_job_with_the_reason(admin, settings):
    job = admin.upload_and_wait(b"", name="empty.csv")
    assert job["state"] == "failed"
    assert "the CSV has no header line" in job["message"]
    assert uploads_left(settings) == []


def test_bytes_that_are_not_utf8_after_the_checked_start_fail_only_their_row(admin):
    # The upload's first 64 KiB are checked; a bad byte or a NUL further on is that row's error.
    catalog = (
        b"sku,title,description\nA-1,Cafe,"
        + b"a" * 70_000
        + b"\nA-2,Caf\xe9,x\nA-3,Tea,with\x00nul\nA-4,Mug,ok\n"
    )
    job = admin.upload_and_wait(catalog)
    assert job["state"] == "succeeded", job
    assert job["counts"] == {
        "received": 4,
        "created": 2,
        "updated": 0,
        "unchanged": 0,
        "failed": 2,
    }
    assert job["errors"] == [
        {"line": 3, "sku": "A-2", "reason": "column 'title' is not UTF-8 text (byte 0xE9)"},
        {
            "line": 4,
            "sku": "A-3",
            "reason": "column 'description' holds a control character (U+0000)",
        },
    ]
    assert admin.client.get("/api/products/A-4").status_code == 200


def test_unknown_job_is_404(admin):
    response = admin.client.get("/api/admin/uploads/nope", headers=admin.headers)
    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "job_not_found"


def test_a_shopify_export_uploads_as_one_product_per_handle(admin):
    export = (EXPORTS / "shopify.csv").read_bytes()
    images = zip_bytes(jpegs(SHOPIFY_PICTURES))
    job = admin.upload_and_wait(export, name="products_export.csv", images=images)
    assert job["counts"] == counts(received=4, created=2, failed=2)
    assert [(e["line"], e["sku"]) for e in job["errors"]] == [(6, "draft-scarf"), (7, "orphan")]
    shoe = admin.client.get("/api/products/trail-runner").get_json()
    assert shoe["title"] == "Trail Runner Shoe" and len(shoe["images"]) == 3
    found = admin.client.get("/api/search?q=TR-10-BLK&limit=3").get_json()["results"]
    assert found[0]["sku"] == "trail-runner"
