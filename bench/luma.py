"""The Luma benchmark: Magento's sample store as a Magento 2 export, with judged queries.

    python -m bench.luma SAMPLE_DATA OUT

SAMPLE_DATA is a checkout of github.com/magento/magento2-sample-data or its git directory
(``fetch github:magento/magento2-sample-data`` brings one; read with ``git show``). OUT gets:

- ``catalog.csv``: the store's 147 configurable products (with their 1,847 colour/size
  variants) and its 32 bags, fitness items and watches, in the Magento 2 product export
  format that ``vitrine load`` reads (``loaders/exports.py``);
- ``images/``: the pictures that catalog names (paths as in ``pub/media/catalog/product``);
- ``photos/``: one photo of each product that has two or more, taken out of the catalog;
- ``queries.jsonl``: the queries ``vitrine eval`` runs, with relevance derived mechanically
  from the catalog (nothing is judged by looking at search results):
  - ``luma-shopper`` / ``luma-intent``: ``data/eval/luma/judged.jsonl``, written before any
    ranking output was seen. Each names the categories, gender and attribute values that
    answer it; a product gets grade 2 when it matches all of them, 1 when only its category
    does;
  - ``luma-name``: each product's name, finding that product;
  - ``luma-sku`` / ``luma-variant-sku``: each product's sku, and the first variant's sku of
    each configurable product, finding the product;
  - ``luma-photo``: each held-out photo, finding its product.

Then: ``vitrine eval --catalog OUT/catalog.csv --images OUT/images --queries OUT/queries.jsonl``,
and ``python -m bench.luma baselines OUT`` scores the issue's two baselines on the same text
queries: BM25 (bm25s) and MiniLM cosine, both over each product's title + description as the
importer reads them.
The sample data is OSL-3.0 / AFL-3.0; none of it is committed here.
"""

from __future__ import annotations

import csv
import html
import io
import json
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

JUDGED = Path(__file__).resolve().parents[1] / "data" / "eval" / "luma" / "judged.jsonl"
FIXTURES = "app/code/Magento"
CONFIGURABLE = f"{FIXTURES}/ConfigurableSampleData/fixtures/products.csv"
GEAR = ("bags", "fitness_equipment", "watches")
SIMPLE = f"{FIXTURES}/CatalogSampleData/fixtures/SimpleProduct"
MEDIA = "pub/media/catalog/product"
GENDERS = ("Men", "Women")


