"""Recommendations and MMR diversity of the port, on both adapters.

With ten points both engines search exactly, so rankings are compared with what the vectors
say in plain numpy: best-score recommendation puts a product's own vector first, a negative
example pushes its neighbours down, and MMR trades relevance for spread as documented.
"""

from __future__ import annotations

import numpy as np
import pytest

from backend.index.port import (
    DenseQuery,
    Filters,
    Hit,
    Mmr,
    RecommendQuery,
    SparseQuery,
    point_id,
)
from tests.index.conftest import IMAGE, PRODUCTS, TEXT, matches, sparse
from tests.index.test_index_port import FILTER_CASES


def skus(hits: list[Hit]) -> list[str]:
    return [h.payload["sku"] for h in hits]


def unit(vector: np.ndarray) -> np.ndarray:
    return vector / np.linalg.norm(vector)


def like(sku: str, *, unlike: tuple[str, ...] = (), using: str = "text") -> RecommendQuery:
    vectors = TEXT if using == "text" else IMAGE
    return RecommendQuery([vectors[sku]], [vectors[s] for s in unlike], using)


def test_recommend_puts_the_positive_example_first(index):
    hits = index.recommend([like("boot")], limit=3)
    assert skus(hits)[0] == "boot"
    assert hits[0].score >= hits[1].score >= hits[2].score


def test_recommend_with_a_negative_example_pushes_its_neighbours_down(index):
    # The product nearest the negative example (other than the positive) drops in rank.
    sims = {p.sku: float(unit(TEXT[p.sku]) @ unit(TEXT["kettle"])) for p in PRODUCTS}
    near_negative = max((s for s in sims if s not in ("kettle", "boot")), key=sims.__getitem__)
    alone = skus(index.recommend([like("boot")], limit=10))
    with_negative = skus(index.recommend([like("boot", unlike=("kettle",))], limit=10))
    assert with_negative.index(near_negative) > alone.index(near_negative)
    assert with_negative[-1] == "kettle"  # the negative example itself ranks last


@pytest.mark.parametrize("filters", FILTER_CASES.values(), ids=FILTER_CASES.keys())
def test_recommend_filters_are_applied_inside_the_query(index, filters):
    expected = {p.sku for p in PRODUCTS if matches(p, filters)}
    limit = max(len(expected), 1)
    assert set(skus(index.recommend([like("lamp")], filters=filters, limit=limit))) == expected
    both = [like("lamp"), like("lamp", using="image")]
    assert set(skus(index.recommend(both, filters=filters, limit=limit, candidates=3))) == expected


def test_recommend_in_two_vectors_is_fused_by_rank(index):
    hits = index.recommend([like("cap"), like("cap", using="image")], limit=3)
    assert skus(hits)[0] == "cap"
    assert hits[0].score == pytest.approx(2 / 60, rel=1e-6)  # first in both lists


def test_recommend_pages_concatenate(index):
    query = [like("socks", unlike=("mug",))]
    top = index.recommend(query, limit=6)
    pages = [index.recommend(query, limit=2, offset=o) for o in (0, 2, 4)]
    assert [h.id for page in pages for h in page] == [h.id for h in top]


def test_recommend_needs_a_query(index):
    with pytest.raises(ValueError):
        index.recommend([])


# -- diversity ----------------------------------------------------------------------------------


def mmr_reference(query: np.ndarray, pool: list[str], diversity: float, k: int) -> list[str]:
    """Greedy MMR over ``pool`` in the text vectors, as Qdrant computes it."""
    vectors = {sku: unit(TEXT[sku]) for sku in pool}
    relevance = {sku: float(vectors[sku] @ unit(query)) for sku in pool}
    chosen = [max(pool, key=relevance.__getitem__)]
    while len(chosen) < min(k, len(pool)):
        rest = [s for s in pool if s not in chosen]
        chosen.append(
            max(
                rest,
                key=lambda s: (
                    (1 - diversity) * relevance[s]
                    - diversity * max(float(vectors[s] @ vectors[c]) for c in chosen)
                ),
            )
        )
    return chosen


