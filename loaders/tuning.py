"""``vitrine tune``: fit hybrid search's RRF weights per query bucket on one catalog.

Each judged query is ranked once by every signal the deployment computes (the engine's own
lists, as deep as a hybrid search's prefetches); weighted RRF over those lists is then
computed here for any weights, so fitting is a search over weights with no engine call.
Weights are fitted per bucket (``backend.search.tuning.bucket``) by coordinate ascent on
mean nDCG@10 from equal weights, over ``GRID``; a bucket with fewer than ``MIN_QUERIES``
queries gets none and keeps the rules. ``cross_validate`` says how the fit does on queries it
did not see.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from backend.index.port import Hit
from backend.search.service import SearchService
from backend.search.tuning import Tuning, bucket
from loaders.evaluation import EvalQuery

RRF_K = 60  # the engines' (backend.index.edge / qdrant)
GRID = (0.0, 0.25, 0.5, 1.0, 2.0, 4.0)
ROUNDS = 3
MIN_QUERIES = 5
K = 10


@dataclass(frozen=True)
class RankedQuery:
    """One judged query ranked by each signal: candidates' per-signal RRF terms and gains."""

    id: str
    bucket: str
    signals: tuple[str, ...]
    terms: NDArray[np.float64]  # candidates x signals: 1 / (RRF_K + rank), 0 where unranked
    gains: NDArray[np.float64]  # candidates: grade (0: not relevant)
    ideal: float  # the best DCG@K possible

    def ndcg(self, weights: Mapping[str, float]) -> float:
        """nDCG@K of weighted RRF over this query's signals."""
        return float(_Stacked([self]).ndcgs(weights)[0])


def rank_queries(service: SearchService, queries: Iterable[EvalQuery]) -> list[RankedQuery]:
    """Each text query ranked by every signal the deployment has (picture queries skipped)."""
    ranked = []
    for query in queries:
        if not query.text:
            continue
        runs: dict[str, list[Hit]] = {}
        for signal in service.signal_plans(query.text):
            runs[signal.name] = service.index.search(
                signal.query, filters=query.filters, limit=service.candidates
            )
        ranked.append(_ranked(query, bucket(query.text, service.glossary), runs))
    return ranked


def _ranked(query: EvalQuery, bucket_name: str, runs: Mapping[str, Sequence[Hit]]) -> RankedQuery:
    signals = tuple(runs)
    skus = list(dict.fromkeys(str(h.payload["sku"]) for hits in runs.values() for h in hits))
    row = {sku: i for i, sku in enumerate(skus)}
    terms = np.zeros((len(skus), len(signals)))
    for column, name in enumerate(signals):
        for rank, hit in enumerate(runs[name], start=1):
            terms[row[str(hit.payload["sku"])], column] = 1.0 / (RRF_K + rank)
    grades = query.graded()
    gains = np.array([grades.get(sku, 0.0) for sku in skus])
    best = sorted((g for g in grades.values() if g > 0), reverse=True)[:K]
    ideal = sum(g / np.log2(r + 2) for r, g in enumerate(best))
    return RankedQuery(query.id, bucket_name, signals, terms, gains, float(ideal))


class _Stacked:
    """Queries' candidate terms in one array (queries x candidates x signals, zero-padded), so
    that one weighting scores them all at once."""

    def __init__(self, queries: Sequence[RankedQuery]) -> None:
        self.signals = list(dict.fromkeys(s for q in queries for s in q.signals))
        depth = max((len(q.gains) for q in queries), default=0)
        self.terms = np.zeros((len(queries), depth, len(self.signals)))
        self.gains = np.zeros((len(queries), depth))
        for i, query in enumerate(queries):
            for column, name in enumerate(query.signals):
                self.terms[i, : len(query.gains), self.signals.index(name)] = query.terms[:, column]
            self.gains[i, : len(query.gains)] = query.gains
        self.ideal = np.array([q.ideal for q in queries])
        self.discount = 1.0 / np.log2(np.arange(2, K + 2))

    def ndcgs(self, weights: Mapping[str, float]) -> NDArray[np.float64]:
        """Each query's nDCG@K under the weights."""
        if not len(self.ideal):
            return np.zeros(0)
        w = np.array([weights.get(s, 0.0) for s in self.signals])
        scores = self.terms @ w
        top = np.argsort(-scores, axis=1, kind="stable")[:, :K]
        retrieved = np.take_along_axis(scores, top, axis=1) > 0
        gains = np.take_along_axis(self.gains, top, axis=1) * retrieved
        dcg = (gains * self.discount[: gains.shape[1]]).sum(axis=1)
        ndcg: NDArray[np.float64] = np.divide(
            dcg, self.ideal, out=np.zeros_like(dcg), where=self.ideal > 0
        )
        return ndcg


