"""Loading catalogs: good rows land, bad rows are reported by line, reloading changes nothing."""

from __future__ import annotations

import json
import zipfile
from decimal import Decimal

from click.testing import CliRunner

from backend.catalog import db
from backend.catalog import service as catalog
from backend.index.factory import open_index
from backend.index.port import point_id
from loaders.cli import main
from loaders.pipeline import load_into
from tests.catalogs import DEMO_IMAGES, good_rows, images_zip, write_csv


def stored(settings, sku):
    engine = db.make_engine(settings.database_url)
    try:
        with db.session_scope(db.make_sessionmaker(engine)) as session:
            product = catalog.get_product(session=session, sku=sku)
            return {
                "title": product.title,
                "price": product.price,
                "in_stock": product.in_stock,
                "indexed": product.indexed_hash == product.content_hash,
                "images": [i.path for i in product.images],
            }
    finally:
        engine.dispose()


def index_count(settings) -> int:
    index = open_index(settings)
    try:
        return index.count()
    finally:
        index.close()


def test_load_good_rows_then_reload_changes_nothing(settings, tmp_path):
    catalog_csv = write_csv(tmp_path / "catalog.csv", good_rows())
    zipped = images_zip(tmp_path / "images.zip")

    first = load_into(settings, catalog_csv, zipped)
    assert (first.received, first.created, first.failed, first.indexed) == (3, 3, 0, 3)
    shirt = stored(settings, "A-1")
    assert shirt["indexed"] and shirt["price"] == Decimal("19.90")
    assert (settings.media_dir / shirt["images"][0]).is_file()
    assert stored(settings, "A-2")["in_stock"] is False  # stock 0
    assert stored(settings, "A-3")["in_stock"] is True  # no stock column value
    assert index_count(settings) == 3

    again = load_into(settings, catalog_csv, zipped)
    assert (again.received, again.created, again.updated, again.unchanged, again.indexed) == (
        3,
        0,
        0,
        3,
        0,
    )
    assert index_count(settings) == 3


def test_changed_row_is_updated_and_reindexed(settings, tmp_path):
    zipped = images_zip(tmp_path / "images.zip")
    load_into(settings, write_csv(tmp_path / "v1.csv", good_rows()), zipped)
    rows = good_rows()
    rows[0]["price"] = "24.00"
    summary = load_into(settings, write_csv(tmp_path / "v2.csv", rows), zipped)
    assert (summary.updated, summary.unchanged, summary.indexed) == (1, 2, 1)
    index = open_index(settings)
    try:
        [point] = index.retrieve([point_id("A-1")])
        assert point.payload["price"] == 24.0
    finally:
        index.close()


def test_bad_rows_are_reported_by_line_and_good_rows_land(settings, tmp_path):
    rows = good_rows() + [
        {"sku": "", "title": "No sku"},  # line 5
        {"sku": "B-2", "title": ""},  # line 6
        {"sku": "B-3", "title": "Bad price", "price": "cheap"},  # line 7
        {"sku": "A-1", "title": "Duplicate"},  # line 8
        {"sku": "B-5", "title": "Missing image", "image": "nope.png"},  # line 9
        {"sku": "B-6", "title": "Escaping image", "image": "../etc/passwd"},  # line 10
        {"sku": "B-7", "title": "Negative stock", "stock": "-3"},  # line 11
    ]
    summary = load_into(
        settings, write_csv(tmp_path / "mixed.csv", rows), images_zip(tmp_path / "i.zip")
    )
    assert (summary.received, summary.created, summary.failed) == (10, 3, 7)
    reasons = {e.line: e.reason for e in summary.errors}
    assert sorted(reasons) == [5, 6, 7, 8, 9, 10, 11]
    assert "sku is required" in reasons[5]
    assert "title is required" in reasons[6]
    assert "price" in reasons[7] and "cheap" in reasons[7]
    assert "duplicate sku" in reasons[8] and "line 2" in reasons[8]
    assert "not found" in reasons[9]
    assert "inside" in reasons[10]
    assert "stock" in reasons[11]
    assert stored(settings, "A-1")["title"] == "T-shirt"  # the duplicate did not overwrite it
    assert index_count(settings) == 3


def test_jsonl_catalog_with_a_folder_of_images(settings, tmp_path):
    lines = [
        json.dumps(
            {
                "sku": "J-1",
                "title": "Gloves",
                "keywords": ["winter", "warm"],
                "attributes": {"size": "M"},
                "image": "1f9e4.png",
                "in_stock": False,
            }
        ),
        "{not json",
        json.dumps(["a", "list"]),
    ]
    path = tmp_path / "catalog.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    summary = load_into(settings, path, DEMO_IMAGES)
    assert (summary.created, summary.failed) == (1, 2)
    assert [e.line for e in summary.errors] == [2, 3]
    assert stored(settings, "J-1")["in_stock"] is False


