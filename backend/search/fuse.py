"""Hybrid search's fusion, computed here from each signal's own ranked list.

The engines fuse prefetches the same way (``VectorIndex.hybrid``); fusing here instead lets
one set of per-signal lists serve both the ranking and ``explain`` (each hit's rank in each
signal), with no second round of searches, and lets the signal searches skip the payloads of
candidates that never reach the page.

- ``rrf``: a hit at rank r (from 1) of a signal weighted w scores 1 / (r / w + k - 1), summed
  over signals (Qdrant's weighted RRF, k = ``RRF_K``).
- ``dbsf``: each signal's scores normalised from mean - 3 sd (0) to mean + 3 sd (1), with
  the sample standard deviation (0.5 for a list of one or of equal scores), times the
  signal's weight, summed over signals (Qdrant's DBSF, where a weight is a whole number of
  times the prefetch is listed).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

from backend.index.port import RRF_K, Hit, check_fusion


def normalised(scores: Sequence[float]) -> list[float]:
    """A signal's scores as DBSF normalises them."""
    n = len(scores)
    if n < 2:
        return [0.5] * n
    mean = math.fsum(scores) / n
    variance = math.fsum((s - mean) ** 2 for s in scores) / (n - 1)
    if not variance > 0:
        return [0.5] * n
    spread = 6 * math.sqrt(variance)
    low = mean - spread / 2
    return [(s - low) / spread for s in scores]


def by_score(hits: Iterable[Hit]) -> list[Hit]:
    """Hits best score first, equal scores by point id: one signal's ranking as fusion counts
    it, whatever order an engine gave its ties."""
    return sorted(hits, key=lambda hit: (-hit.score, hit.id))


def fuse(
    lists: Sequence[Sequence[Hit]], fusion: str, weights: Sequence[float] | None = None
) -> list[Hit]:
    """The union of the signals' hits, best fused score first (ties by point id); each hit
    keeps the payload of its first appearance."""
    check_fusion(lists, fusion, weights)
    scores: dict[str, float] = {}
    first: dict[str, Hit] = {}
    for column, hits in enumerate(lists):
        weight = 1.0 if weights is None else float(weights[column])
        if weight <= 0:
            continue
        if fusion == "dbsf":
            gains = [weight * s for s in normalised([hit.score for hit in hits])]
        else:
            gains = [1.0 / (rank / weight + RRF_K - 1) for rank in range(1, len(hits) + 1)]
        for hit, gain in zip(hits, gains, strict=True):
            scores[hit.id] = scores.get(hit.id, 0.0) + gain
            first.setdefault(hit.id, hit)
    return by_score(Hit(pid, score, first[pid].payload) for pid, score in scores.items())