class Sample:
    """Files of the sample data, from a checkout folder or a git directory."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.git = not (root / "app").is_dir()

    def read(self, path: str) -> bytes:
        if not self.git:
            return (self.root / path).read_bytes()
        return subprocess.run(
            ["git", "--git-dir", str(self.root), "show", f"HEAD:{path}"],
            check=True,
            capture_output=True,
        ).stdout

    def rows(self, path: str) -> list[dict[str, str]]:
        return list(csv.DictReader(io.StringIO(self.read(path).decode("utf-8"))))


@dataclass
class Product:
    """What judging needs to know of one product, from the sample data itself."""

    sku: str
    name: str
    category: str  # the leaf of the first category path: "Hoodies & Sweatshirts"
    genders: set[str]
    attributes: dict[str, set[str]]
    photos: list[str]  # base image first
    variant_skus: list[str] = field(default_factory=list)


def configurable(sample: Sample) -> tuple[list[dict[str, str]], list[Product]]:
    """The export rows of the configurable products and their variants, and the products."""
    rows = sample.rows(CONFIGURABLE)
    by_sku = {row["sku"]: row for row in rows}
    products = []
    for row in rows:
        if row["product_type"] != "configurable":
            continue
        path = row["categories"].split(",")[0].split("/")
        attributes = _pairs(row["additional_attributes"])
        variants = [_pairs(v) for v in row["configurable_variations"].split("|") if v]
        for variant in variants:
            for key, value in variant.items():
                if key != "sku":
                    attributes.setdefault(key, set()).update(value)
        photos = [row["base_image"], *_split(row["additional_images"])]
        for variant in variants:
            child = by_sku.get(next(iter(variant["sku"])), {})
            photos.append(child.get("base_image", ""))
        products.append(
            Product(
                sku=row["sku"],
                name=row["name"].strip(),
                category=path[-1],
                genders={path[1]} if path[1] in GENDERS else set(),
                attributes=attributes,
                photos=list(dict.fromkeys(p for p in photos if p)),
                variant_skus=[next(iter(v["sku"])) for v in variants],
            )
        )
    return rows, products


def gear(sample: Sample) -> tuple[list[dict[str, str]], list[Product]]:
    """The bags, fitness equipment and watches, turned into export rows, and the products."""
    rows, products = [], []
    for name in GEAR:
        pictures: dict[str, list[str]] = {}
        for picture in sample.rows(f"{SIMPLE}/images_gear_{name}.csv"):
            pictures.setdefault(picture["sku"], []).append(picture["image"])
        for item in sample.rows(f"{SIMPLE}/products_gear_{name}.csv"):
            # Categories as (parent, name) line pairs: "Gear\nBags\nCollections\nEco Friendly".
            names = [p.strip() for p in item["category"].splitlines() if p.strip()]
            paths = ["/".join(names[i : i + 2]) for i in range(0, len(names), 2)]
            path = paths[0].split("/")
            attributes = {
                key: {v.strip() for v in value.splitlines() if v.strip()}
                for key, value in item.items()
                if key not in _GEAR_COLUMNS and value and value.strip()
            }
            flags = {k for k in _FLAGS if attributes.get(k) == {"1"}}
            for flag in _FLAGS:
                attributes.pop(flag, None)
            photos = pictures.get(item["sku"], [])
            rows.append(
                {
                    "sku": item["sku"],
                    "product_type": "simple",
                    "attribute_set_code": item["attribute_set"],
                    "categories": ",".join(f"Default Category/{p}" for p in paths),
                    "name": item["name"].strip(),
                    "description": item["description"],
                    "product_online": "1",
                    "visibility": "Catalog, Search",
                    "price": item["price"],
                    "qty": item["qty"],
                    "is_in_stock": "1",
                    "url_key": re.sub(r"[^a-z0-9]+", "-", item["name"].lower()).strip("-"),
                    "base_image": photos[0] if photos else "",
                    "additional_images": ",".join(photos[1:]),
                    "additional_attributes": ",".join(
                        [f"{k}={'|'.join(sorted(v))}" for k, v in attributes.items()]
                        + [f"{flag}=Yes" for flag in sorted(flags)]
                    ),
                }
            )
            products.append(
                Product(
                    sku=item["sku"],
                    name=item["name"].strip(),
                    category=path[-1],
                    genders=attributes.get("gender", set()) & set(GENDERS),
                    attributes=attributes,
                    photos=photos,
                )
            )
    return rows, products


_GEAR_COLUMNS = {"category", "name", "sku", "price", "qty", "description", "attribute_set"}
_GEAR_COLUMNS |= {"special_price", "visibility", "url_key"}
_FLAGS = ("eco_collection", "performance_fabric", "erin_recommends", "new", "sale")


def _pairs(raw: str) -> dict[str, set[str]]:
    """``a=1|2,b=3`` as {a: {1, 2}, b: {3}}."""
    pairs: dict[str, set[str]] = {}
    for part in raw.split(","):
        key, sep, value = part.partition("=")
        if sep:
            pairs[key.strip()] = {v.strip() for v in value.split("|") if v.strip()}
    return pairs


def _split(raw: str) -> list[str]:
    return [p.strip() for p in raw.split(",") if p.strip()]


def held_out(products: list[Product]) -> dict[str, str]:
    """One photo per product with two or more, not its first (the one search encodes) and
    used by no other product: sku -> photo."""
    users: dict[str, int] = {}
    for product in products:
        for photo in product.photos:
            users[photo] = users.get(photo, 0) + 1
    chosen = {}
    for product in products:
        spare = [p for p in product.photos[1:] if users[p] == 1]
        if spare:
            chosen[product.sku] = spare[-1]
    return chosen


def without(rows: list[dict[str, str]], photos: set[str]) -> list[dict[str, str]]:
    """The rows with the held-out photos taken out of every image column."""
    kept = []
    for row in rows:
        row = dict(row)
        for column in ("base_image", "small_image", "thumbnail_image"):
            if row.get(column) in photos:
                row[column] = ""
        if row.get("additional_images"):
            row["additional_images"] = ",".join(
                p for p in _split(row["additional_images"]) if p not in photos
            )
        kept.append(row)
    return kept


def grades(products: list[Product], judged: dict[str, object]) -> dict[str, int]:
    """Each product's grade for a judged query: 2 all it asks, 1 its category only."""
    categories = _listed(judged["category"])
    gender = judged.get("gender")
    wanted = judged.get("attributes", {})
    assert isinstance(wanted, dict)
    result = {}
    for product in products:
        if product.category not in categories:
            continue
        full = gender is None or gender in product.genders
        for key, values in wanted.items():
            have = {_norm(v) for v in product.attributes.get(key, set())}
            full = full and bool(have & {_norm(v) for v in _listed(values)})
        result[product.sku] = 2 if full else 1
    return result


def _listed(value: object) -> list[str]:
    return [value] if isinstance(value, str) else list(value)  # type: ignore[call-overload]


def _norm(value: str) -> str:
    return html.unescape(value).casefold()


def queries(products: list[Product], photos: dict[str, str]) -> Iterator[dict[str, object]]:
    """Every query of the benchmark, task by task."""
    for line in JUDGED.read_text(encoding="utf-8").splitlines():
        judged = json.loads(line)
        graded = grades(products, judged)
        if 2 not in graded.values():
            print(f"warning: {judged['id']} has no product of grade 2", file=sys.stderr)
        yield {k: judged[k] for k in ("id", "task", "text")} | {"relevant": graded}
    names: dict[str, list[str]] = {}
    for product in products:
        names.setdefault(product.name, []).append(product.sku)
    for number, (name, skus) in enumerate(names.items(), start=1):
        # The name as the shop shows it, with the export's HTML escapes decoded ("CoolTech™").
        text = html.unescape(name)
        yield {"id": f"luma-name/{number:03d}", "task": "luma-name", "text": text, "relevant": skus}
    for number, product in enumerate(products, start=1):
        yield {
            "id": f"luma-sku/{number:03d}",
            "task": "luma-sku",
            "text": product.sku,
            "relevant": [product.sku],
        }
    variants = [p for p in products if p.variant_skus]
    for number, product in enumerate(variants, start=1):
        yield {
            "id": f"luma-variant-sku/{number:03d}",
            "task": "luma-variant-sku",
            "text": product.variant_skus[0],
            "relevant": [product.sku],
        }
    for sku, photo in photos.items():
        yield {
            "id": f"luma-photo/{Path(photo).stem}",
            "task": "luma-photo",
            "image": f"photos/{Path(photo).name}",
            "relevant": [sku],
        }