def test_cli_load_prints_a_summary_and_fails_on_bad_rows(settings_env, tmp_path):
    rows = good_rows() + [{"sku": "B-1", "title": "Bad", "price": "x"}]
    catalog_csv = write_csv(tmp_path / "catalog.csv", rows)
    runner = CliRunner()
    result = runner.invoke(
        main,
        [
            "load",
            str(catalog_csv),
            "--images",
            str(images_zip(tmp_path / "i.zip")),
            "--no-progress",
        ],
        env=settings_env,
    )
    assert result.exit_code == 1, result.output
    assert "4 rows: 3 created, 0 updated, 0 unchanged, 1 failed; 3 indexed" in result.output
    assert "line 5 (B-1): price must be a number" in result.output


def test_cli_load_refuses_a_locked_index(settings_env, settings, tmp_path):
    rows = [{"sku": "A-9", "title": "Umbrella"}]
    load_into(settings, write_csv(tmp_path / "first.csv", rows), None)
    index = open_index(settings)  # this process holds the Edge folder, as `vitrine serve` would
    try:
        result = CliRunner().invoke(
            main,
            ["load", str(write_csv(tmp_path / "c.csv", rows)), "--no-progress"],
            env=settings_env,
        )
    finally:
        index.close()
    assert result.exit_code == 3
    assert "in use" in result.output


def test_load_on_postgres(settings, postgres_url, tmp_path):
    pg = settings.with_(database_url=postgres_url)
    summary = load_into(
        pg, write_csv(tmp_path / "c.csv", good_rows()), images_zip(tmp_path / "i.zip")
    )
    assert (summary.created, summary.failed) == (3, 0)
    assert stored(pg, "A-2")["title"] == "Running shoe"
    assert load_into(pg, tmp_path / "c.csv", tmp_path / "i.zip").unchanged == 3


def test_row_the_database_refuses_is_reported_and_the_batch_lands(settings, postgres_url, tmp_path):
    """A constraint the loader does not know (added by the shop's DBA) refuses one row: that
    row is reported, the rest of its batch is stored."""
    pg = settings.with_(database_url=postgres_url)
    db.migrate(postgres_url)
    engine = db.make_engine(postgres_url)
    with engine.begin() as connection:
        connection.exec_driver_sql(
            "ALTER TABLE products ADD CONSTRAINT no_test_titles CHECK (left(title, 4) <> 'TEST')"
        )
    engine.dispose()
    rows = [
        {"sku": "P-1", "title": "Umbrella"},
        {"sku": "P-2", "title": "TEST scarf"},
        {"sku": "P-3", "title": "Gloves"},
    ]
    path = tmp_path / "c.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    summary = load_into(pg, path, None)
    assert (summary.created, summary.failed, summary.indexed) == (2, 1, 2)
    [error] = summary.errors
    assert (error.line, error.sku) == (2, "P-2")
    assert "could not be stored" in error.reason and "no_test_titles" in error.reason
    assert stored(pg, "P-3")["indexed"]


def test_hostile_image_references_are_refused(settings, tmp_path):
    zipped = tmp_path / "evil.zip"
    with zipfile.ZipFile(zipped, "w") as archive:
        archive.write(DEMO_IMAGES / "1f455.png", "../escape.png")
        archive.write(DEMO_IMAGES / "1f455.png", "/abs.png")
        archive.write(DEMO_IMAGES / "1f45f.png", "shop/images/shoe.png")
    rows = [
        {"sku": "H-1", "title": "Escaping entry", "image": "escape.png"},
        {"sku": "H-2", "title": "Absolute ref", "image": "/abs.png"},
        {"sku": "H-3", "title": "Loopback URL", "image": "http://127.0.0.1:9/x.png"},
        {"sku": "H-4", "title": "Not http", "image": "file:///etc/passwd"},
        {"sku": "H-5", "title": "Shoe in a subfolder", "image": "shoe.png"},
    ]
    summary = load_into(settings, write_csv(tmp_path / "c.csv", rows), zipped)
    reasons = {e.sku: e.reason for e in summary.errors}
    assert "not found in the zip" in reasons["H-1"]  # the ../ entry was never exposed
    assert "relative" in reasons["H-2"]
    assert "non-public address" in reasons["H-3"]
    assert "H-4" in reasons
    assert summary.created == 1 and stored(settings, "H-5")["images"]
