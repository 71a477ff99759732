"""Small catalogs for tests: three products with real demo pictures, as CSV and zip."""

from __future__ import annotations

import csv
import io
import zipfile
from pathlib import Path

from PIL import Image

DEMO_IMAGES = Path(__file__).resolve().parents[1] / "data" / "demo" / "images"
# The Magento and Shopify exports of tests/fixtures/exports, and the pictures they name.
EXPORTS = Path(__file__).resolve().parent / "fixtures" / "exports"
SHOPIFY_PICTURES = [
    "shoes/tr-black.jpg",
    "shoes/tr-side.jpg",
    "shoes/tr-sole.jpg",
    "hats/beanie.jpg",
]
COLUMNS = ["sku", "title", "title_zh", "category", "brand", "price", "stock", "keywords", "image"]


def write_csv(path: Path, rows: list[dict]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    return path


def good_rows() -> list[dict]:
    return [
        {
            "sku": "A-1",
            "title": "T-shirt",
            "title_zh": "T恤",
            "category": "Clothing",
            "brand": "Acme",
            "price": "19.90",
            "stock": "5",
            "keywords": "shirt|top",
            "image": "1f455.png",
        },
        {
            "sku": "A-2",
            "title": "Running shoe",
            "title_zh": "跑鞋",
            "category": "Shoes",
            "brand": "Acme",
            "price": "79",
            "stock": "0",
            "keywords": "shoe|sport",
            "image": "1f45f.png",
        },
        {
            "sku": "A-3",
            "title": "Gloves",
            "title_zh": "手套",
            "category": "Clothing",
            "brand": "Warmly",
            "price": "12.5",
            "stock": "",
            "keywords": "winter",
            "image": "1f9e4.png",
        },
    ]


def images_zip(path: Path, names=("1f455.png", "1f45f.png", "1f9e4.png")) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name in names:
            archive.write(DEMO_IMAGES / name, f"images/{name}")
    return path


def jpegs(refs: list[str]) -> dict[str, bytes]:
    """A small JPEG for each reference, each a different colour (reference -> bytes)."""
    pictures = {}
    for number, ref in enumerate(refs):
        buffer = io.BytesIO()
        Image.new("RGB", (32, 32), (40 * number % 256, 90, 160)).save(buffer, "JPEG")
        pictures[ref] = buffer.getvalue()
    return pictures