def build(sample: Sample, out: Path) -> dict[str, int]:
    """Write the benchmark into ``out``; returns counts of what it wrote."""
    config_rows, config_products = configurable(sample)
    gear_rows, gear_products = gear(sample)
    products = config_products + gear_products
    photos = held_out(products)
    rows = without(config_rows + gear_rows, set(photos.values()))
    out.mkdir(parents=True, exist_ok=True)
    columns = list(dict.fromkeys(key for row in rows for key in row))
    with (out / "catalog.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, columns, restval="")
        writer.writeheader()
        writer.writerows(rows)
    named = {
        ref
        for row in rows
        for column in ("base_image", "small_image", "thumbnail_image", "additional_images")
        for ref in _split(row.get(column, ""))
    }
    for ref in sorted(named):
        _copy(sample, ref, out / "images" / ref.lstrip("/"))
    for photo in photos.values():
        _copy(sample, photo, out / "photos" / Path(photo).name)
    written = list(queries(products, photos))
    with (out / "queries.jsonl").open("w", encoding="utf-8") as handle:
        handle.writelines(json.dumps(q, ensure_ascii=False) + "\n" for q in written)
    counts: dict[str, int] = {"products": len(products), "rows": len(rows), "images": len(named)}
    for query in written:
        task = f"queries {query['task']}"
        counts[task] = counts.get(task, 0) + 1
    return counts


def _copy(sample: Sample, ref: str, target: Path) -> None:
    if target.exists():
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(sample.read(f"{MEDIA}/{ref.lstrip('/')}"))


def baselines(out: Path, k: int = 10) -> dict[str, dict[str, dict[str, float]]]:
    """nDCG@10 and MRR per text task of BM25 and MiniLM cosine over title + description."""
    import bm25s
    import numpy as np

    from backend.encoders.text import load, minilm_path
    from loaders.metrics import ndcg_at, reciprocal_rank
    from loaders.sources import read_catalog

    skus, texts = [], []
    for item in read_catalog(out / "catalog.csv"):
        if isinstance(item, tuple):
            skus.append(item[1]["sku"])
            texts.append(f"{item[1]['title']}. {item[1]['description']}")
    text_queries = [
        q for q in map(json.loads, (out / "queries.jsonl").read_text().splitlines()) if "text" in q
    ]
    retriever = bm25s.BM25()
    retriever.index(bm25s.tokenize(texts, stopwords="en", show_progress=False), show_progress=False)
    found, _ = retriever.retrieve(
        bm25s.tokenize([q["text"] for q in text_queries], stopwords="en", show_progress=False),
        k=k,
        show_progress=False,
    )
    encoder = load("minilm", str(minilm_path()), device="cpu")
    products = encoder.encode(texts)
    asked = encoder.encode([q["text"] for q in text_queries])
    nearest = np.argsort(-(asked @ products.T), axis=1)[:, :k]
    ranked = {
        "bm25": [[skus[i] for i in row] for row in found],
        "minilm": [[skus[i] for i in row] for row in nearest],
    }
    report: dict[str, dict[str, dict[str, float]]] = {}
    for name, lists in ranked.items():
        per_task: dict[str, list[tuple[float, float]]] = {}
        for query, result in zip(text_queries, lists, strict=True):
            relevant = query["relevant"]
            graded = relevant if isinstance(relevant, dict) else dict.fromkeys(relevant, 1)
            per_task.setdefault(query["task"], []).append(
                (ndcg_at(result, graded, k), reciprocal_rank(result, list(graded)))
            )
        report[name] = {
            task: {
                "n": len(pairs),
                "ndcg@10": sum(p[0] for p in pairs) / len(pairs),
                "mrr": sum(p[1] for p in pairs) / len(pairs),
            }
            for task, pairs in per_task.items()
        }
    return report


def main(argv: list[str]) -> int:
    if len(argv) == 2 and argv[0] == "baselines":
        for name, tasks in baselines(Path(argv[1])).items():
            for task, scores in tasks.items():
                print(
                    f"{name:7} {task:17} n={scores['n']:<4} nDCG@10 {scores['ndcg@10']:.3f}  "
                    f"MRR {scores['mrr']:.3f}"
                )
        return 0
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    counts = build(Sample(Path(argv[0])), Path(argv[1]))
    for key, value in counts.items():
        print(f"{key}: {value}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
