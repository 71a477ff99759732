"""Searches under load: N concurrent clients doing hybrid searches against a running server,
idle and while an admin upload runs, side by side.

    make demo && .venv/bin/gunicorn -c gunicorn.conf.py &      # or: make run &
    .venv/bin/vitrine admin create-token load                  # for the upload run
    .venv/bin/python bench/load.py --clients 50 --seconds 30 --token vt_... --upload-rows 600

Each client sends the next query as soon as the last one is answered (a closed loop), with a
30 s timeout; the upload run lasts as long as the upload's job (``--warmup``: seconds of load
first, not counted). Prints searches/s, p50 / p99,
timeouts and other errors per run, and how long the upload's job took under the searches
against the same upload on an idle server. The upload is the demo's rows under new skus
without pictures, removed again afterwards with ``DELETE /api/admin/products/<sku>``.
"""

from __future__ import annotations

import argparse
import csv
import http.client
import io
import json
import statistics
import threading
import time
import uuid
from collections import Counter
from pathlib import Path
from urllib.parse import quote, urlsplit

ROOT = Path(__file__).resolve().parents[1]
QUERIES = [
    "running shoes",
    "t-shirt",
    "T恤",
    "umbrella",
    "something warm for winter",
    "apple",
    "guitar",
    "camera",
    "plátano",
    "gift for a child",
    "kitchen knife",
    "red",
    "coffee",
    "bicycle",
    "手套",
    "book",
    "headphones",
    "garden tools",
    "pizza",
    "rain",
]
TIMEOUT_S = 30.0


class Run:
    def __init__(self) -> None:
        self.latencies: list[float] = []
        self.statuses: Counter[str] = Counter()
        self.lock = threading.Lock()

    def record(self, seconds: float | None, status: str) -> None:
        with self.lock:
            self.statuses[status] += 1
            if seconds is not None and status == "200":
                self.latencies.append(seconds)


def client(base: str, run: Run, stop: threading.Event, offset: int) -> None:
    parts = urlsplit(base)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=TIMEOUT_S)
    i = offset
    while not stop.is_set():
        query = QUERIES[i % len(QUERIES)]
        i += 1
        started = time.perf_counter()
        try:
            connection.request("GET", f"/api/search?q={quote(query)}&limit=10")
            response = connection.getresponse()
            response.read()
            run.record(time.perf_counter() - started, str(response.status))
        except TimeoutError:
            run.record(None, "timeout")
            connection.close()
        except (OSError, http.client.HTTPException) as exc:
            run.record(None, type(exc).__name__)
            connection.close()


def load(
    base: str, clients: int, seconds: float, until: threading.Event | None = None
) -> tuple[Run, float]:
    """Searches for ``seconds``, or until ``until`` is set."""
    run, stop = Run(), threading.Event()
    threads = [
        threading.Thread(target=client, args=(base, run, stop, n), daemon=True)
        for n in range(clients)
    ]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    if until is None:
        time.sleep(seconds)
    else:
        until.wait()
    stop.set()
    for thread in threads:
        thread.join(TIMEOUT_S + 5)
    return run, time.perf_counter() - started


def admin(base: str, token: str, method: str, path: str, body: bytes = b"", kind: str = ""):
    parts = urlsplit(base)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=120)
    headers = {"Authorization": f"Bearer {token}"}
    if kind:
        headers["Content-Type"] = kind
    connection.request(method, path, body=body or None, headers=headers)
    response = connection.getresponse()
    return response.status, json.loads(response.read() or b"{}")


def upload_rows(count: int, tag: str) -> tuple[bytes, list[str]]:
    with (ROOT / "data" / "demo" / "catalog.csv").open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        demo = list(reader)
        columns = reader.fieldnames or []
    rows = []
    for n in range(count):
        row = dict(demo[n % len(demo)], image="")
        row["sku"] = f"LOAD-{tag}-{n}"
        rows.append(row)
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns)
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode("utf-8"), [r["sku"] for r in rows]


def upload(
    base: str, token: str, rows: int
) -> tuple[threading.Thread, threading.Event, dict[str, float]]:
    """Start an upload; a thread waits for its job and removes its products afterwards."""
    data, skus = upload_rows(rows, uuid.uuid4().hex[:6])
    boundary = uuid.uuid4().hex
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="catalog"; filename="load.csv"'
            f"\r\nContent-Type: text/csv\r\n\r\n"
        ).encode()
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )
    timing: dict[str, float] = {}
    finished = threading.Event()

    def watch() -> None:
        started = time.perf_counter()
        status, job = admin(
            base,
            token,
            "POST",
            "/api/admin/uploads",
            body,
            f"multipart/form-data; boundary={boundary}",
        )
        assert status == 202, job
        while True:
            _, state = admin(base, token, "GET", job["url"])
            if state["state"] not in ("queued", "running"):
                break
            time.sleep(0.5)
        timing["seconds"] = time.perf_counter() - started
        timing["state_ok"] = float(state["state"] == "succeeded")
        finished.set()
        for sku in skus:
            admin(base, token, "DELETE", f"/api/admin/products/{sku}")

    thread = threading.Thread(target=watch)
    thread.start()
    return thread, finished, timing


def line(label: str, run: Run, elapsed: float) -> str:
    done = sorted(run.latencies)
    p50 = 1000 * statistics.median(done) if done else float("nan")
    p99 = 1000 * done[min(len(done) - 1, int(0.99 * len(done)))] if done else float("nan")
    errors = {k: v for k, v in run.statuses.items() if k not in ("200", "timeout")}
    return (
        f"| {label} | {len(done) / elapsed:.0f} | {p50:.0f} | {p99:.0f} | "
        f"{run.statuses.get('timeout', 0)} | {json.dumps(errors)} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", default="http://127.0.0.1:8000")
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--token", help="an admin token: adds the run during an upload")
    parser.add_argument("--upload-rows", type=int, default=600)
    parser.add_argument(
        "--warmup",
        type=float,
        default=0,
        help="seconds of the same load first, not counted (a server's first searches of each "
        "query encode it; later ones find its vectors cached)",
    )
    args = parser.parse_args()
    if args.warmup > 0:
        load(args.base, args.clients, args.warmup)
    print("| run | searches/s | p50 ms | p99 ms | timeouts | other errors |")
    print("|---|---|---|---|---|---|")
    run, elapsed = load(args.base, args.clients, args.seconds)
    print(line(f"{args.clients} clients, idle", run, elapsed), flush=True)
    if not args.token:
        return
    thread, _, alone = upload(args.base, args.token, args.upload_rows)
    thread.join()
    thread, finished, busy = upload(args.base, args.token, args.upload_rows)
    run, elapsed = load(args.base, args.clients, args.seconds, until=finished)
    print(line(f"{args.clients} clients, {args.upload_rows}-row upload", run, elapsed))
    thread.join()
    print(
        f"\nupload of {args.upload_rows} rows: {alone['seconds']:.1f} s on an idle server, "
        f"{busy['seconds']:.1f} s under the searches "
        f"({alone['seconds'] / busy['seconds']:.0%} of its idle speed)"
    )


if __name__ == "__main__":
    main()
