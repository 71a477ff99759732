"""Query latency over HTTP against `vitrine serve`: p50/p95 per kind of request, and server RSS.

    .venv/bin/python bench/query_latency.py --products demo      # the demo catalog
    .venv/bin/python bench/query_latency.py --products 100000    # synthetic, text vectors only
    .venv/bin/python bench/query_latency.py --products 100000 --kinds "hybrid + filters + facets"

The index is built once into var/bench-<products>/ (kept for the next run; --rebuild to redo),
then a server runs in a child process and this process sends requests one at a time. Search
answers carry facets unless a request says ``facets=false``; ``--kinds`` picks request kinds.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from backend.settings import Settings  # noqa: E402
from bench.synthetic import DEMO, demo_rows, write_catalog  # noqa: E402
from loaders.pipeline import load_into  # noqa: E402

PORT = 8765
JSON = {"Content-Type": "application/json"}


def build(var: Path, products: str) -> None:
    # VITRINE_* variables apply (e.g. VITRINE_MULTILINGUAL=none), as they do for the server.
    settings = Settings.from_env(var_dir=var, model_cache_dir=ROOT / "var" / "models")
    started = time.perf_counter()
    if products == "demo":
        summary = load_into(settings, DEMO / "catalog.csv", DEMO / "images")
    else:
        catalog = write_catalog(var.parent / f"catalog-{products}.csv", int(products), images=False)
        summary = load_into(settings, catalog, None)
    print(f"built {summary.line()} in {time.perf_counter() - started:.0f} s", flush=True)


def eval_texts(*tasks: str) -> list[str]:
    """The text queries of these tasks in the evaluation set (CLDR names, not ours)."""
    with (ROOT / "data" / "eval" / "queries.jsonl").open(encoding="utf-8") as lines:
        return [q["text"] for line in lines if (q := json.loads(line))["task"] in tasks]


def request(method: str, path: str, body: bytes | None = None, headers=None) -> float:
    conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=60)
    started = time.perf_counter()
    conn.request(method, path, body=body, headers=headers or {})
    response = conn.getresponse()
    data = response.read()
    elapsed = time.perf_counter() - started
    conn.close()
    if response.status != 200:
        raise RuntimeError(f"{path}: {response.status} {data[:200]!r}")
    return elapsed * 1000


def send(what: str | tuple[str, str, bytes, dict[str, str]]) -> float:
    """A GET of a path, or a (method, path, body, headers) request; milliseconds."""
    if isinstance(what, str):
        return request("GET", what)
    return request(*what)


def vitrine_command() -> list[str]:
    """The ``vitrine`` command of this checkout (its own .venv, else this interpreter)."""
    script = ROOT / ".venv" / "bin" / "vitrine"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from loaders.cli import main; main()"]


def multipart(image: bytes, **fields: str) -> tuple[bytes, dict[str, str]]:
    boundary = uuid.uuid4().hex
    body = (
        "".join(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
            for name, value in fields.items()
        ).encode()
        + (
            f'--{boundary}\r\nContent-Disposition: form-data; name="image"; filename="q.png"\r\n'
            f"Content-Type: image/png\r\n\r\n"
        ).encode()
        + image
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return body, {"Content-Type": f"multipart/form-data; boundary={boundary}"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--products", default="demo", help="'demo' or a number of synthetic products"
    )
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--rebuild", action="store_true")
    parser.add_argument(
        "--kinds", help="comma-separated request kinds to time (default: all); see KINDS"
    )
    args = parser.parse_args()

    var = ROOT / "var" / f"bench-{args.products}" / "var"
    if args.rebuild and var.parent.exists():
        shutil.rmtree(var.parent)
    if not (var / "vitrine.db").exists():
        var.mkdir(parents=True, exist_ok=True)
        build(var, args.products)

    env = {
        **os.environ,
        "VITRINE_VAR_DIR": str(var),
        "VITRINE_MODEL_CACHE_DIR": str(ROOT / "var" / "models"),
    }
    server = subprocess.Popen(
        [*vitrine_command(), "serve", "--port", str(PORT)],
        env={**env, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.DEVNULL,
    )
    try:
        for _ in range(120):
            try:
                request("GET", "/health")
                break
            except (OSError, RuntimeError):
                time.sleep(0.5)
        rows = demo_rows()
        rng = random.Random(3)
        words = [r["title"] for r in rows] + [r["title_zh"] for r in rows]
        tags = eval_texts("text-zh-tag")  # short queries no product's words cover, most of them
        # Names in other languages: the route that reads the query with the multilingual
        # encoder and re-scores its candidates by their names.
        foreign = eval_texts("text-ja-name", "text-es-name", "text-fr-name", "text-de-name")
        categories = sorted({r["category"] for r in rows})
        image = (DEMO / "images" / rows[0]["image"]).read_bytes()
        skus = (
            [r["sku"] for r in rows]
            if args.products == "demo"
            else [f"SYN-{i:07d}" for i in range(0, int(args.products), int(args.products) // 100)]
        )

        def filtered(**extra: object) -> str:
            return "/api/search?" + urlencode(
                {
                    "q": rng.choice(words),
                    "category": rng.choice(categories),
                    "price_max": rng.choice([20, 50, 200]),
                    "in_stock": "true",
                    **extra,
                }
            )

        def recommend() -> tuple[str, str, bytes, dict[str, str]]:
            liked, skipped, other = rng.sample(skus, 3)
            body = {
                "positive": [liked, other],
                "negative": [skipped],
                "filters": {"in_stock": True, "price_max": rng.choice([50, 200])},
            }
            return "POST", "/api/recommend", json.dumps(body).encode(), JSON

        kinds: dict[str, Callable[[], str | tuple[str, str, bytes, dict[str, str]]]] = {
            "hybrid": lambda: "/api/search?" + urlencode({"q": rng.choice(words)}),
            "hybrid (Chinese tags)": lambda: (
                "/api/search?" + urlencode({"q": rng.choice(tags), "facets": "false"})
            ),
            "hybrid (foreign names)": lambda: (
                "/api/search?" + urlencode({"q": rng.choice(foreign), "facets": "false"})
            ),
            "hybrid + filters + facets": filtered,
            "hybrid + filters, facets=false": lambda: filtered(facets="false"),
            "hybrid + filters + facets, diversity=0.3": lambda: filtered(diversity=0.3),
            "text": lambda: (
                "/api/search?"
                + urlencode({"q": rng.choice(words), "mode": "text", "facets": "false"})
            ),
            "keyword": lambda: (
                "/api/search?"
                + urlencode({"q": rng.choice(words), "mode": "keyword", "facets": "false"})
            ),
            "similar": lambda: f"/api/products/{rng.choice(skus)}/similar?using=text",
            "recommend + filters + facets": recommend,
        }
        if Settings.from_env().multilingual != "none":
            kinds["multilingual"] = lambda: (
                "/api/search?"
                + urlencode({"q": rng.choice(words), "mode": "multilingual", "facets": "false"})
            )
        chosen = pick_kinds(args.kinds, list(kinds)) if args.kinds else list(kinds)
        unknown = set(chosen) - set(kinds)
        if unknown:
            raise SystemExit(f"unknown --kinds {sorted(unknown)}; choose from {list(kinds)}")
        print(f"| {args.products} products | p50 ms | p95 ms | requests |")
        print("|---|---|---|---|")
        for name in chosen:
            make = kinds[name]
            for _ in range(10):
                send(make())  # warm up
            times = [send(make()) for _ in range(args.queries)]
            report(name, times)
        if args.products == "demo" and not args.kinds:
            for name, fields in (
                ("image upload", {}),
                ("image upload, mode=image", {"mode": "image"}),
            ):
                body, headers = multipart(image, **fields)
                times = [
                    request("POST", "/api/search/image", body, headers)
                    for _ in range(args.queries // 2)
                ]
                report(name, times)
        # VmRSS = RssAnon (heap: Python objects, HNSW graphs and vectors kept in RAM) +
        # RssFile (memory-mapped files the kernel may drop and read again) + RssShmem.
        status = {
            key: int(value.split()[0]) // 1024
            for key, value in (
                line.split(":", 1) for line in open(f"/proc/{server.pid}/status") if ":" in line
            )
            if key in ("VmRSS", "RssAnon", "RssFile")
        }
        # Whether the server process mapped PyTorch's library (it need not: docs/benchmarks.md).
        torch_loaded = "libtorch" in Path(f"/proc/{server.pid}/maps").read_text()
        print(
            f"\nserver RSS after the run: {status['VmRSS']} MiB (anonymous {status['RssAnon']}, "
            f"file-backed {status['RssFile']}), PyTorch loaded: {torch_loaded}"
        )
        print(
            json.dumps(
                {
                    "products": args.products,
                    "rss_mib": status["VmRSS"],
                    "anon_mib": status["RssAnon"],
                    "file_mib": status["RssFile"],
                    "torch": torch_loaded,
                }
            )
        )
    finally:
        server.terminate()
        server.wait(timeout=30)


def pick_kinds(raw: str, known: list[str]) -> list[str]:
    """The comma-separated kinds of ``--kinds``; a kind's own name may hold a comma
    ("hybrid + filters, facets=false"), so pieces join while that makes a known name."""
    chosen: list[str] = []
    for piece in (p.strip() for p in raw.split(",")):
        joined = f"{chosen[-1]}, {piece}" if chosen else piece
        if chosen and joined in known and (piece not in known or chosen[-1] not in known):
            chosen[-1] = joined
        else:
            chosen.append(piece)
    return chosen


def report(name: str, times: list[float]) -> None:
    times.sort()
    p95 = times[int(len(times) * 0.95) - 1]
    print(f"| {name} | {statistics.median(times):.1f} | {p95:.1f} | {len(times)} |", flush=True)


if __name__ == "__main__":
    main()
