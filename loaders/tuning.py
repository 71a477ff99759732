"""``vitrine tune``: fit hybrid search's fusion weights per query bucket on one catalog.

Each judged query is ranked once by every signal the deployment computes (each signal's own
list, as deep and with ties ordered as hybrid search fuses it, ``fuse.by_score``); weighted
RRF and DBSF over those lists are then computed here as ``fuse`` computes them, for any
weights, so fitting is a search over
weights with no engine call. Weights are fitted per bucket (``backend.search.tuning.bucket``)
by coordinate ascent on mean nDCG@10 from equal weights (over ``GRID`` for RRF, whole numbers
for DBSF). A bucket keeps the rules (``SearchService``'s own choice of signals) unless weights
fitted on some folds of its queries beat the rules on the others (``cross_validate``); one
too small to fold (each training fold under ``MIN_QUERIES``) always does.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np
from numpy.typing import NDArray

from backend.index.port import DBSF_MAX_WEIGHT, FUSIONS, RRF_K, Hit
from backend.search.fuse import by_score, normalised
from backend.search.service import SearchService
from backend.search.tuning import Tuning, bucket
from loaders.evaluation import EvalQuery
from loaders.metrics import ndcg_at

GRID = (0.0, 0.25, 0.5, 1.0, 2.0, 4.0)
ROUNDS = 3
MIN_QUERIES = 5
K = 10


@dataclass(frozen=True)
class RankedQuery:
    """One judged query ranked by each signal: candidates' per-signal ranks and gains."""

    id: str
    bucket: str
    signals: tuple[str, ...]
    ranks: NDArray[np.float64]  # candidates x signals: rank from 1, 0 where unranked
    normalised: NDArray[np.float64]  # candidates x signals: the score as DBSF normalises it
    gains: NDArray[np.float64]  # candidates: grade (0: not relevant)
    ideal: float  # the best DCG@K possible
    rules: float = 0.0  # nDCG@K of the hybrid search the rules plan (no fitted weights)

    def ndcg(self, weights: Mapping[str, float], fusion: str = "rrf") -> float:
        """nDCG@K of the weighted fusion of this query's signals."""
        return float(_Stacked([self]).ndcgs(weights, fusion)[0])


def rank_queries(service: SearchService, queries: Iterable[EvalQuery]) -> list[RankedQuery]:
    """Each text query ranked by every signal the deployment has (picture queries skipped)."""
    ranked = []
    by_rules = replace(service, tuning=None)
    for query in queries:
        if not query.text:
            continue
        runs: dict[str, list[Hit]] = {}
        coverage = service.keyword_coverage(query.text)
        for signal in service.signal_plans(query.text, coverage):
            runs[signal.name] = by_score(
                service.index.search(signal.query, filters=query.filters, limit=service.candidates)
            )
        hits = by_rules.search_text(query.text, filters=query.filters, limit=K)
        rules = ndcg_at([str(h.payload["sku"]) for h in hits], query.graded(), K)
        where = bucket(query.text, service.glossary, coverage)
        ranked.append(_ranked(query, where, runs, rules))
    return ranked


def _ranked(
    query: EvalQuery, bucket_name: str, runs: Mapping[str, Sequence[Hit]], rules: float
) -> RankedQuery:
    signals = tuple(runs)
    skus = list(dict.fromkeys(str(h.payload["sku"]) for hits in runs.values() for h in hits))
    row = {sku: i for i, sku in enumerate(skus)}
    ranks = np.zeros((len(skus), len(signals)))
    normalised = np.zeros((len(skus), len(signals)))
    for column, name in enumerate(signals):
        for rank, (hit, score) in enumerate(
            zip(runs[name], _distribution(runs[name]), strict=True), 1
        ):
            ranks[row[str(hit.payload["sku"])], column] = rank
            normalised[row[str(hit.payload["sku"])], column] = score
    grades = query.graded()
    gains = np.array([grades.get(sku, 0.0) for sku in skus])
    best = sorted((g for g in grades.values() if g > 0), reverse=True)[:K]
    ideal = sum(g / np.log2(r + 2) for r, g in enumerate(best))
    return RankedQuery(
        query.id, bucket_name, signals, ranks, normalised, gains, float(ideal), rules
    )


def _distribution(hits: Sequence[Hit]) -> NDArray[np.float64]:
    """A signal's scores as DBSF normalises them (``fuse.normalised``)."""
    return np.array(normalised([hit.score for hit in hits]), dtype=np.float64)


