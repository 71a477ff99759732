"""Both adapters, loaded alike, give the same answers (qdrant-client's congruence tests).

How close is close enough: on ten points both engines search exactly, so the same ids come
back in the same order, except that points with equal scores (RRF ties are common) may come
in either order; scores agree to 1e-5 (Edge scores in float32, local mode in float64). Ties
inside one signal may also be broken differently, which changes ranks and so RRF scores: the
keyword query used for fusion has distinct weights per token so that its scores never tie.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from backend.index.port import (
    DenseQuery,
    Filters,
    Hit,
    SparseQuery,
    SparseVector,
    VectorIndex,
    point_id,
)
from backend.search.fuse import fuse
from tests.index.conftest import (
    BACKENDS,
    IMAGE,
    PRODUCTS,
    SPEC,
    TEXT,
    VOCAB,
    open_backend,
    sparse,
    to_point,
)

SCORE_TOLERANCE = 1e-5

FILTERS = [
    Filters(),
    Filters(categories=("apparel", "kitchen"), in_stock=True),
    Filters(brands=("acme", "cobalt"), price_max=100.0, exclude_ids=(point_id("mug"),)),
]
QUERIES = {
    "text": DenseQuery(TEXT["socks"], "text"),
    "image": DenseQuery(IMAGE["kettle"], "image"),
    "keywords": SparseQuery(sparse(["shirt", "acme", "kitchen", "wool"])),
}
# One product per token, each token weighted differently: no two scores tie.
UNTIED_KEYWORDS = SparseQuery(
    SparseVector(
        indices=[VOCAB[t] for t in ("wool", "steel", "teapot", "hiking", "baseball")],
        values=[1.0, 0.6, 0.35, 0.2, 0.1],
    )
)


@pytest.fixture
def engines(tmp_path: Path) -> Iterator[list[VectorIndex]]:
    indexes = [open_backend(kind, tmp_path) for kind in BACKENDS]
    for index in indexes:
        index.ensure_collection(SPEC)
        index.upsert([to_point(p) for p in PRODUCTS])
    yield indexes
    for index in indexes:
        index.close()


def assert_same_answer(first: list[Hit], second: list[Hit]) -> None:
    assert len(first) == len(second)
    for a, b in zip(first, second, strict=True):
        assert a.score == pytest.approx(b.score, abs=SCORE_TOLERANCE)
    # Order is compared up to ties: group ids by (rounded) score.
    assert _tie_groups(first) == _tie_groups(second)
    assert {h.id: dict(h.payload) for h in first} == {h.id: dict(h.payload) for h in second}


def _tie_groups(hits: list[Hit]) -> list[frozenset[str]]:
    groups: list[tuple[float, set[str]]] = []
    for hit in hits:
        if groups and abs(groups[-1][0] - hit.score) <= SCORE_TOLERANCE:
            groups[-1][1].add(hit.id)
        else:
            groups.append((hit.score, {hit.id}))
    return [frozenset(ids) for _, ids in groups]


@pytest.mark.parametrize("name", QUERIES)
@pytest.mark.parametrize("filters", FILTERS, ids=["none", "category+stock", "brand+price+id"])
def test_search_answers_agree(engines, name, filters):
    edge, local = (index.search(QUERIES[name], filters=filters, limit=6) for index in engines)
    assert_same_answer(edge, local)


@pytest.mark.parametrize("filters", FILTERS, ids=["none", "category+stock", "brand+price+id"])
def test_hybrid_answers_agree(engines, filters):
    queries = [QUERIES["text"], QUERIES["image"], UNTIED_KEYWORDS]
    for offset in (0, 3):
        edge, local = (
            index.hybrid(queries, filters=filters, limit=3, offset=offset, candidates=5)
            for index in engines
        )
        assert_same_answer(edge, local)


@pytest.mark.parametrize(
    ("fusion", "weights"),
    [("rrf", [2.0, 0.5, 1.0]), ("dbsf", None), ("dbsf", [3, 0, 1])],
    ids=["weighted-rrf", "dbsf", "weighted-dbsf"],
)
def test_weighted_and_score_fusions_agree(engines, fusion, weights):
    queries = [QUERIES["text"], QUERIES["image"], UNTIED_KEYWORDS]
    edge, local = (
        index.hybrid(queries, fusion=fusion, weights=weights, limit=4, candidates=6)
        for index in engines
    )
    assert_same_answer(edge, local)


@pytest.mark.parametrize(
    ("fusion", "weights"),
    [("rrf", None), ("rrf", [2.0, 0.5, 1.0]), ("dbsf", None), ("dbsf", [3, 0, 1])],
    ids=["rrf", "weighted-rrf", "dbsf", "weighted-dbsf"],
)
@pytest.mark.parametrize("filters", FILTERS, ids=["none", "category+stock", "brand+price+id"])
def test_search_fusion_gives_each_engines_own_hybrid_answer(engines, fusion, weights, filters):
    # Search fuses the signals' own lists itself (backend/search/fuse.py) so that explain
    # reuses them; its ranking must be the one either engine's hybrid query gives.
    queries = [QUERIES["text"], QUERIES["image"], UNTIED_KEYWORDS]
    for index in engines:
        lists = [index.search(query, filters=filters, limit=6, payload=False) for query in queries]
        ours = fuse(lists, fusion, weights)[:4]
        theirs = index.hybrid(
            queries, fusion=fusion, weights=weights, filters=filters, limit=4, candidates=6
        )
        assert [h.id for h in ours] == [h.id for h in theirs]
        assert [h.score for h in ours] == pytest.approx([h.score for h in theirs], abs=1e-5)


def test_a_search_without_payloads_finds_the_same_points(engines):
    for index in engines:
        bare = index.search(QUERIES["text"], limit=6, payload=False)
        full = index.search(QUERIES["text"], limit=6)
        assert [h.id for h in bare] == [h.id for h in full]
        assert all(not h.payload for h in bare) and all(h.payload["sku"] for h in full)


def test_counts_agree(engines):
    for filters in FILTERS:
        assert len({index.count(filters) for index in engines}) == 1
