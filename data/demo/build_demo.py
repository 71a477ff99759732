"""Rebuild the demo catalog (data/demo/) from openly licensed emoji data.

Products are the product-like emoji (clothing, food, tools, instruments, ...) with Twemoji
artwork (CC-BY 4.0), English and Chinese CLDR names and tags (emojibase-data), shop
categories mapped from the emoji taxonomy, and seeded synthetic brand, price and stock.
Google's Noto drawing of a few products goes to tests/fixtures/noto/ as held-out image
queries (same product, different picture).

Run from the repository root (stdlib + pillow only):

    npm install --prefix /tmp/vitrine-npm emoji-datasource-twitter@16 \\
        emoji-datasource-google@16 emojibase-data@17
    .venv/bin/python data/demo/build_demo.py --npm-dir /tmp/vitrine-npm/node_modules

Writes data/demo/catalog.csv, data/demo/images/*.png and tests/fixtures/noto/*.png (the
small committed set). `--noto-out DIR --noto-all` writes every product's Noto picture to DIR
instead (the full held-out query set; not committed). The output is deterministic: the same
package versions give byte-identical files.
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import shutil
import sys
from collections import Counter
from pathlib import Path

from PIL import Image

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
DEFAULT_NOTO_OUT = ROOT / "tests" / "fixtures" / "noto"
COLUMNS = [
    "sku",
    "title",
    "title_zh",
    "description",
    "category",
    "brand",
    "price",
    "currency",
    "in_stock",
    "stock",
    "keywords",
    "image",
    "source_id",
]
SEED = "vitrine-demo"
OUT_OF_STOCK_SHARE = 0.12

# Products whose Google Noto picture the tests use as a held-out "other picture" query:
# T-shirt, running shoe, gloves, red apple, guitar, mobile phone, hammer, backpack,
# soccer ball, hot beverage.
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

# Emoji subcategory (emoji-datasource) -> shop category. "clothing" is split by CLOTHING.
SUBCATEGORIES = {
    "clothing": "Clothing",
    "food-fruit": "Fruit & Vegetables",
    "food-vegetable": "Fruit & Vegetables",
    "food-prepared": "Food",
    "food-asian": "Food",
    "food-sweet": "Food",
    "drink": "Drinks",
    "dishware": "Home & Kitchen",
    "household": "Home & Kitchen",
    "sport": "Sports & Outdoors",
    "award-medal": "Sports & Outdoors",
    "game": "Toys & Hobbies",
    "arts & crafts": "Toys & Hobbies",
    "event": "Toys & Hobbies",
    "music": "Music",
    "musical-instrument": "Music",
    "sound": "Electronics",
    "phone": "Electronics",
    "computer": "Electronics",
    "light & video": "Electronics",
    "book-paper": "Books & Office",
    "writing": "Books & Office",
    "office": "Books & Office",
    "mail": "Books & Office",
    "tool": "Tools & Hardware",
    "lock": "Tools & Hardware",
    "science": "Health & Science",
    "medical": "Health & Science",
    "plant-flower": "Garden",
    "plant-other": "Garden",
    "transport-ground": "Vehicles",
}
# English CLDR label -> shop category: the clothing split, items from other subcategories
# (time, sky & weather, hotel, place-map, place-other, transport-water, transport-air), and
# items whose subcategory would put them in the wrong aisle.
OVERRIDES = {
    # clothing subcategory: shoes
    "man’s shoe": "Shoes",
    "running shoe": "Shoes",
    "high-heeled shoe": "Shoes",
    "woman’s sandal": "Shoes",
    "woman’s boot": "Shoes",
    "hiking boot": "Shoes",
    "flat shoe": "Shoes",
    "ballet shoes": "Shoes",
    "thong sandal": "Shoes",
    # clothing subcategory: bags and accessories
    "backpack": "Bags & Accessories",
    "purse": "Bags & Accessories",
    "handbag": "Bags & Accessories",
    "clutch bag": "Bags & Accessories",
    "shopping bags": "Bags & Accessories",
    "glasses": "Bags & Accessories",
    "sunglasses": "Bags & Accessories",
    "goggles": "Bags & Accessories",
    "necktie": "Bags & Accessories",
    "scarf": "Bags & Accessories",
    "gloves": "Bags & Accessories",
    "ring": "Bags & Accessories",
    "gem stone": "Bags & Accessories",
    "crown": "Bags & Accessories",
    "folding hand fan": "Bags & Accessories",
    "hair pick": "Bags & Accessories",
    "lipstick": "Health & Science",
    # from other subcategories
    "watch": "Bags & Accessories",
    "umbrella": "Bags & Accessories",
    "closed umbrella": "Bags & Accessories",
    "luggage": "Bags & Accessories",
    "briefcase": "Bags & Accessories",
    "alarm clock": "Home & Kitchen",
    "mantelpiece clock": "Home & Kitchen",
    "timer clock": "Home & Kitchen",
    "stopwatch": "Sports & Outdoors",
    "umbrella on ground": "Garden",
    "thermometer": "Health & Science",
    "compass": "Sports & Outdoors",
    "tent": "Sports & Outdoors",
    "parachute": "Sports & Outdoors",
    "ring buoy": "Sports & Outdoors",
    "canoe": "Sports & Outdoors",
    "running shirt": "Clothing",
    "bow and arrow": "Sports & Outdoors",
    "boomerang": "Toys & Hobbies",
    "shield": "Toys & Hobbies",
    "sailboat": "Vehicles",
    "speedboat": "Vehicles",
    "motor boat": "Vehicles",
    "world map": "Books & Office",
    "mushroom": "Fruit & Vegetables",
    "sheaf of rice": "Food",
    "lotion bottle": "Health & Science",
    "razor": "Health & Science",
    "toothbrush": "Health & Science",
    "soap": "Health & Science",
    "white cane": "Health & Science",
    "manual wheelchair": "Health & Science",
    "motorized wheelchair": "Health & Science",
    "headphone": "Electronics",
    "studio microphone": "Electronics",
    "microphone": "Electronics",
    "radio": "Electronics",
    "teapot": "Home & Kitchen",
    "baby bottle": "Home & Kitchen",
    "wine glass": "Home & Kitchen",
    "tumbler glass": "Home & Kitchen",
    "candle": "Home & Kitchen",
    "diya lamp": "Home & Kitchen",
    "red paper lantern": "Home & Kitchen",
    "light bulb": "Home & Kitchen",
    "framed picture": "Home & Kitchen",
    "wind chime": "Home & Kitchen",
    "bell": "Music",
    "abacus": "Books & Office",
    "magnifying glass tilted right": "Books & Office",
}
# Titles that capitalising the first letter gets wrong.
TITLES = {"dvd": "DVD"}
# Not products (or not something a shop sells), though their subcategory is.
EXCLUDE = {
    # game / arts / event
    "spade suit",
    "club suit",
    "heart suit",
    "diamond suit",
    "mahjong red dragon",
    "joker",
    "flower playing cards",
    "slot machine",
    "performing arts",
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
    "crystal ball",
    "knot",
    # food and drink
    "cooking",
    "salt",
    "clinking beer mugs",
    "clinking glasses",
    "pouring liquid",
    "ice",
    # plants
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
    "white flower",
    "deciduous tree",
    # clothing
    "military helmet",
    "prayer beads",
    "woman’s clothes",
    # sport
    "military medal",
    "flag in hole",
    "1st place medal",
    "2nd place medal",
    "3rd place medal",
    # music, sound, video
    "musical note",
    "musical notes",
    "level slider",
    "control knobs",
    "film frames",
    "magnifying glass tilted left",
    "loudspeaker",
    "postal horn",
    "muted speaker",
    "speaker low volume",
    "speaker medium volume",
    "speaker high volume",
    "bell with slash",
    # vehicles and street furniture
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
    "taxi",
    "auto rickshaw",
    "racing car",
    # paper, office, mail
    "page with curl",
    "page facing up",
    "bookmark tabs",
    "rolled-up newspaper",
    "card index",
    "chart increasing",
    "chart decreasing",
    "bar chart",
    "card index dividers",
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
    "label",
    "ledger",
    "green book",
    "blue book",
    "orange book",
    # tools, weapons, symbols
    "bomb",
    "dagger",
    "crossed swords",
    "link",
    "chains",
    "balance scale",
    "gear",
    "locked with pen",
    "locked with key",
    "unlocked",
    # science, medical
    "drop of blood",
    "x-ray",
    "dna",
    "satellite antenna",
    # electronics
    "low battery",
    "mobile phone with arrow",
    "pager",
    # household
    "door",
    "elevator",
    "window",
    "bubbles",
    "shopping cart",
}

BRANDS = {
    "Clothing": ["Northloom", "Cotton & Co", "Urbanette", "Kestrel Wear", "Fieldtone"],
    "Shoes": ["Stridewell", "Pavement", "Trailmark", "Solea"],
    "Bags & Accessories": ["Lumen & Lark", "Facet", "Ostara", "Carryall", "Hollis"],
    "Fruit & Vegetables": ["Green Acre", "Orchard Lane", "Sunfield Farms"],
    "Food": ["Hearth Kitchen", "Umami House", "Daily Table", "Golden Spoon", "Sugarbird"],
    "Drinks": ["Brookside", "Steep & Pour", "Fizzwell"],
    "Home & Kitchen": ["Copperpot", "Hearthstone", "Nestwell", "Linden Home"],
    "Garden": ["Greenthumb", "Bloomfield", "Terra Verde"],
    "Sports & Outdoors": ["Apex Motion", "Fieldday", "Summit Sport", "Pacer"],
    "Toys & Hobbies": ["Playwright", "Kite & Key", "Bramble Toys", "Confetti Co"],
    "Music": ["Resonance", "Fretwork", "Tempo House"],
    "Electronics": ["Voltaic", "Pixelon", "Nimbus Tech", "Quanta"],
    "Books & Office": ["Inkwell", "Paperleaf", "Quill & Page", "Deskwise"],
    "Tools & Hardware": ["Forgeline", "Ironclad", "Boltworks", "Trueset"],
    "Health & Science": ["Vitalis", "Beaker Labs", "Carewell"],
    "Vehicles": ["Roadmaster", "Velo", "Motorvia"],
}
PRICES = {  # (low, high) in USD, drawn log-uniformly
    "Clothing": (8, 120),
    "Shoes": (25, 180),
    "Bags & Accessories": (5, 300),
    "Fruit & Vegetables": (0.5, 8),
    "Food": (1, 25),
    "Drinks": (1, 40),
    "Home & Kitchen": (3, 600),
    "Garden": (3, 60),
    "Sports & Outdoors": (6, 250),
    "Toys & Hobbies": (3, 80),
    "Music": (30, 1200),
    "Electronics": (9, 1500),
    "Books & Office": (1, 45),
    "Tools & Hardware": (4, 200),
    "Health & Science": (3, 300),
    "Vehicles": (30, 60000),
}
# Items whose price is far from the rest of their category: (low, high) in USD.
PRICE_TIERS = [
    (
        (2, 40),
        {
            "battery",
            "electric plug",
            "floppy disk",
            "optical disk",
            "DVD",
            "computer disk",
            "videocassette",
            "telephone receiver",
            "flashlight",
            "bell",
        },
    ),
    (
        (15, 120),
        {
            "computer mouse",
            "trackball",
            "keyboard",
            "megaphone",
            "headphone",
            "microphone",
            "radio",
            "telephone",
            "clapper board",
        },
    ),
    (
        (150, 2000),
        {
            "laptop",
            "desktop computer",
            "television",
            "camera",
            "camera with flash",
            "video camera",
            "movie camera",
            "film projector",
            "mobile phone",
            "printer",
            "fax machine",
            "studio microphone",
        },
    ),
    ((3, 40), {"musical score", "maracas", "bell"}),
    ((150, 2500), {"musical keyboard", "harp", "saxophone", "accordion"}),
    (
        (1, 15),
        {
            "spoon",
            "chopsticks",
            "sponge",
            "safety pin",
            "roll of paper",
            "candle",
            "diya lamp",
            "soap",
            "toothbrush",
            "adhesive bandage",
            "pill",
            "light bulb",
        },
    ),
    ((150, 1800), {"bed", "couch and lamp", "bathtub", "toilet", "shower", "chair"}),
    ((150, 3000), {"manual wheelchair", "motorized wheelchair"}),
    ((60, 900), {"microscope", "telescope", "stethoscope"}),
    ((30, 300), {"kick scooter", "skateboard", "roller skate", "wheel"}),
    ((150, 1500), {"bicycle"}),
    ((1000, 5000), {"motor scooter"}),
    ((3000, 20000), {"motorcycle"}),
    (
        (15000, 60000),
        {"automobile", "sport utility vehicle", "pickup truck", "delivery truck", "tractor"},
    ),
    ((8000, 90000), {"speedboat", "motor boat", "sailboat"}),
    ((200, 1500), {"canoe", "parachute", "tent"}),
]
TEMPLATES = [
    "{Title} by {brand}. {Tags}.",
    "{brand} {label}, from our {category} range. {Tags}.",
    "A {label} from {brand}. Think {tags}.",
    "{Title} from {brand}, for every day. {Tags}.",
]
TEMPLATES_NO_TAGS = [
    "{Title} by {brand}.",
    "{brand} {label}, from our {category} range.",
]


def load_json(path: Path):
    return json.loads(path.read_text(encoding="utf-8"))


def describe(
    rng: random.Random, title: str, label: str, brand: str, category: str, tags: list[str]
) -> str:
    picked = rng.sample(tags, k=min(3, len(tags)))
    joined = ", ".join(picked)
    templates = TEMPLATES if picked else TEMPLATES_NO_TAGS
    return rng.choice(templates).format(
        Title=title,
        label=label,
        brand=brand,
        category=category.lower(),
        tags=joined,
        Tags=joined[:1].upper() + joined[1:],
    )


def select(npm: Path) -> tuple[list[dict[str, str]], Counter]:
    """The catalog rows, sorted by sku, and what was dropped and why."""
    datasource = load_json(npm / "emoji-datasource-twitter" / "emoji.json")
    en = {e["hexcode"]: e for e in load_json(npm / "emojibase-data" / "en" / "data.json")}
    zh = {e["hexcode"]: e for e in load_json(npm / "emojibase-data" / "zh" / "data.json")}

    rows: list[dict[str, str]] = []
    dropped: Counter = Counter()
    titles: dict[str, str] = {}
    for item in sorted(datasource, key=lambda e: e["unified"]):
        unified = item["unified"]
        hexcode = unified.replace("-FE0F", "")  # emojibase keys drop the variation selector
        entry = en.get(hexcode) or en.get(unified)
        label = entry["label"] if entry else None
        if item["subcategory"] not in SUBCATEGORIES and label not in OVERRIDES:
            continue
        if entry is None:
            dropped["no English CLDR label"] += 1
            continue
        if "200D" in unified:  # ZWJ sequences: gender/colour variants, never products here
            dropped["ZWJ sequence"] += 1
            continue
        if label in EXCLUDE:
            dropped["not a product (excluded by name)"] += 1
            continue
        zh_entry = zh.get(entry["hexcode"])
        if zh_entry is None or not zh_entry.get("label"):
            dropped["no Chinese label"] += 1
            continue
        if not item.get("has_img_twitter") or not item.get("has_img_google"):
            dropped["no Twemoji or Noto picture"] += 1
            continue
        title = TITLES.get(label) or label[0].upper() + label[1:]
        if title.lower() in titles:
            dropped[f"duplicate title ({title}, kept {titles[title.lower()]})"] += 1
            continue
        sku = "VT-" + hexcode
        titles[title.lower()] = sku
        category = OVERRIDES.get(label) or SUBCATEGORIES[item["subcategory"]]

        rng = random.Random(f"{SEED}-{unified}")  # the seed of the first version: same stock
        brand = rng.choice(BRANDS[category])
        low, high = next(
            (tier for tier, labels in PRICE_TIERS if label in labels or title in labels),
            PRICES[category],
        )
        price = low * (high / low) ** rng.random()
        price = round(price, 2) if price < 100 else round(price) - 0.01
        stock = 0 if rng.random() < OUT_OF_STOCK_SHARE else rng.randint(1, 250)
        tags = [t for t in entry.get("tags", []) if t != label]
        rows.append(
            {
                "sku": sku,
                "title": title,
                "title_zh": zh_entry["label"],
                "description": describe(rng, title, label, brand, category, tags),
                "category": category,
                "brand": brand,
                "price": f"{price:.2f}",
                "currency": "USD",
                "in_stock": "true" if stock > 0 else "false",
                "stock": str(stock),
                "keywords": "|".join(tags),
                "image": item["image"],
                "source_id": hexcode,
            }
        )
    rows.sort(key=lambda r: r["sku"])
    return rows, dropped


def check(rows: list[dict[str, str]], images: Path) -> list[str]:
    """Problems with the written catalog; empty when it is sound."""
    problems = []
    for key in ("sku", "title"):
        repeated = [v for v, n in Counter(r[key].lower() for r in rows).items() if n > 1]
        if repeated:
            problems.append(f"duplicate {key}s: {repeated}")
    for row in rows:
        if not row["title"] or not row["title_zh"]:
            problems.append(f"{row['sku']}: missing title or title_zh")
        path = images / row["image"]
        try:
            with Image.open(path) as picture:
                picture.load()
                if picture.size != (64, 64):
                    problems.append(f"{path}: size {picture.size}")
        except (OSError, ValueError) as error:
            problems.append(f"{path}: {error}")
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--npm-dir",
        type=Path,
        required=True,
        help="node_modules folder holding emoji-datasource-twitter, emoji-datasource-google "
        "and emojibase-data",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=HERE,
        help="catalog.csv and images/ go here (default: %(default)s)",
    )
    parser.add_argument(
        "--noto-out",
        type=Path,
        default=DEFAULT_NOTO_OUT,
        help="where the Google Noto query pictures go (default: %(default)s)",
    )
    parser.add_argument(
        "--noto-all",
        action="store_true",
        help="write every product's Noto picture, not only the small test set",
    )
    args = parser.parse_args()
    if args.noto_all and args.noto_out.resolve() == DEFAULT_NOTO_OUT:
        parser.error("--noto-all needs --noto-out DIR outside tests/fixtures (few are committed)")
    npm: Path = args.npm_dir
    twitter = npm / "emoji-datasource-twitter" / "img" / "twitter" / "64"
    google = npm / "emoji-datasource-google" / "img" / "google" / "64"

    rows, dropped = select(npm)
    images = args.out / "images"
    shutil.rmtree(images, ignore_errors=True)
    images.mkdir(parents=True)
    for row in rows:
        shutil.copyfile(twitter / row["image"], images / row["image"])
    with (args.out / "catalog.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)

    args.noto_out.mkdir(parents=True, exist_ok=True)
    in_catalog = {row["image"] for row in rows}
    noto = sorted(in_catalog) if args.noto_all else [f"{name}.png" for name in NOTO_FIXTURES]
    for name in noto:
        if name not in in_catalog:
            sys.exit(f"Noto fixture {name} is not a product of the catalog")
        shutil.copyfile(google / name, args.noto_out / name)

    problems = check(rows, images) + check(
        [r for r in rows if r["image"] in set(noto)], args.noto_out
    )
    categories = Counter(row["category"] for row in rows)
    print(f"{len(rows)} products in {len(categories)} categories -> {args.out / 'catalog.csv'}")
    for category, n in sorted(categories.items(), key=lambda kv: (-kv[1], kv[0])):
        print(f"  {n:4d}  {category}")
    out_of_stock = sum(row["stock"] == "0" for row in rows)
    print(f"out of stock: {out_of_stock} ({out_of_stock / len(rows):.0%})")
    print(f"Noto pictures: {len(noto)} -> {args.noto_out}")
    print("dropped:")
    for reason, n in sorted(dropped.items()):
        print(f"  {n:4d}  {reason}")
    small = [c for c, n in categories.items() if n < 5]
    if small:
        problems.append(f"categories with fewer than 5 products: {small}")
    for problem in problems:
        print(f"PROBLEM: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
