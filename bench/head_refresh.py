"""How long a server takes to serve a retrained fusion head after an upload, and what hybrid
search answers meanwhile and after.

    .venv/bin/python bench/head_refresh.py --new 2 [--model-cache /tmp/demovar/models]

Loads the demo catalog into a temporary folder, starts the app with its upload jobs on a
thread (embedded mode, the defaults), uploads ``--new`` demo rows under new skus with their
pictures, and polls /health until the new head serves, timing each search sent meanwhile.
"""

from __future__ import annotations

import argparse
import csv
import io
import statistics
import tempfile
import time
import zipfile
from pathlib import Path

from click.testing import CliRunner

from backend.app import create_app
from backend.jobs import get_runner
from backend.settings import Settings
from loaders.cli import main as cli
from loaders.jobs import ThreadJobs
from loaders.pipeline import load_into

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "data" / "demo"
QUERIES = ("t-shirt", "red heart", "T恤", "umbrella")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--new", type=int, default=2, help="products uploaded under new skus")
    parser.add_argument("--model-cache", type=Path, default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        settings = Settings(var_dir=Path(folder) / "var", model_cache_dir=args.model_cache)
        load_into(settings, DEMO / "catalog.csv", DEMO / "images")
        env = {"VITRINE_VAR_DIR": str(settings.var_dir)}
        if args.model_cache:
            env["VITRINE_MODEL_CACHE_DIR"] = str(args.model_cache)
        token = CliRunner().invoke(cli, ["admin", "create-token", "bench"], env=env)
        headers = {"Authorization": f"Bearer {token.stdout.strip().splitlines()[0]}"}
        app = create_app(settings, jobs=ThreadJobs())
        client = app.test_client()

        def counts() -> dict[str, tuple[int, bool]]:
            found = {}
            for q in QUERIES:
                body = client.get("/api/search", query_string={"q": q}).get_json()
                found[q] = (len(body["results"]), "fused" in body["query"]["weights"])
            return found

        print("before the upload (results, fused used):", counts())
        with (DEMO / "catalog.csv").open(newline="", encoding="utf-8") as handle:
            rows = [row for _, row in zip(range(args.new), csv.DictReader(handle), strict=False)]
        rows = [{**row, "sku": f"NEW-{row['sku']}"} for row in rows]
        table = io.StringIO()
        writer = csv.DictWriter(table, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
        pictures = io.BytesIO()
        with zipfile.ZipFile(pictures, "w") as archive:
            for row in rows:
                archive.write(DEMO / "images" / row["image"], f"images/{row['image']}")
        upload = {
            "catalog": (io.BytesIO(table.getvalue().encode()), "catalog.csv"),
            "images": (io.BytesIO(pictures.getvalue()), "images.zip"),
        }
        started = time.monotonic()
        job = client.post("/api/admin/uploads", data=upload, headers=headers).get_json()
        while client.get(f"/api/admin/uploads/{job['job_id']}", headers=headers).get_json()[
            "state"
        ] not in ("succeeded", "failed"):
            time.sleep(0.1)
        loaded = time.monotonic() - started
        print(f"upload of {args.new} products done in {loaded:.1f} s:", counts())
        head = client.get("/health").get_json()["fusion_head"]["name"]
        latencies = []
        while client.get("/health").get_json()["fusion_head"]["name"] == head:
            for q in QUERIES:
                t = time.perf_counter()
                client.get("/api/search", query_string={"q": q})
                latencies.append((time.perf_counter() - t) * 1000)
            time.sleep(0.2)
        served = time.monotonic() - started
        print(f"new head serving {served - loaded:.1f} s after the upload finished:", counts())
        if latencies:
            latencies.sort()
            p95 = latencies[int(0.95 * (len(latencies) - 1))]
            print(
                f"{len(latencies)} searches meanwhile: median "
                f"{statistics.median(latencies):.1f} ms, p95 {p95:.1f} ms"
            )
        get_runner(app).stop()
        app.extensions["vitrine_index"].close()


if __name__ == "__main__":
    main()
