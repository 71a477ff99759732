"""Rebuild the demo catalog (data/demo/) from openly licensed emoji data.

Products are the product-like emoji (clothing, food, tools, instruments, ...) with Twemoji
artwork, English and Chinese CLDR names and tags (emojibase-data), shop categories mapped
from the emoji taxonomy, and seeded synthetic brand, price and stock. Run:

    npm install --prefix /tmp/vitrine-npm emoji-datasource-twitter@16 \
        emoji-datasource-google@16 emojibase-data@17
    python data/demo/build_demo.py --npm-dir /tmp/vitrine-npm/node_modules

The output is deterministic: the same packages give byte-identical files.
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import shutil
from pathlib import Path

HERE = Path(__file__).resolve().parent
FIXTURES = HERE.parents[1] / "tests" / "fixtures" / "noto"
# Products whose Google Noto picture the tests use as a held-out "other photo" query.
NOTO_FIXTURES = [
    "1f455",
    "1f45f",
    "1f9e4",
    "1f34e",
    "1f3b8",
    "1f4f1",
    "1f528",
    "1f392",
    "26bd",
    "2615",
]

# Emoji subcategory -> shop category.
SUBCATEGORIES = {
    "clothing": "Clothing",
    "food-fruit": "Fruit & Vegetables",
    "food-vegetable": "Fruit & Vegetables",
    "food-prepared": "Food",
    "food-asian": "Food",
    "food-sweet": "Sweets & Snacks",
    "drink": "Drinks",
    "dishware": "Kitchen",
    "household": "Home",
    "sport": "Sports",
    "award-medal": "Sports",
    "game": "Toys & Games",
    "arts & crafts": "Toys & Games",
    "event": "Party & Gifts",
    "music": "Music",
    "musical-instrument": "Music",
    "sound": "Electronics",
    "phone": "Electronics",
    "computer": "Electronics",
    "light & video": "Electronics",
    "book-paper": "Books & Stationery",
    "writing": "Books & Stationery",
    "office": "Office",
    "mail": "Office",
    "tool": "Tools & Hardware",
    "lock": "Tools & Hardware",
    "science": "Health & Science",
    "medical": "Health & Science",
    "plant-flower": "Garden",
    "plant-other": "Garden",
    "transport-ground": "Vehicles",
}
# Clothing is split further by what the item is.
SHOES = {"shoe", "sneaker", "boot", "sandal", "heel", "flat", "ballet", "running", "hiking"}
BAGS = {"bag", "purse", "pouch", "backpack", "handbag", "clutch"}
HATS = {"hat", "cap", "crown", "helmet"}
ACCESSORIES = {
    "glasses",
    "sunglasses",
    "goggles",
    "ring",
    "gem",
    "lipstick",
    "necklace",
    "ribbon",
    "scarf",
    "gloves",
    "fan",
    "comb",
    "beads",
    "umbrella",
    "watch",
}
# Not products (or not sellable), though their subcategory is.
EXCLUDE = {
    "spade suit",
    "club suit",
    "heart suit",
    "diamond suit",
    "mahjong red dragon",
    "joker",
    "flower playing cards",
    "slot machine",
    "cooking",
    "salt",
    "herb",
    "four leaf clover",
    "shamrock",
    "maple leaf",
    "fallen leaf",
    "leaf fluttering in wind",
    "empty nest",
    "nest with eggs",
    "leafless tree",
    "rosette",
    "wilted flower",
    "clinking beer mugs",
    "clinking glasses",
    "pouring liquid",
    "ice",
    "jack-o-lantern",
    "fireworks",
    "sparkler",
    "tanabata tree",
    "pine decoration",
    "moon viewing ceremony",
    "reminder ribbon",
    "firecracker",
    "sparkles",
    "red envelope",
    "admission tickets",
    "ticket",
    "military helmet",
    "prayer beads",
    "military medal",
    "musical note",
    "musical notes",
    "level slider",
    "control knobs",
    "film frames",
    "magnifying glass tilted left",
    "flag in hole",
    "performing arts",
    "locomotive",
    "railway car",
    "high-speed train",
    "bullet train",
    "train",
    "metro",
    "light rail",
    "station",
    "tram",
    "tram car",
    "bus",
    "oncoming bus",
    "trolleybus",
    "bus stop",
    "minibus",
    "ambulance",
    "fire engine",
    "police car",
    "oncoming police car",
    "oncoming taxi",
    "oncoming automobile",
    "monorail",
    "mountain railway",
    "horizontal traffic light",
    "vertical traffic light",
    "construction",
    "police car light",
    "stop sign",
    "oil drum",
    "motorway",
    "railway track",
    "fuel pump",
    "articulated lorry",
    "page with curl",
    "page facing up",
    "bookmark tabs",
    "rolled-up newspaper",
    "bomb",
    "dagger",
    "crossed swords",
    "link",
    "chains",
    "balance scale",
    "gear",
    "drop of blood",
    "x-ray",
    "dna",
    "low battery",
    "card index",
    "chart increasing",
    "chart decreasing",
    "bar chart",
    "card index dividers",
    "mobile phone with arrow",
    "pager",
    "loudspeaker",
    "postal horn",
    "muted speaker",
    "speaker low volume",
    "speaker medium volume",
    "speaker high volume",
    "bell with slash",
    "outbox tray",
    "inbox tray",
    "e-mail",
    "incoming envelope",
    "envelope with arrow",
    "closed mailbox with raised flag",
    "open mailbox with raised flag",
    "open mailbox with lowered flag",
    "postbox",
    "ballot box with ballot",
    "locked with pen",
    "locked with key",
    "unlocked",
    "door",
    "elevator",
    "window",
    "bubbles",
    "satellite antenna",
}

BRANDS = {
    "Clothing": ["Northloom", "Cotton & Co", "Urbanette", "Kestrel Wear", "Fieldtone"],
    "Shoes": ["Stridewell", "Pavement", "Trailmark", "Solea"],
    "Hats": ["Brimfield", "Capstone", "Millinery Row"],
    "Accessories": ["Lumen & Lark", "Facet", "Ostara", "Carryall", "Hollis"],
    "Fruit & Vegetables": ["Green Acre", "Orchard Lane", "Sunfield Farms"],
    "Food": ["Hearth Kitchen", "Umami House", "Daily Table", "Golden Spoon"],
    "Sweets & Snacks": ["Sugarbird", "Crumb & Co", "Honeycomb"],
    "Drinks": ["Brookside", "Steep & Pour", "Fizzwell"],
    "Kitchen": ["Copperpot", "Chef's Mark", "Ironleaf"],
    "Home": ["Hearthstone", "Nestwell", "Linden Home"],
    "Sports": ["Apex Motion", "Fieldday", "Summit Sport", "Pacer"],
    "Toys & Games": ["Playwright", "Kite & Key", "Bramble Toys"],
    "Party & Gifts": ["Confetti Co", "Gala", "Wrap & Bow"],
    "Music": ["Resonance", "Fretwork", "Tempo House"],
    "Electronics": ["Voltaic", "Pixelon", "Nimbus Tech", "Quanta"],
    "Books & Stationery": ["Inkwell", "Paperleaf", "Quill & Page"],
    "Office": ["Deskwise", "Filemark", "Clerkwell"],
    "Tools & Hardware": ["Forgeline", "Ironclad", "Boltworks", "Trueset"],
    "Health & Science": ["Vitalis", "Beaker Labs", "Carewell"],
    "Garden": ["Greenthumb", "Bloomfield", "Terra Verde"],
    "Vehicles": ["Roadmaster", "Velo", "Motorvia"],
}
PRICES = {  # (low, high) in USD
    "Clothing": (9, 120),
    "Shoes": (25, 180),
    "Hats": (8, 90),
    "Accessories": (5, 300),
    "Fruit & Vegetables": (0.5, 8),
    "Food": (2, 25),
    "Sweets & Snacks": (1, 15),
    "Drinks": (1, 40),
    "Kitchen": (4, 90),
    "Home": (3, 600),
    "Sports": (6, 250),
    "Toys & Games": (4, 80),
    "Party & Gifts": (2, 50),
    "Music": (10, 900),
    "Electronics": (9, 1500),
    "Books & Stationery": (1, 45),
    "Office": (1, 150),
    "Tools & Hardware": (4, 200),
    "Health & Science": (3, 120),
    "Garden": (3, 60),
    "Vehicles": (80, 25000),
}
TEMPLATES = [
    "{title} by {brand}. {Tags}.",
    "{brand} {lower}: {tags}.",
    "A {lower} from {brand}'s {category_lower} range. {Tags}.",
    "{title} from {brand}, for everyday use. {Tags}.",
]


def shop_category(subcategory: str, label: str) -> str:
    category = SUBCATEGORIES[subcategory]
    if category != "Clothing":
        return category
    words = set(label.replace("’s", "").replace("-", " ").split())
    for group, name in (
        (SHOES, "Shoes"),
        (BAGS, "Accessories"),
        (HATS, "Hats"),
        (ACCESSORIES, "Accessories"),
    ):
        if words & group:
            return name
    return "Clothing"


def build(npm: Path, out: Path, noto_out: Path | None) -> list[dict[str, str]]:
    twitter = npm / "emoji-datasource-twitter"
    google = npm / "emoji-datasource-google"
    datasource = json.loads((twitter / "emoji.json").read_text(encoding="utf-8"))
    en = {
        e["hexcode"]: e
        for e in json.loads(
            (npm / "emojibase-data" / "en" / "data.json").read_text(encoding="utf-8")
        )
    }
    zh = {
        e["hexcode"]: e
        for e in json.loads(
            (npm / "emojibase-data" / "zh" / "data.json").read_text(encoding="utf-8")
        )
    }

    rows, seen_titles, dropped = [], set(), {"no zh label": 0, "no Noto image": 0}
    for item in sorted(datasource, key=lambda e: e["unified"]):
        unified = item["unified"]
        if item["subcategory"] not in SUBCATEGORIES or "200D" in unified:
            continue
        hexcode = unified.replace("-FE0F", "")
        entry = en.get(hexcode) or en.get(unified)
        if entry is None or entry["label"] in EXCLUDE:
            continue
        label = entry["label"]
        zh_entry = zh.get(entry["hexcode"])
        if zh_entry is None or not zh_entry.get("label"):
            dropped["no zh label"] += 1
            continue
        if not item.get("has_img_google") or not item.get("has_img_twitter"):
            dropped["no Noto image"] += 1
            continue
        title = label[0].upper() + label[1:]
        if title.lower() in seen_titles:
            continue
        seen_titles.add(title.lower())
        category = shop_category(item["subcategory"], label)
        rng = random.Random(f"vitrine-demo-{unified}")
        brand = rng.choice(BRANDS[category])
        low, high = PRICES[category]
        price = round(low * (high / low) ** rng.random(), 2)
        stock = 0 if rng.random() < 0.12 else rng.randint(1, 250)
        tags = [t for t in entry.get("tags", []) if t != label][:8]
        picked = rng.sample(tags, k=min(3, len(tags)))
        description = rng.choice(TEMPLATES).format(
            title=title,
            lower=label,
            brand=brand,
            category_lower=category.lower(),
            tags=", ".join(picked),
            Tags=(", ".join(picked)).capitalize() or title,
        )
        image = item["image"]
        rows.append(
            {
                "sku": "VT-" + hexcode,
                "title": title,
                "title_zh": zh_entry["label"],
                "description": description,
                "category": category,
                "brand": brand,
                "price": f"{price:.2f}",
                "currency": "USD",
                "in_stock": "true" if stock > 0 else "false",
                "stock": str(stock),
                "keywords": "|".join(tags),
                "image": image,
                "source_id": hexcode,
            }
        )
        shutil.copyfile(twitter / "img" / "twitter" / "64" / image, out / "images" / image)
        if noto_out is not None:
            shutil.copyfile(google / "img" / "google" / "64" / image, noto_out / image)
    for name in NOTO_FIXTURES:
        shutil.copyfile(google / "img" / "google" / "64" / f"{name}.png", FIXTURES / f"{name}.png")
    print(f"dropped: {dropped}")
    return sorted(rows, key=lambda r: r["sku"])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--npm-dir", type=Path, required=True, help="node_modules holding the three npm packages"
    )
    parser.add_argument("--out", type=Path, default=HERE)
    parser.add_argument(
        "--noto-out", type=Path, help="also copy every product's Google Noto picture here (queries)"
    )
    args = parser.parse_args()
    images = args.out / "images"
    shutil.rmtree(images, ignore_errors=True)
    images.mkdir(parents=True)
    FIXTURES.mkdir(parents=True, exist_ok=True)
    if args.noto_out:
        args.noto_out.mkdir(parents=True, exist_ok=True)
    rows = build(args.npm_dir, args.out, args.noto_out)
    with (args.out / "catalog.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    counts: dict[str, int] = {}
    for row in rows:
        counts[row["category"]] = counts.get(row["category"], 0) + 1
    print(f"{len(rows)} products")
    for category, n in sorted(counts.items(), key=lambda kv: -kv[1]):
        print(f"  {n:4d}  {category}")


if __name__ == "__main__":
    main()
