"""Retrieval metrics on rankings worked out by hand."""

from __future__ import annotations

import math

import pytest

from loaders.metrics import ndcg_at, recall_at, reciprocal_rank


def test_one_relevant_at_rank_two():
    ranked = ["x", "a", "y"]
    assert reciprocal_rank(ranked, {"a"}) == 0.5
    assert ndcg_at(ranked, {"a"}, 10) == pytest.approx(1 / math.log2(3))
    assert recall_at(ranked, {"a"}, 1) == 0.0
    assert recall_at(ranked, {"a"}, 5) == 1.0


def test_a_relevant_result_first_is_perfect():
    assert reciprocal_rank(["a", "x"], {"a"}) == 1.0
    assert ndcg_at(["a", "x"], {"a"}, 10) == 1.0
    assert recall_at(["a", "x"], {"a"}, 1) == 1.0


def test_two_relevant_one_retrieved_first():
    ranked = ["a", "x", "y"]
    assert recall_at(ranked, {"a", "b"}, 10) == 0.5
    assert ndcg_at(ranked, {"a", "b"}, 10) == pytest.approx(1 / (1 + 1 / math.log2(3)))
    assert reciprocal_rank(ranked, {"a", "b"}) == 1.0


def test_nothing_relevant_retrieved_scores_zero():
    ranked = ["x", "y", "z"]
    assert recall_at(ranked, {"a"}, 10) == 0.0
    assert reciprocal_rank(ranked, {"a"}) == 0.0
    assert ndcg_at(ranked, {"a"}, 10) == 0.0
    assert reciprocal_rank([], {"a"}) == 0.0


def test_results_below_the_cutoff_do_not_count():
    ranked = ["x", "y", "a"]
    assert recall_at(ranked, {"a"}, 2) == 0.0
    assert ndcg_at(ranked, {"a"}, 2) == 0.0
    assert reciprocal_rank(ranked, {"a"}) == pytest.approx(1 / 3)


def test_ideal_dcg_counts_at_most_k_relevant():
    # Three relevant skus, cutoff 2: both top places relevant is as good as it gets.
    assert ndcg_at(["a", "b", "x"], {"a", "b", "c"}, 2) == 1.0
    assert recall_at(["a", "b", "x"], {"a", "b", "c"}, 2) == pytest.approx(2 / 3)


def test_a_repeated_result_gains_once():
    assert ndcg_at(["a", "a"], {"a", "b"}, 10) == pytest.approx(1 / (1 + 1 / math.log2(3)))
    assert recall_at(["a", "a"], {"a", "b"}, 10) == 0.5


def test_a_query_without_relevant_skus_is_refused():
    with pytest.raises(ValueError, match="relevant"):
        recall_at(["a"], set(), 10)
    with pytest.raises(ValueError, match="k must be"):
        ndcg_at(["a"], {"a"}, 0)
