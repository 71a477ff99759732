"""Magento 2 and Shopify product exports load like native catalogs: one product per parent,
its variants under it, HTML as text, and the rows that cannot load reported by line."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner

from backend.catalog import db
from backend.catalog import service as catalog
from backend.errors import ProductNotFound
from loaders.cli import main
from loaders.evaluation import loaded_catalog
from loaders.exports import export_format, html_text
from loaders.pipeline import load_into
from tests.catalogs import EXPORTS, SHOPIFY_PICTURES, jpegs


def pictures(root: Path, refs: list[str]) -> Path:
    """A folder holding a small JPEG at each reference, each a different colour."""
    for ref, data in jpegs(refs).items():
        path = root / ref
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return root


def product(settings, sku):
    """The stored product as a shopper's page shows it, or None when there is none."""
    engine = db.make_engine(settings.database_url)
    try:
        with db.session_scope(db.make_sessionmaker(engine)) as session:
            try:
                found = catalog.get_product(session=session, sku=sku)
            except ProductNotFound:
                return None
            return {
                "title": found.title,
                "description": found.description,
                "category": found.category,
                "brand": found.brand,
                "price": found.price,
                "in_stock": found.in_stock,
                "stock": found.stock,
                "keywords": list(found.keywords),
                "attributes": dict(found.attributes),
                "images": len(found.images),
            }
    finally:
        engine.dispose()


MAGENTO_PICTURES = [
    "m/h/mh01-black_main.jpg",
    "m/h/mh01-gray_main.jpg",
    "m/h/mh01-gray_alt1.jpg",
    "m/h/mh01-gray_back.jpg",
    "m/b/mb01-blue-0.jpg",
]


def test_a_magento_export_loads_one_product_per_parent_with_its_variants(settings, tmp_path):
    images = pictures(tmp_path / "pub-media-catalog-product", MAGENTO_PICTURES)
    summary = load_into(settings, EXPORTS / "magento.csv", images)

    assert (summary.created, summary.indexed) == (2, 2)
    assert [(e.line, e.sku) for e in summary.errors] == [(8, "24-MB99"), (9, "MJ01")]
    assert "disabled in Magento" in summary.errors[0].reason
    assert "MJ01-XS-Red" in summary.errors[1].reason
    assert product(settings, "MH01-S-Black") is None  # a variant is not a product of its own

    hoodie = product(settings, "MH01")
    assert hoodie["title"] == "Chaz Kangeroo Hoodie"  # not the German store view's name
    assert hoodie["description"] == (
        "Ideal for cold-weather training or work outdoors, the Chaz Hoodie promises superior "
        "warmth.\n• Two-tone gray heather hoodie.\n• Machine wash/dry."
    )
    assert hoodie["category"] == "Men > Tops > Hoodies & Sweatshirts"
    assert (hoodie["price"], hoodie["in_stock"], hoodie["stock"]) == (Decimal("52.00"), True, 100)
    assert hoodie["keywords"] == ["hoodie", "fleece"]
    assert hoodie["images"] == 4  # its own three, then the black variant's
    attributes = hoodie["attributes"]
    assert attributes["material"] == "CoolTech™" and attributes["climate"] == ["Cool", "Windy"]
    assert attributes["color"] == ["Black", "Gray"] and attributes["size"] == ["S"]
    assert attributes["categories"] == [
        "Men > Tops > Hoodies & Sweatshirts",
        "Collections > Eco Friendly",
    ]
    assert [(v["sku"], v["color"], v["in_stock"]) for v in attributes["variants"]] == [
        ("MH01-S-Black", "Black", True),
        ("MH01-S-Gray", "Gray", False),
    ]
    assert "has_options" not in attributes

    bag = product(settings, "24-MB01")
    assert bag["title"] == "Joust Duffle Bag™"  # Magento's names are HTML-escaped too
    assert bag["brand"] == "Joust" and bag["stock"] == 7
    assert bag["description"] == "A roomy duffle.\n\nThe sporty Joust Duffle Bag can't be beat."


