"""Fusion of signals' own lists, as hybrid search ranks (the engines' RRF and DBSF)."""

from __future__ import annotations

import pytest

from backend.index.port import RRF_K, Hit
from backend.search.fuse import fuse, normalised


def hits(*pairs: tuple[str, float]) -> list[Hit]:
    return [Hit(pid, score, {}) for pid, score in pairs]


def test_dbsf_normalises_each_list_by_its_mean_and_three_sample_deviations():
    assert normalised([1.0]) == [0.5]
    assert normalised([2.0, 2.0]) == [0.5, 0.5]
    low, high = normalised([0.0, 1.0])  # mean 0.5, sample sd 0.707
    assert high - 0.5 == pytest.approx(0.5 - low) == pytest.approx(0.5 / (6 * 0.5**0.5))


def test_weighted_rrf_divides_the_rank_and_breaks_equal_scores_by_point_id():
    keywords = hits(("b", 3.0), ("a", 2.0))
    text = hits(("a", 0.9), ("b", 0.8))
    even = fuse([keywords, text], "rrf")
    assert [h.id for h in even] == ["a", "b"]  # first and second in each: a tie, by id
    assert even[0].score == pytest.approx(1 / RRF_K + 1 / (RRF_K + 1))
    # Weight 2 on text: its second place scores as an unweighted first (rank 2 / 2).
    weighted = {h.id: h.score for h in fuse([keywords, text], "rrf", [1.0, 2.0])}
    assert weighted["b"] == pytest.approx(2 / RRF_K)
    assert weighted["a"] == pytest.approx(1 / (RRF_K + 1) + 1 / (0.5 + RRF_K - 1))
