"""The Luma benchmark's converter on a three-product stand-in for Magento's sample data: the
catalog it writes loads, the photo it holds out is gone from the catalog, grades follow the
judged queries' rules."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from PIL import Image

from bench.luma import CONFIGURABLE, GEAR, MEDIA, SIMPLE, Sample, build
from loaders.sources import read_catalog


def _csv(path: Path, rows: list[dict[str, str]], columns: list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, columns, restval="")
        writer.writeheader()
        writer.writerows(rows)


def _picture(root: Path, ref: str, shade: int) -> None:
    path = root / MEDIA / ref.lstrip("/")
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (16, 16), (shade, 50, 50)).save(path, "JPEG")


EXPORT = ["sku", "product_type", "categories", "name", "description", "price", "visibility"]
EXPORT += ["base_image", "additional_images", "additional_attributes", "qty", "is_in_stock"]
EXPORT += ["configurable_variations"]
GEAR_COLUMNS = ["category", "name", "sku", "price", "qty", "description", "style_bags"]
GEAR_COLUMNS += ["activity", "attribute_set"]


def sample(root: Path) -> Path:
    hoodie = "Default Category/Men/Tops/Hoodies & Sweatshirts"
    rows = [
        {
            "sku": f"MH01-S-{colour}",
            "product_type": "simple",
            "categories": hoodie,
            "name": f"Chaz Hoodie-S-{colour}",
            "price": "52",
            "visibility": "Not Visible Individually",
            "base_image": f"/m/h/mh01-{colour.lower()}_main.jpg",
            "additional_attributes": f"size=S,color={colour}",
            "qty": "10",
            "is_in_stock": "1",
        }
        for colour in ("Black", "Gray")
    ]
    rows.append(
        {
            "sku": "MH01",
            "product_type": "configurable",
            "categories": f"{hoodie},Default Category/Collections/Eco Friendly",
            "name": "Chaz Hoodie",
            "description": "<p>Warm.</p>",
            "price": "52",
            "visibility": "Catalog, Search",
            "base_image": "/m/h/mh01-gray_main.jpg",
            "additional_images": "/m/h/mh01-gray_back.jpg",
            "additional_attributes": "material=Wool,climate=Cold|Windy",
            "is_in_stock": "1",
            "configurable_variations": "sku=MH01-S-Black,size=S,color=Black|"
            "sku=MH01-S-Gray,size=S,color=Gray",
        }
    )
    _csv(root / CONFIGURABLE, rows, EXPORT)
    bag = {
        "category": "Gear\nBags",
        "name": "Crown Summit Backpack",
        "sku": "24-MB03",
        "price": "38",
        "qty": "100",
        "description": "<p>A backpack.</p>",
        "style_bags": "Backpack\nLaptop",
        "activity": "Gym\nHiking",
        "attribute_set": "Bag",
    }
    for name in GEAR:
        _csv(
            root / SIMPLE / f"products_gear_{name}.csv",
            [bag] if name == "bags" else [],
            GEAR_COLUMNS,
        )
        images = [{"sku": "24-MB03", "image": "/m/b/mb03-black-0.jpg"}] if name == "bags" else []
        _csv(root / SIMPLE / f"images_gear_{name}.csv", images, ["sku", "image"])
    for shade, ref in enumerate(
        ["/m/h/mh01-black_main.jpg", "/m/h/mh01-gray_main.jpg", "/m/h/mh01-gray_back.jpg"]
        + ["/m/b/mb03-black-0.jpg"]
    ):
        _picture(root, ref, 60 * shade)
    return root


def test_the_converter_writes_a_loadable_catalog_and_graded_queries(tmp_path):
    out = tmp_path / "luma"
    counts = build(Sample(sample(tmp_path / "sample")), out)
    assert counts["products"] == 2 and counts["rows"] == 4

    products = [item[1] for item in read_catalog(out / "catalog.csv") if isinstance(item, tuple)]
    assert [p["sku"] for p in products] == ["MH01", "24-MB03"]
    hoodie = products[0]
    assert hoodie["category"] == "Men > Tops > Hoodies & Sweatshirts"
    # The hoodie's last spare photo (the black variant's) is held out of the catalog.
    assert "m/h/mh01-black_main.jpg" not in hoodie["image"]
    assert (out / "photos" / "mh01-black_main.jpg").is_file()
    assert all((out / "images" / ref).is_file() for ref in hoodie["image"].split("|"))

    queries = {
        q["id"]: q for q in map(json.loads, (out / "queries.jsonl").read_text().splitlines())
    }
    assert queries["luma-shopper/01"]["relevant"] == {"MH01": 2}  # men's hoodie
    assert queries["luma-shopper/02"]["relevant"] == {"MH01": 1}  # womens hoodies: wrong gender
    assert queries["luma-shopper/19"]["relevant"] == {"24-MB03": 2}  # backpack
    assert queries["luma-shopper/31"]["relevant"] == {"MH01": 2}  # wool hoodie
    assert queries["luma-shopper/28"]["relevant"] == {"MH01": 2}  # black hoodie: a variant
    assert queries["luma-variant-sku/001"] == {
        "id": "luma-variant-sku/001",
        "task": "luma-variant-sku",
        "text": "MH01-S-Black",
        "relevant": ["MH01"],
    }
    assert queries["luma-photo/mh01-black_main"]["image"] == "photos/mh01-black_main.jpg"
    assert "luma-photo/mb03-black-0" not in queries  # a product with one photo keeps it
