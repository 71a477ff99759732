"""Build the OpenMoji picture queries (data/eval/openmoji/) for the demo catalog.

A third vendor's drawing of each demo product, beside the Twemoji catalog pictures and the
Noto held-out queries: a set to choose picture-search settings on, so that the Noto set stays
a held-out check (data/eval/README.md says what was chosen on which).

Run from the repository root. Rendering the SVGs needs cairosvg (PyPI) and the system cairo
library, neither of which Vitrine needs, hence a separate virtual environment:

    npm install --prefix /tmp/vitrine-npm openmoji@17.0.0
    python3 -m venv /tmp/cairo-venv && /tmp/cairo-venv/bin/pip install cairosvg==2.9.1 pillow
    /tmp/cairo-venv/bin/python data/eval/build_openmoji.py \\
        --npm-dir /tmp/vitrine-npm/node_modules

Writes data/eval/openmoji/*.png (64 px, transparent background, named as the demo's
images/) and data/eval/openmoji.jsonl (task ``image-openmoji``, one query a product, whose
right answer is the catalog row it was drawn for). Exit status 1 when a product has no
OpenMoji drawing or a picture has the pixels of a catalog or Noto picture.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import shutil
import sys
from pathlib import Path

import cairosvg
from PIL import Image

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
CATALOG = ROOT / "data" / "demo" / "catalog.csv"
TWEMOJI = ROOT / "data" / "demo" / "images"
NOTO = HERE / "noto"
SIZE = 64
TASK = "image-openmoji"


def svg_for(stem: str, svg_dir: Path) -> Path | None:
    """OpenMoji's file for a demo picture's code points (with or without the FE0F selector)."""
    code = stem.upper()
    for candidate in (code, code.replace("-FE0F", ""), f"{code}-FE0F"):
        path = svg_dir / f"{candidate}.svg"
        if path.exists():
            return path
    return None


def pixels(path: Path) -> str:
    """A digest of a picture's RGBA pixels, to tell copies apart from other drawings."""
    with Image.open(path) as picture:
        return hashlib.sha256(picture.convert("RGBA").tobytes()).hexdigest()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--npm-dir", type=Path, required=True, help="node_modules with openmoji")
    args = parser.parse_args()
    svg_dir = args.npm_dir / "openmoji" / "color" / "svg"
    rows = list(csv.DictReader(CATALOG.open(encoding="utf-8")))
    out = HERE / "openmoji"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir()
    failures: list[str] = []
    seen = {pixels(p) for folder in (TWEMOJI, NOTO) for p in folder.glob("*.png")}
    queries = []
    for row in rows:
        name = row["image"]
        svg = svg_for(Path(name).stem, svg_dir)
        if svg is None:
            failures.append(f"{row['sku']}: no OpenMoji drawing for {name}")
            continue
        target = out / name
        cairosvg.svg2png(url=str(svg), write_to=str(target), output_width=SIZE, output_height=SIZE)
        if pixels(target) in seen:
            failures.append(f"{row['sku']}: {name} has the pixels of a catalog or Noto picture")
        queries.append(
            {
                "id": f"{TASK}/{Path(name).stem}",
                "task": TASK,
                "image": f"openmoji/{name}",
                "relevant": [row["sku"]],
            }
        )
    with (HERE / "openmoji.jsonl").open("w", encoding="utf-8") as lines:
        for query in queries:
            lines.write(json.dumps(query, ensure_ascii=False) + "\n")
    print(f"{TASK}: {len(queries)} queries of {len(rows)} products")
    for failure in failures:
        print(f"check failed: {failure}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
