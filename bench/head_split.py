"""Split the demo catalog to see how the fusion head does on products it never saw.

    .venv/bin/python bench/head_split.py --out /tmp/split [--train-share 0.5]

Writes ``train.csv`` (the products a head is trained on: ``train-share`` of them, spread
evenly over the catalog in sku order; at 0.5, the first, third, fifth...), ``rest.csv`` (the
others), and the held-out queries (``data/eval/queries.jsonl``
and ``shopper.jsonl``) restricted to each part's products: ``queries-train.jsonl``,
``queries-rest.jsonl`` and so on, picture paths made absolute. A query keeps the relevant
products of its part and is left out when it has none. docs/benchmarks.md has the commands
that load, train and score these.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
from fractions import Fraction
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "data" / "demo"
EVAL = ROOT / "data" / "eval"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--train-share", type=float, default=0.5)
    args = parser.parse_args()
    if not 0 < args.train_share < 1:
        parser.error("--train-share must be between 0 and 1")
    with (DEMO / "catalog.csv").open(newline="", encoding="utf-8") as handle:
        rows = sorted(csv.DictReader(handle), key=lambda row: row["sku"])
    share = Fraction(str(args.train_share))
    trained = [math.ceil((i + 1) * share) > math.ceil(i * share) for i in range(len(rows))]
    parts = {
        "train": [row for row, keep in zip(rows, trained, strict=True) if keep],
        "rest": [row for row, keep in zip(rows, trained, strict=True) if not keep],
    }
    args.out.mkdir(parents=True, exist_ok=True)
    for name, part in parts.items():
        with (args.out / f"{name}.csv").open("w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(part)
        skus = {row["sku"] for row in part}
        for source in ("queries", "shopper"):
            kept = []
            for line in (EVAL / f"{source}.jsonl").read_text(encoding="utf-8").splitlines():
                query = json.loads(line)
                relevant = [sku for sku in query["relevant"] if sku in skus]
                if not relevant:
                    continue
                query["relevant"] = relevant
                if "image" in query:
                    query["image"] = str(EVAL / query["image"])
                kept.append(json.dumps(query, ensure_ascii=False))
            target = args.out / f"{source}-{name}.jsonl"
            target.write_text("\n".join(kept) + "\n", encoding="utf-8")
        print(f"{name}: {len(part)} products")


if __name__ == "__main__":
    main()
