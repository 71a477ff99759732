"""Recommendations: products like the ones a shopper liked, unlike the ones they skipped.

One engine query with Qdrant's recommend (best-score strategy) over the examples' stored
vectors: the ``fused`` vector when the collection has one (a fusion head is loaded) and the
head was trained on the indexed products (``HEAD_COVERAGE``), else a recommend prefetch in
``text`` and one in ``image``, fused by RRF. The shopper's filters are
inside the query and the example products are never returned.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from backend.errors import InvalidRequest, NotFound
from backend.index.port import Filters, Hit, Mmr, RecommendQuery, StoredPoint, point_id
from backend.indexing import FUSED_VECTOR, IMAGE_VECTOR, TEXT_VECTOR
from backend.search.service import SearchService, stable_page

MAX_EXAMPLES = 20  # positive and negative each
NO_FILTERS = Filters()


def recommend(
    service: SearchService,
    *,
    positive: Sequence[str],
    negative: Sequence[str] = (),
    filters: Filters = NO_FILTERS,
    limit: int = 10,
    offset: int = 0,
    diversity: float = 0.0,
    using: Sequence[str] | None = None,
) -> list[Hit]:
    """Products like the ``positive`` skus and unlike the ``negative`` ones, filtered, compared
    by the stored vectors ``using`` (default: ``vectors_for(service)``).

    Raises InvalidRequest for no positive example, too many, or a sku given as both, and
    NotFound for a sku the index does not hold.
    """
    check_examples(positive, negative)
    names = list(using) if using is not None else vectors_for(service)
    ids = {sku: point_id(sku) for sku in (*positive, *negative)}
    stored = {p.id: p for p in service.index.retrieve(list(ids.values()), vectors=names)}
    missing = [sku for sku, pid in ids.items() if pid not in stored]
    if missing:
        raise NotFound(f"not in the search index yet: {', '.join(missing)}")
    liked = [stored[ids[sku]] for sku in positive]
    skipped = [stored[ids[sku]] for sku in negative]
    queries = [
        RecommendQuery(_vectors(liked, name), _vectors(skipped, name), name)
        for name in names
        if _vectors(liked, name)
    ]
    if not queries:
        raise NotFound(f"the positive examples have no {' or '.join(names)} vector")
    filters = replace(filters, exclude_ids=(*filters.exclude_ids, *ids.values()))
    if diversity > 0:
        # MMR needs one query vector: the mean of the liked products in the first vector.
        centre = np.mean(np.stack(list(queries[0].positive)), axis=0)
        mmr = Mmr(centre / max(float(np.linalg.norm(centre)), 1e-12), queries[0].using, diversity)
        return service.index.diversify(
            queries, mmr, filters=filters, limit=limit, offset=offset, candidates=service.candidates
        )
    return stable_page(
        lambda n: service.index.recommend(
            queries, filters=filters, limit=n, candidates=service.candidates
        ),
        limit=limit,
        offset=offset,
    )


def vectors_for(service: SearchService) -> list[str]:
    """The stored vectors recommendations compare products by."""
    if service.fusion is not None and service.head_left_out() is None:
        return [FUSED_VECTOR]
    return [TEXT_VECTOR, IMAGE_VECTOR]


def check_examples(positive: Sequence[str], negative: Sequence[str]) -> None:
    """InvalidRequest unless there is a positive example, at most MAX_EXAMPLES of each kind,
    and no sku is both liked and skipped."""
    if not positive:
        raise InvalidRequest("positive must name at least one sku the shopper liked")
    for field, skus in (("positive", positive), ("negative", negative)):
        if len(skus) > MAX_EXAMPLES:
            raise InvalidRequest(f"{field} names {len(skus)} skus; at most {MAX_EXAMPLES}")
    both = sorted(set(positive) & set(negative))
    if both:
        raise InvalidRequest(f"a sku cannot be both positive and negative: {', '.join(both)}")


def _vectors(points: Sequence[StoredPoint], name: str) -> list[np.ndarray]:
    return [p.vectors[name] for p in points if name in p.vectors]
