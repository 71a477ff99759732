"""Added latency of the fusion head per query, and its size: numpy, one query at a time.

    .venv/bin/python bench/fusion_head.py

Prints a Markdown table (median and p95 over 2000 calls of each projection).
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from backend.encoders.fusion import DEFAULT_CHECKPOINT, load_head  # noqa: E402


def timed(call, repeats: int = 2000) -> tuple[float, float]:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        call()
        times.append((time.perf_counter() - started) * 1e6)
    times.sort()
    return statistics.median(times), times[int(repeats * 0.95) - 1]


def main() -> None:
    head = load_head(DEFAULT_CHECKPOINT)
    rng = np.random.default_rng(0)
    text = rng.standard_normal((1, head.text_dim)).astype(np.float32)
    image = rng.standard_normal((1, head.image_dim)).astype(np.float32)
    size = DEFAULT_CHECKPOINT.stat().st_size / 2**20
    print(
        f"{head.name}: {head.text_encoder} + {head.image_encoder} -> {head.dim}-d, {size:.1f} MiB"
    )
    print("| call | median µs | p95 µs |")
    print("|---|---|---|")
    for name, call in {
        "text query": lambda: head.text_query(text),
        "image query": lambda: head.image_query(image),
        "product (text + image)": lambda: head.product(text, image),
    }.items():
        median, p95 = timed(call)
        print(f"| {name} | {median:.0f} | {p95:.0f} |")


if __name__ == "__main__":
    main()