QUERY = TEXT["socks"] + TEXT["mug"]  # near no single product, so no MMR scores tie


def test_diversity_zero_keeps_the_nearest_order(index):
    signal = DenseQuery(QUERY, "text")
    plain = index.search(signal, limit=5)
    diverse = index.diversify([signal], Mmr(QUERY, "text", 0.0), limit=5)
    assert skus(diverse) == skus(plain)


@pytest.mark.parametrize("diversity", [0.3, 0.7, 1.0])
def test_diversity_reranks_by_maximal_marginal_relevance(index, diversity):
    signal = DenseQuery(QUERY, "text")
    hits = index.diversify([signal], Mmr(QUERY, "text", diversity), limit=5)
    assert skus(hits) == mmr_reference(QUERY, [p.sku for p in PRODUCTS], diversity, 5)
    # Scores stay the relevance (similarity to the query), not the MMR objective.
    for hit in hits:
        expected = float(unit(TEXT[hit.payload["sku"]]) @ unit(QUERY))
        assert hit.score == pytest.approx(expected, abs=1e-5)


def test_diversity_over_fused_candidates_uses_the_fused_pool(index):
    # Candidates: the best 3 by RRF of a text and a keyword signal; MMR picks among them only.
    # Unequal weights keep fused scores apart (equal ones tie a signal's first with the
    # other's, and engines order ties differently from one query to the next).
    signals = [DenseQuery(QUERY, "text"), SparseQuery(sparse(["kitchen"]))]
    weights = [1.0, 0.3]
    fused = index.hybrid(signals, weights=weights, limit=4, candidates=4)
    assert len({round(hit.score, 9) for hit in fused}) == len(fused)  # no ties
    hits = index.diversify(signals, Mmr(QUERY, "text", 0.5), weights=weights, limit=3, candidates=3)
    pool = skus(index.hybrid(signals, weights=weights, limit=3, candidates=3))
    assert skus(hits) == mmr_reference(QUERY, pool, 0.5, 3)


def test_diversity_over_recommendations(index):
    hits = index.diversify([like("boot", unlike=("kettle",))], Mmr(TEXT["boot"], "text", 0.5))
    assert skus(hits)[0] == "boot" and "kettle" not in skus(hits)[:5]


@pytest.mark.parametrize("filters", FILTER_CASES.values(), ids=FILTER_CASES.keys())
def test_diversity_keeps_the_filters(index, filters):
    expected = {p.sku for p in PRODUCTS if matches(p, filters)}
    limit = max(len(expected), 1)
    signals = [DenseQuery(QUERY, "text"), SparseQuery(sparse(["apparel", "kitchen"]))]
    hits = index.diversify(signals, Mmr(QUERY, "text", 0.8), filters=filters, limit=limit)
    assert set(skus(hits)) == expected


def test_diversity_pages_concatenate(index):
    signals = [DenseQuery(QUERY, "text"), DenseQuery(IMAGE["cap"], "image")]
    mmr = Mmr(QUERY, "text", 0.6)
    top = index.diversify(signals, mmr, limit=6, candidates=8)
    pages = [index.diversify(signals, mmr, limit=2, offset=o, candidates=8) for o in (0, 2, 4)]
    assert [h.id for page in pages for h in page] == [h.id for h in top]


def test_diversity_out_of_range_is_a_value_error(index):
    with pytest.raises(ValueError, match="diversity"):
        index.diversify([DenseQuery(QUERY, "text")], Mmr(QUERY, "text", 1.5))


def test_recommend_excludes_ids_given(index):
    excluded = Filters(exclude_ids=(point_id("boot"),))
    assert "boot" not in skus(index.recommend([like("boot")], filters=excluded, limit=10))
