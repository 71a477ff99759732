"""A synthetic catalog of any size, made from the demo catalog's products with varied words.

Each synthetic product is a demo product with an adjective, a material and a colour added to
its title, a brand, price and stock drawn from a seeded generator, and the demo product's image.
"""

from __future__ import annotations

import csv
import random
from pathlib import Path

DEMO = Path(__file__).resolve().parents[1] / "data" / "demo"
COLOURS = ["red", "blue", "green", "black", "white", "yellow", "pink", "grey", "orange", "purple"]
MATERIALS = ["cotton", "leather", "steel", "wooden", "plastic", "wool", "glass", "bamboo", "linen"]
ADJECTIVES = ["classic", "premium", "compact", "vintage", "lightweight", "deluxe", "eco", "mini"]
BRANDS = [f"Brand{i:03d}" for i in range(200)]


def demo_rows() -> list[dict[str, str]]:
    """The demo catalog's rows."""
    with (DEMO / "catalog.csv").open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def write_catalog(path: Path, count: int, *, images: bool, seed: int = 7) -> Path:
    """Write ``count`` synthetic rows to ``path`` (CSV); image paths point at data/demo/images."""
    rng = random.Random(seed)
    base = demo_rows()
    fields = [
        "sku",
        "title",
        "title_zh",
        "description",
        "category",
        "brand",
        "price",
        "stock",
        "keywords",
        "image",
    ]
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields)
        writer.writeheader()
        for i in range(count):
            row = base[i % len(base)]
            words = [rng.choice(ADJECTIVES), rng.choice(COLOURS), rng.choice(MATERIALS)]
            writer.writerow(
                {
                    "sku": f"SYN-{i:07d}",
                    "title": f"{' '.join(words).capitalize()} {row['title'].lower()}",
                    "title_zh": row["title_zh"],
                    "description": row["description"],
                    "category": row["category"],
                    "brand": rng.choice(BRANDS),
                    "price": f"{rng.uniform(1, 500):.2f}",
                    "stock": rng.choice([0, 1, 5, 20, 100]),
                    "keywords": row["keywords"],
                    "image": row["image"] if images else "",
                }
            )
    return path
