"""Retrieval metrics for the evaluation harness.

Each function scores one query: ``ranked`` is what the search returned, best first (skus), and
``relevant`` the skus a perfect answer holds. ``ndcg_at`` also takes graded relevance, a
mapping of sku to grade (2 = exactly what was asked, 1 = acceptable); recall and MRR count
every sku of a grade above 0. The harness averages them over a task's queries.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping, Sequence


def _first_hits(ranked: Sequence[str], relevant: Collection[str]) -> list[int]:
    """1-based ranks of relevant results, each relevant sku counted at its first rank only."""
    seen: set[str] = set()
    ranks = []
    for rank, sku in enumerate(ranked, start=1):
        if sku in relevant and sku not in seen:
            seen.add(sku)
            ranks.append(rank)
    return ranks


def _require(relevant: Collection[str], k: int | None = None) -> None:
    if not relevant:
        raise ValueError("a query needs at least one relevant sku to be scored")
    if k is not None and k < 1:
        raise ValueError(f"k must be at least 1, not {k}")


def recall_at(ranked: Sequence[str], relevant: Collection[str], k: int) -> float:
    """Share of the relevant skus found in the top ``k``: |relevant ∩ top k| / |relevant|."""
    _require(relevant, k)
    return sum(1 for rank in _first_hits(ranked, relevant) if rank <= k) / len(set(relevant))


def reciprocal_rank(ranked: Sequence[str], relevant: Collection[str]) -> float:
    """1 / rank of the first relevant result in ``ranked``; 0 when none was retrieved."""
    _require(relevant)
    hits = _first_hits(ranked, relevant)
    return 1.0 / hits[0] if hits else 0.0


def ndcg_at(
    ranked: Sequence[str], relevant: Collection[str] | Mapping[str, float], k: int
) -> float:
    """Normalised discounted cumulative gain of the top ``k``.

    A relevant result at rank r gains its grade / log2(r + 1) (grade 1 for a plain collection
    of skus); the sum is divided by the best possible one, the highest grades at ranks 1, 2, ...
    """
    grades = relevant if isinstance(relevant, Mapping) else dict.fromkeys(relevant, 1.0)
    positive = {sku for sku, grade in grades.items() if grade > 0}
    _require(positive, k)
    dcg = sum(
        grades[ranked[rank - 1]] / math.log2(rank + 1)
        for rank in _first_hits(ranked, positive)
        if rank <= k
    )
    best = sorted((grades[sku] for sku in positive), reverse=True)[:k]
    ideal = sum(grade / math.log2(rank + 1) for rank, grade in enumerate(best, start=1))
    return dcg / ideal