def test_a_shopify_export_groups_variants_by_handle(settings, tmp_path):
    images = pictures(tmp_path / "images", SHOPIFY_PICTURES)
    summary = load_into(settings, EXPORTS / "shopify.csv", images)

    assert (summary.created, summary.indexed) == (2, 2)
    assert [(e.line, e.sku) for e in summary.errors] == [(6, "draft-scarf"), (7, "orphan")]
    assert "draft" in summary.errors[0].reason
    assert "no row of handle 'orphan' has a Title" in summary.errors[1].reason

    shoe = product(settings, "trail-runner")
    assert shoe["title"] == "Trail Runner Shoe" and shoe["brand"] == "Northpeak"
    assert shoe["description"] == "Grippy soles for muddy trails & rocky paths."
    assert shoe["category"] == "Running Shoes" and shoe["keywords"] == ["running", "trail"]
    # The cheapest variant's price; in stock while one variant is; pictures in position order.
    assert (shoe["price"], shoe["in_stock"], shoe["stock"]) == (Decimal("89.00"), True, 3)
    assert shoe["images"] == 3
    variants = shoe["attributes"]["variants"]
    assert [(v["sku"], v["size"], v["in_stock"]) for v in variants] == [
        ("TR-9-BLK", "9", True),
        ("TR-10-BLK", "10", False),
    ]
    assert shoe["attributes"]["product_category"] == "Apparel & Accessories > Shoes"
    assert product(settings, "wool-beanie")["price"] == Decimal("19.50")


def test_the_cli_loads_an_export_and_names_its_rejected_rows(settings_env, tmp_path):
    images = pictures(tmp_path / "images", SHOPIFY_PICTURES)
    result = CliRunner().invoke(
        main,
        ["load", str(EXPORTS / "shopify.csv"), "--images", str(images), "--no-progress"],
        env=settings_env,
    )
    assert result.exit_code != 0  # some rows did not load
    assert "2 created" in result.stdout
    assert "line 6 (draft-scarf)" in result.stderr


@pytest.mark.parametrize(
    ("columns", "kind"),
    [
        (["sku", "name", "product_type", "price"], "magento"),
        (["Handle", "Title", "Body (HTML)", "Variant SKU"], "shopify"),
        (["sku", "title", "price"], None),
        (["sku", "title", "name", "product_type"], None),  # a native catalog with extra columns
    ],
)
def test_the_export_format_is_told_by_the_header(columns, kind):
    assert export_format(columns) == kind


def test_html_becomes_the_text_a_shopper_reads():
    assert html_text("<ul><li>Soft&nbsp;&amp; warm</li><li>Machine   wash</li></ul>") == (
        "* Soft & warm\n* Machine wash"
    )
    assert html_text("<script>alert(1)</script><p>Plain</p>") == "Plain"
    assert html_text("no markup at all") == "no markup at all"
    assert html_text(None) == ""


def test_an_export_row_that_breaks_a_native_rule_is_reported_by_its_line(settings, tmp_path):
    catalog_path = tmp_path / "export.csv"
    catalog_path.write_text(
        "Handle,Title,Body (HTML),Variant SKU,Variant Price\n"
        "good,Good Hat,<p>Hat.</p>,GH-1,10\n"
        "pricey,Bad Price,<p>x</p>,BP-1,lots\n"
    )
    summary = load_into(settings, catalog_path, None)
    assert summary.created == 1
    assert json.dumps([(e.line, e.sku) for e in summary.errors]) == '[[3, "pricey"]]'


@pytest.mark.parametrize("mode", ["hybrid", "keyword"])
def test_a_products_attributes_find_it(settings, tmp_path, mode):
    # Words only the attributes carry: a climate, an activity, a further category's name.
    images = pictures(tmp_path / "images", MAGENTO_PICTURES)
    with loaded_catalog(settings, EXPORTS / "magento.csv", images) as loaded:
        for query, expected in (
            ("windy", "MH01"),
            ("for the gym", "24-MB01"),
            ("eco friendly", "MH01"),
        ):
            hits = loaded.service.search_text(query, mode=mode, limit=5)
            assert hits and hits[0].payload["sku"] == expected, query


@pytest.mark.parametrize("mode", ["hybrid", "keyword"])
def test_a_variant_sku_finds_its_product_first(settings, tmp_path, mode):
    images = pictures(tmp_path / "images", SHOPIFY_PICTURES)
    with loaded_catalog(settings, EXPORTS / "shopify.csv", images) as loaded:
        for query in ("TR-10-BLK", "tr-9-blk", "WB-1"):
            hits = loaded.service.search_text(query, mode=mode, limit=5)
            expected = "wool-beanie" if query == "WB-1" else "trail-runner"
            assert hits and hits[0].payload["sku"] == expected, query
        # Part of a sku is no sku: nothing is found by it ("TR-10" would find the size 10).
        assert not loaded.service.search_text("TR-BLK", mode="keyword", limit=5)