class _Stacked:
    """Queries' candidate ranks in one array (queries x candidates x signals, zero-padded), so
    that one weighting scores them all at once."""

    def __init__(self, queries: Sequence[RankedQuery]) -> None:
        self.signals = list(dict.fromkeys(s for q in queries for s in q.signals))
        depth = max((len(q.gains) for q in queries), default=0)
        self.ranks = np.zeros((len(queries), depth, len(self.signals)))
        self.normalised = np.zeros((len(queries), depth, len(self.signals)))
        self.gains = np.zeros((len(queries), depth))
        for i, query in enumerate(queries):
            n = len(query.gains)
            for column, name in enumerate(query.signals):
                self.ranks[i, :n, self.signals.index(name)] = query.ranks[:, column]
                self.normalised[i, :n, self.signals.index(name)] = query.normalised[:, column]
            self.gains[i, : len(query.gains)] = query.gains
        self.ideal = np.array([q.ideal for q in queries])
        self.discount = 1.0 / np.log2(np.arange(2, K + 2))

    def ndcgs(self, weights: Mapping[str, float], fusion: str = "rrf") -> NDArray[np.float64]:
        """Each query's nDCG@K under the weights and fusion (``rrf`` or ``dbsf``)."""
        if not len(self.ideal):
            return np.zeros(0)
        w = np.array([weights.get(s, 0.0) for s in self.signals])
        counted = (self.ranks > 0) & (w > 0)  # a signal weighted 0 takes no part
        if fusion == "dbsf":
            # Each signal's normalised score, counted ``w`` times.
            scores = np.where(counted, self.normalised * w, 0.0).sum(axis=2)
        else:
            # The engines' weighted RRF (Qdrant's ``position_score``): a hit at rank r of a
            # signal weighted w scores 1 / (r / w + k - 1).
            spread = self.ranks / np.where(w > 0, w, 1.0)
            scores = np.where(counted, 1.0 / (spread + RRF_K - 1), 0.0).sum(axis=2)
        scores = np.where(counted.any(axis=2), scores, -np.inf)
        top = np.argsort(-scores, axis=1, kind="stable")[:, :K]
        retrieved = np.isfinite(np.take_along_axis(scores, top, axis=1))
        gains = np.take_along_axis(self.gains, top, axis=1) * retrieved
        dcg = (gains * self.discount[: gains.shape[1]]).sum(axis=1)
        ndcg: NDArray[np.float64] = np.divide(
            dcg, self.ideal, out=np.zeros_like(dcg), where=self.ideal > 0
        )
        return ndcg


def mean_ndcg(
    queries: Sequence[RankedQuery], weights: Mapping[str, float], fusion: str = "rrf"
) -> float:
    """Mean nDCG@K of the queries under the weights and fusion."""
    return float(_Stacked(queries).ndcgs(weights, fusion).mean()) if queries else 0.0


def fit_weights(queries: Sequence[RankedQuery], fusion: str = "rrf") -> dict[str, float]:
    """Weights for these queries' signals: coordinate ascent from all 1 over GRID (RRF) or
    the whole numbers DBSF takes, a weight changed only where mean nDCG@K rises."""
    stacked = _Stacked(queries)
    grid = GRID if fusion == "rrf" else tuple(float(w) for w in range(DBSF_MAX_WEIGHT + 1))
    weights = dict.fromkeys(stacked.signals, 1.0)
    best = float(stacked.ndcgs(weights, fusion).mean())
    for _ in range(ROUNDS):
        improved = False
        for name in stacked.signals:
            for value in grid:
                trial = {**weights, name: value}
                if not any(trial.values()):
                    continue
                score = float(stacked.ndcgs(trial, fusion).mean())
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


@dataclass(frozen=True)
class BucketReport:
    """How one bucket's queries score under the rules, and each fusion's fit held out."""

    bucket: str
    queries: int
    rules: float
    held_out: Mapping[str, float]  # fusion -> mean over folds of the fit on the other folds

    def best(self) -> tuple[str, float] | None:
        """The fusion whose held-out fit beats the rules most, and its score; None when none
        does (or the bucket was too small to fold)."""
        if not self.held_out:
            return None
        fusion, score = max(self.held_out.items(), key=lambda item: item[1])
        return (fusion, score) if score > self.rules else None


def cross_validate(queries: Sequence[RankedQuery], folds: int = 2) -> list[BucketReport]:
    """Per bucket: nDCG@K under the rules, and for each fusion, on each fold with weights
    fitted on the others (queries dealt to folds in turn)."""
    reports = []
    for name, group in sorted(by_bucket(queries).items()):
        rules = sum(q.rules for q in group) / len(group)
        held_out: dict[str, float] = {}
        if len(group) >= MIN_QUERIES * folds // (folds - 1):
            for fusion in FUSIONS:
                scores: list[float] = []
                for fold in range(folds):
                    test = group[fold::folds]
                    train = [q for i, q in enumerate(group) if i % folds != fold]
                    scores.extend(_Stacked(test).ndcgs(fit_weights(train, fusion), fusion))
                held_out[fusion] = sum(scores) / len(scores)
        reports.append(BucketReport(name, len(group), rules, held_out))
    return reports


def tuning_for(
    queries: Sequence[RankedQuery],
    reports: Sequence[BucketReport],
    collection: Mapping[str, object],
    *,
    source: str,
) -> Tuning:
    """The tuning for the collection the queries were ranked in: for each bucket whose
    held-out fit beat the rules (``cross_validate``'s ``reports``), the better fusion's
    weights fitted on all of its queries; the other buckets keep the rules."""
    groups = by_bucket(queries)
    weights, fusions = {}, {}
    for report in reports:
        best = report.best()
        if best is not None:
            fusions[report.bucket] = best[0]
            weights[report.bucket] = fit_weights(groups[report.bucket], best[0])
    return Tuning(
        weights=weights,
        fusions=fusions,
        collection=dict(collection),
        fitted_on={"queries": source, "count": len(queries)},
    )