def mean_ndcg(queries: Sequence[RankedQuery], weights: Mapping[str, float]) -> float:
    """Mean nDCG@K of the queries under the weights."""
    return float(_Stacked(queries).ndcgs(weights).mean()) if queries else 0.0


def fit_weights(queries: Sequence[RankedQuery]) -> dict[str, float]:
    """Weights for these queries' signals: coordinate ascent over GRID from all 1, a weight
    changed only where mean nDCG@K rises."""
    stacked = _Stacked(queries)
    weights = dict.fromkeys(stacked.signals, 1.0)
    best = float(stacked.ndcgs(weights).mean())
    for _ in range(ROUNDS):
        improved = False
        for name in stacked.signals:
            for value in GRID:
                trial = {**weights, name: value}
                if not any(trial.values()):
                    continue
                score = float(stacked.ndcgs(trial).mean())
                if score > best + 1e-9:
                    weights, best, improved = trial, score, True
        if not improved:
            break
    return weights


def by_bucket(queries: Iterable[RankedQuery]) -> dict[str, list[RankedQuery]]:
    """The queries grouped by bucket."""
    groups: dict[str, list[RankedQuery]] = {}
    for query in queries:
        groups.setdefault(query.bucket, []).append(query)
    return groups


def fit(queries: Sequence[RankedQuery]) -> dict[str, dict[str, float]]:
    """Weights per bucket with at least MIN_QUERIES queries."""
    return {
        name: fit_weights(group)
        for name, group in by_bucket(queries).items()
        if len(group) >= MIN_QUERIES
    }


@dataclass(frozen=True)
class BucketReport:
    """How one bucket's queries score: equal weights, and the fit in and out of sample."""

    bucket: str
    queries: int
    equal: float
    fitted: float
    held_out: float | None  # mean over folds of the fit on the other folds; None: too few


def cross_validate(queries: Sequence[RankedQuery], folds: int = 2) -> list[BucketReport]:
    """Per bucket: nDCG@K with equal weights, with weights fitted on all of them, and on each
    fold with weights fitted on the others (queries dealt to folds in turn)."""
    reports = []
    for name, group in sorted(by_bucket(queries).items()):
        equal = mean_ndcg(group, dict.fromkeys(group[0].signals, 1.0))
        fitted = mean_ndcg(group, fit_weights(group)) if len(group) >= MIN_QUERIES else equal
        held_out = None
        if len(group) >= MIN_QUERIES * folds // (folds - 1) and folds > 1:
            scores: list[float] = []
            for fold in range(folds):
                test = group[fold::folds]
                train = [q for i, q in enumerate(group) if i % folds != fold]
                scores.extend(_Stacked(test).ndcgs(fit_weights(train)))
            held_out = sum(scores) / len(scores)
        reports.append(BucketReport(name, len(group), equal, fitted, held_out))
    return reports


def tuning_for(
    queries: Sequence[RankedQuery], collection: Mapping[str, object], *, source: str
) -> Tuning:
    """The tuning fitted on the queries, for the collection they were ranked in."""
    weights = fit(queries)
    return Tuning(
        weights=weights,
        collection=dict(collection),
        fitted_on={"queries": source, "count": len(queries)},
    )
