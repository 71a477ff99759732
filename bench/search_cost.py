"""What one hybrid search costs in CPU, in this process, without HTTP or other clients.

    .venv/bin/python bench/search_cost.py --var var          # a loaded var folder (make demo)

Sends ``bench/load.py``'s queries through the app's own ``/api/search`` route (Flask's test
client: routing, planning, encoders, engine, catalog, facets, JSON), first once each to warm
the caches, then ``--rounds`` times: prints milliseconds per search, and then the same rounds
under cProfile with where the time went, by our own functions. Set against ``bench/load.py``'s
searches/s and the server's CPU share, it bounds how many searches/s the machine can answer.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from backend.app import create_app  # noqa: E402
from backend.settings import Settings  # noqa: E402
from bench.load import QUERIES  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--var", type=Path, default=ROOT / "var", help="a loaded var folder")
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--top", type=int, default=25, help="functions to list")
    args = parser.parse_args()

    client = create_app(Settings.from_env(var_dir=args.var)).test_client()

    def searches() -> int:
        for words in QUERIES:
            answer = client.get("/api/search", query_string={"q": words})
            if answer.status_code != 200:
                raise SystemExit(f"{words!r}: HTTP {answer.status_code} {answer.get_data(True)}")
        return len(QUERIES)

    searches()  # warm: models, the Chinese dictionary, the engine's pages
    started, count = time.perf_counter(), 0
    for _ in range(args.rounds):
        count += searches()
    elapsed = time.perf_counter() - started
    print(f"{count} searches, {1000 * elapsed / count:.1f} ms each, one at a time")

    profile = cProfile.Profile()
    profile.runcall(lambda: [searches() for _ in range(args.rounds)])
    stats = pstats.Stats(profile).sort_stats("cumulative")
    stats.print_stats(r"/(backend|loaders)/", args.top)


if __name__ == "__main__":
    main()
