"""How far better signal choice could take hybrid search: per-task bounds from each query's answer.

    .venv/bin/python bench/signal_bounds.py --catalog data/demo/catalog.csv \\
        --images data/demo/images --queries data/eval/queries.jsonl [--queries ...]

Loads the catalog into a throwaway index as ``vitrine eval`` does, then for every query runs
hybrid search (the engine's answer, MRR@10) and each signal hybrid could use on its own
(keywords, text, fused, multilingual, names for words; image, fused for a picture; the best
``candidates`` of each). From those lists it reports, per task:

- ``best signal``: the MRR if every query were answered by whichever single signal ranks its
  first right product highest;
- ``best mix``: the same over every DBSF fusion of a subset of the signals at equal weights
  (replayed: per list, scores mapped by mean ± 3 sample standard deviations to 0..1, summed);
- ``in some top 10``: the share of queries with a right product in some signal's first ten.

Both bounds choose with the answer in hand, so no rule that chooses signals from the query
alone can pass them; what lies beyond needs better signals or a re-ranker. A markdown table
on stdout.
"""

from __future__ import annotations

import argparse
import itertools
import statistics
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

from backend.index.port import Hit
from backend.search.service import ModeUnavailable, SearchService
from backend.settings import Settings
from loaders.evaluation import EvalQuery, load_picture, loaded_catalog, read_queries

K = 10
TEXT_MODES = ("keyword", "text", "fused", "multilingual", "names")
IMAGE_MODES = ("image", "fused")

Ranked = list[tuple[str, float]]  # (sku, score), best first


def reciprocal_rank(ranked: Sequence[str], relevant: set[str]) -> float:
    """1 / rank of the first right product within the first K, else 0."""
    return next((1 / rank for rank, sku in enumerate(ranked[:K], 1) if sku in relevant), 0.0)


def dbsf(lists: Sequence[Ranked]) -> list[str]:
    """Qdrant's distribution-based score fusion of ranked lists, replayed."""
    total: dict[str, float] = defaultdict(float)
    for ranked in lists:
        scores = [score for _, score in ranked]
        if len(scores) < 2 or statistics.stdev(scores) == 0:
            for sku, _ in ranked:
                total[sku] += 0.5
            continue
        mean, spread = statistics.fmean(scores), 3 * statistics.stdev(scores)
        for sku, score in ranked:
            total[sku] += (score - mean + spread) / (2 * spread)
    return [sku for sku, _ in sorted(total.items(), key=lambda item: -item[1])]


def skus(hits: Sequence[Hit]) -> Ranked:
    return [(str(hit.payload["sku"]), hit.score) for hit in hits]


def signal_lists(service: SearchService, query: EvalQuery, settings: Settings) -> dict[str, Ranked]:
    """Each signal the deployment has for this query, searched alone (``candidates`` deep)."""
    lists: dict[str, Ranked] = {}
    picture = load_picture(query.image, settings=settings) if query.image else None
    for mode in IMAGE_MODES if picture is not None else TEXT_MODES:
        try:
            if picture is not None:
                plan = service.plan_image(picture, mode=mode)
            else:
                plan = service.plan_text(query.text or "", mode=mode)
        except ModeUnavailable:
            continue
        for signal in plan.signals:
            found = service.index.search(
                signal.query, filters=query.filters, limit=service.candidates
            )
            lists[signal.name] = skus(found)
    return lists


def hybrid(service: SearchService, query: EvalQuery, settings: Settings) -> list[str]:
    """The engine's hybrid answer, the first K."""
    if query.image is not None:
        picture = load_picture(query.image, settings=settings)
        hits = service.search_image(picture, mode="hybrid", filters=query.filters, limit=K)
    else:
        hits = service.search_text(query.text or "", mode="hybrid", filters=query.filters, limit=K)
    return [sku for sku, _ in skus(hits)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--catalog", type=Path, required=True)
    parser.add_argument("--images", type=Path)
    parser.add_argument("--queries", type=Path, action="append", required=True)
    args = parser.parse_args()
    settings = Settings.from_env()
    sets = [read_queries(path, settings=settings) for path in args.queries]
    rows: dict[str, list[tuple[float, float, float, bool]]] = defaultdict(list)
    with loaded_catalog(settings, args.catalog, args.images) as loaded:
        service = loaded.service
        for query in (q for query_set in sets for q in query_set.queries):
            relevant = set(query.relevant)
            lists = signal_lists(service, query, loaded.settings)
            names = sorted(lists)
            mixes = [
                dbsf([lists[n] for n in subset])
                for size in range(1, len(names) + 1)
                for subset in itertools.combinations(names, size)
            ]
            rows[query.task].append(
                (
                    reciprocal_rank(hybrid(service, query, loaded.settings), relevant),
                    max(
                        (reciprocal_rank([s for s, _ in lists[n]], relevant) for n in names),
                        default=0,
                    ),
                    max((reciprocal_rank(mix, relevant) for mix in mixes), default=0),
                    any(sku in relevant for n in names for sku, _ in lists[n][:K]),
                )
            )
    print("| task | n | hybrid | best signal | best mix | in some top 10 |")
    print("|---|---|---|---|---|---|")
    for task, scored in rows.items():
        columns = [statistics.fmean(column) for column in zip(*scored, strict=True)]
        cells = " | ".join(f"{value:.3f}" for value in columns)
        print(f"| {task} | {len(scored)} | {cells} |")


if __name__ == "__main__":
    main()
